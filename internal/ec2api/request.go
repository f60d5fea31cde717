package ec2api

import (
	"mime"
	"net/http"
	"strings"

	"palisade.dev/palisade/internal/auth"
	"palisade.dev/palisade/internal/model"
)

// APIVersion is the EC2 API version Palisade implements.
const APIVersion = "2016-11-15"

// DefaultMaxBody is the largest request body the server accepts.
const DefaultMaxBody = 1 << 20

// Request is one decoded EC2 Query request.
type Request struct {
	Action  string  // e.g. "DescribeSecurityGroups"; never empty
	Version string  // as sent; check it with CheckVersion
	Params  *Params // every parameter; Action and Version are already read
}

// DecodeRequest decodes the parameters of r: those of its URL query and, for
// a POST, those of body, which must be form-encoded. The SigV4 parameters of
// a presigned URL are left out. A request without Action is MissingAction.
func DecodeRequest(r *http.Request, body []byte) (*Request, error) {
	query, err := auth.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, err
	}
	return decodeRequest(r, query, body)
}

// decodeRequest is DecodeRequest with the query already decoded: the server
// passes the pairs the signature was checked against, so that the
// parameters acted on are exactly those signed.
func decodeRequest(r *http.Request, query []auth.QueryPair, body []byte) (*Request, error) {
	f := &form{}
	if err := f.addPairs(query, isSigV4Param); err != nil {
		return nil, err
	}
	if r.Method == http.MethodPost {
		if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
			return nil, err
		}
		if err := f.addEncoded(string(body), nil); err != nil {
			return nil, err
		}
	}
	p := &Params{form: f, at: &f.root}
	action := p.String("Action")
	if action == "" {
		return nil, model.Errorf(model.CodeMissingAction, "The request must contain the parameter Action")
	}
	return &Request{Action: action, Version: p.String("Version"), Params: p}, nil
}

// checkContentType accepts a form body, or one whose type is not given.
func checkContentType(ct string) error {
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return model.Errorf(model.CodeInvalidParameterValue, "Unsupported Content-Type '%s': "+
			"the EC2 Query API takes application/x-www-form-urlencoded bodies", clipValue(ct))
	}
	return nil
}

// isSigV4Param reports whether a query parameter belongs to a presigned
// URL's signature, which the auth package checks.
func isSigV4Param(name string) bool {
	switch name {
	case "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
		"X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token":
		return true
	}
	return false
}

// CheckVersion checks the request's Version against the one the endpoint
// implements (APIVersion for EC2): absent is MissingParameter, different is
// NoSuchVersion.
func (q *Request) CheckVersion(want string) error {
	switch q.Version {
	case want:
		return nil
	case "":
		return model.Errorf(model.CodeMissingParameter, "The request must contain the parameter Version")
	}
	return model.Errorf(model.CodeNoSuchVersion, "The requested version (%s) is not supported: this endpoint implements version %s",
		clipValue(q.Version), want)
}

func clipValue(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "…"
}
