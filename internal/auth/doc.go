// Package auth verifies AWS Signature Version 4 on incoming requests, the way
// the EC2 and STS Query APIs do, and resolves the signer to an account.
//
// Both forms of SigV4 are accepted: the Authorization header
// ("AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…") and the
// presigned query string (X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date,
// X-Amz-SignedHeaders, X-Amz-Signature and optional X-Amz-Expires). The
// canonical request is built exactly as aws-sdk-go-v2 and botocore build it;
// the tests sign with aws-sdk-go-v2's own signer.
//
// Every failure is a *model.Error. The codes, with the HTTP status the API
// layer gives them (ec2api owns that table), are:
//
//   - MissingAuthenticationToken (403): neither an Authorization header nor
//     X-Amz-* query parameters. The EC2 API reference lists this code for an
//     unsigned request; the message is the one AWS Query services send,
//     "Request is missing Authentication Token".
//   - IncompleteSignature (400): the signature is there but malformed: an
//     unknown algorithm, a missing or repeated component, a bad credential
//     scope, no date, a signature that is not 64 lower-case hex digits.
//   - SignatureDoesNotMatch (403): the scope names a service other than the
//     accepted ones (ec2 and sts by default) or an invalid region, its date
//     differs from X-Amz-Date, X-Amz-Content-Sha256 does not match the body,
//     or the signature itself differs. The last case carries AWS's exact
//     message.
//   - RequestExpired (400): the signing time is more than MaxSkew (5 minutes)
//     away from the server clock, or a presigned URL is past X-Amz-Expires.
//     EC2 answers "Request has expired." for an old timestamp (observed in
//     aws/aws-sdk-java#1443); a timestamp from the future gets AWS's
//     "Signature not yet current" wording under the same code.
//   - AuthFailure (401): the access key is unknown, or the request carries a
//     session token (X-Amz-Security-Token, header or query): Palisade issues
//     no temporary credentials, so every token is unknown. Message: "AWS was
//     not able to validate the provided access credentials", as EC2 sends
//     it (the API layer answers an STS request InvalidClientTokenId, "The
//     security token included in the request is invalid.", as STS does).
//
// Decisions worth knowing:
//
//   - Verification has two steps so that a server need not hold a body it
//     cannot attribute: Verifier.Identify checks everything the headers and
//     query allow (form, scope, time, a known key) before the body is read;
//     Pending.Check then checks the signature over the payload's hash.
//   - The query is parsed once, by ParseQuery, for both the canonical query
//     and the parameters the API acts on. Pairs are split on '&' only, so a
//     literal ';' is signed like any other character; a malformed %-escape
//     cannot be canonicalized and is refused with AWS's common error
//     InvalidQueryParameter (400).
//   - The payload is always the request body. X-Amz-Content-Sha256, when sent,
//     must equal the body's SHA-256; the value UNSIGNED-PAYLOAD is not honoured
//     (a Query API request lives in its body, so an unsigned body would be an
//     unsigned request) and such a request fails with SignatureDoesNotMatch.
//   - The host header is taken from r.Host. A proxy in front of Palisade must
//     pass the client's Host through unchanged.
//   - The URI path is canonicalized as aws-sdk-go-v2 does it: the escaped path
//     is escaped once more, without removing dot segments.
//   - The region of the scope must look like a region (lower-case letters,
//     digits and hyphens); which regions exist is the caller's business.
package auth
