// Package ec2api speaks the EC2 Query wire protocol: it decodes form-encoded
// requests into typed parameter accessors, writes XML responses, and turns
// any error into the EC2 error document with the right HTTP status. Action
// handlers (added later) sit on top and call the service layer.
//
// Decisions, each tested:
//
//   - Requests are POST bodies (application/x-www-form-urlencoded) or GET
//     query strings; other methods are 405 MethodNotAllowed. A request is
//     authenticated before its body is read (auth.Verifier.Identify), the
//     body is then read within a server-wide budget (RequestLimitExceeded
//     when it stays exhausted) and hashed as it streams in, and the query
//     parameters acted on are the pairs the signature was checked against. Parameters of the query and of the body are merged; the
//     SigV4 parameters of a presigned URL (X-Amz-Algorithm, …) are the auth
//     package's and are left out. A name given twice, anywhere, is
//     InvalidParameterValue: there is no sensible "which one wins".
//   - Lists are flattened with 1-based indexes (GroupId.1, Filter.1.Value.2).
//     They are returned in index order; gaps are closed up (GroupId.1 and
//     GroupId.3 give two elements) and repeated values are kept, since
//     deduplication is a semantic decision for the service. An index that is
//     not a canonical positive decimal (GroupId.0, GroupId.01, GroupId.x) is
//     not part of the list and stays unread, so it ends as UnknownParameter;
//     an index above MaxIndex (10000) is InvalidParameterValue. Nothing is
//     ever allocated by index, only by what the request contains.
//   - Every parameter read through a Params accessor is marked; Unread lists
//     the rest so that a handler can refuse them as EC2 does, with
//     UnknownParameter "The parameter X is not recognized".
//   - A value that is not a number where one is expected is
//     InvalidParameterValue "Value (x) for parameter FromPort is invalid.
//     Expecting a 32-bit integer.", the sentence shape EC2 uses for its own
//     value errors (e.g. "Value ( 1 ) for parameter maxResults is invalid.").
//   - A request without Action is MissingAction; an Action the dispatcher does
//     not know is InvalidAction "The action X is not valid for this web
//     service."; a missing Version is MissingParameter and a version other
//     than the implemented one is NoSuchVersion. Palisade renders one XML
//     dialect only, so it cannot honour older API versions.
//   - HTTP status by code: 400 for client errors, 401 AuthFailure (as EC2
//     sends it), 403 for SignatureDoesNotMatch, MissingAuthenticationToken
//     and UnauthorizedOperation, 405 MethodNotAllowed, 412 DryRunOperation,
//     503 Unavailable (e.g. the store's disk is full) and
//     RequestLimitExceeded, 500 InternalError. An error that is not a
//     *model.Error is InternalError with a fixed message: internals never
//     reach the client.
package ec2api
