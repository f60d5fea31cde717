package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
	"time"

	"palisade.dev/palisade/internal/model"
)

// DefaultMaxSkew is how far the signing time of a request may lie from the
// server clock, either way, when Verifier.MaxSkew is zero. SigV4 services use
// 5 minutes.
const DefaultMaxSkew = 5 * time.Minute

// amzDateLayout is the ISO 8601 basic format of X-Amz-Date.
const amzDateLayout = "20060102T150405Z"

// Identity is who signed a verified request, and for what.
type Identity struct {
	AccessKeyID string
	AccountID   string
	Region      string    // from the credential scope, e.g. "us-east-1"
	Service     string    // from the credential scope: "ec2" or "sts"
	SigningTime time.Time // X-Amz-Date (or Date), UTC
	Presigned   bool      // signed in the query string rather than the Authorization header
}

// Verifier checks SigV4 signatures. Its zero value rejects every key; set
// Keys. A Verifier is safe for concurrent use if its KeyLookup is.
type Verifier struct {
	Keys     KeyLookup
	Now      func() time.Time // the server clock; nil means time.Now
	MaxSkew  time.Duration    // zero means DefaultMaxSkew
	Services []string         // accepted scope services; nil means "ec2" and "sts"
}

// Verify checks the signature of r, whose body has already been read into
// body, against keys at the time now. It is Verifier{...}.Verify for callers
// with nothing else to configure.
func Verify(r *http.Request, body []byte, keys KeyLookup, now time.Time) (Identity, error) {
	v := Verifier{Keys: keys, Now: func() time.Time { return now }}
	return v.Verify(r, body)
}

// Verify checks the SigV4 signature of r, in the Authorization header or in
// the query string, over the given body, and returns who signed it. Every
// error is a *model.Error (see the package documentation for the codes).
// It is Identify followed by Check with the body's hash.
func (v Verifier) Verify(r *http.Request, body []byte) (Identity, error) {
	p, err := v.Identify(r)
	if err != nil {
		return Identity{}, err
	}
	return p.Check(r, PayloadHash(body))
}

// Pending is a request whose signature has been read and checked in every
// way that does not need its body: form, scope, time, and a known access
// key. Check finishes the verification once the payload's hash is known.
type Pending struct {
	s       signedRequest
	query   []QueryPair
	secret  string
	account string
}

// Identify checks everything about r's signature that can be checked before
// its body is read, so that a server answers a request without a known key
// at once, without holding its body in memory. The query of r is parsed
// here, once (see ParseQuery); Query returns it.
func (v Verifier) Identify(r *http.Request) (*Pending, error) {
	query, qerr := parseQuery(r.URL.RawQuery)
	if qerr != nil {
		return nil, model.Errorf(model.CodeInvalidQueryParameter, "The AWS query string is malformed or does not adhere "+
			"to AWS standards. %s", qerr.Message)
	}
	s, err := extract(r, query)
	if err != nil {
		return nil, err
	}
	if err := v.checkScope(s); err != nil {
		return nil, err
	}
	if err := v.checkTime(s); err != nil {
		return nil, err
	}
	if hasSecurityToken(r, query) {
		return nil, &model.Error{Code: model.CodeAuthFailure, Message: msgUnknownKey}
	}
	secret, account, ok := v.lookup(s.auth.Credential.AccessKeyID)
	if !ok {
		return nil, &model.Error{Code: model.CodeAuthFailure, Message: msgUnknownKey}
	}
	return &Pending{s: s, query: query, secret: secret, account: account}, nil
}

// Query returns the decoded query of the request, the pairs the signature
// covers, X-Amz-* parameters of a presigned URL included.
func (p *Pending) Query() []QueryPair { return p.query }

// Check verifies the signature of r over a payload whose hex SHA-256 is
// payloadHash (see PayloadHash) and returns who signed it. A client's
// X-Amz-Content-Sha256 claim must equal payloadHash.
func (p *Pending) Check(r *http.Request, payloadHash string) (Identity, error) {
	if claimed := r.Header.Get("X-Amz-Content-Sha256"); claimed != "" && claimed != "UNSIGNED-PAYLOAD" && claimed != payloadHash {
		return Identity{}, mismatch("The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	s := p.s
	want := signature(p.secret, s.auth.Credential, s.amzDate, canonicalRequest(r, p.query, s.auth.SignedHeaders, payloadHash, s.presigned))
	if !hmac.Equal([]byte(want), []byte(s.auth.Signature)) {
		return Identity{}, &model.Error{Code: model.CodeSignatureDoesNotMatch, Message: msgSignatureMismatch}
	}
	return s.identity(p.account), nil
}

// ClaimedPayloadHash returns the payload hash r's X-Amz-Content-Sha256
// header claims, when it is one (64 lower-case hex digits): a server may
// check the signature with it before reading the body, then check that the
// body has that hash.
func ClaimedPayloadHash(r *http.Request) (string, bool) {
	h := r.Header.Get("X-Amz-Content-Sha256")
	return h, isSignature(h) // a SHA-256 in hex has a signature's form
}

// PayloadHash is the hex SHA-256 of a payload, as SigV4 signs it.
func PayloadHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// hasSecurityToken reports whether r carries a session token, in a header
// or its query. Palisade issues no temporary credentials, so every token is
// unknown, and refused as AWS refuses an invalid one.
func hasSecurityToken(r *http.Request, query []QueryPair) bool {
	if len(r.Header.Values("X-Amz-Security-Token")) > 0 {
		return true
	}
	for _, q := range query {
		if q.Name == "X-Amz-Security-Token" {
			return true
		}
	}
	return false
}

// signedRequest is what a request claims about its signature.
type signedRequest struct {
	auth      Authorization
	amzDate   string    // the signing time as signed, 20060102T150405Z
	at        time.Time // the same, parsed
	dateFrom  string    // where amzDate came from, for messages
	expires   time.Duration
	presigned bool
}

func (s signedRequest) identity(account string) Identity {
	c := s.auth.Credential
	return Identity{
		AccessKeyID: c.AccessKeyID, AccountID: account, Region: c.Region, Service: c.Service,
		SigningTime: s.at, Presigned: s.presigned,
	}
}

// extract finds the signature of r in its Authorization header or its query.
func extract(r *http.Request, pairs []QueryPair) (signedRequest, error) {
	headers := r.Header.Values("Authorization")
	query := queryValues(pairs)
	presigned := query.Has("X-Amz-Algorithm") || query.Has("X-Amz-Credential") || query.Has("X-Amz-Signature")
	switch {
	case len(headers) > 0 && presigned:
		return signedRequest{}, incomplete("Only one auth mechanism allowed; only the X-Amz-Algorithm " +
			"query parameter or the Authorization header should be specified")
	case len(headers) > 1:
		return signedRequest{}, incomplete("Only one Authorization header is allowed")
	case len(headers) == 1:
		return fromHeader(r, headers[0])
	case presigned:
		return fromQuery(query)
	}
	return signedRequest{}, &model.Error{Code: model.CodeMissingAuthenticationToken, Message: msgMissingToken}
}

// fromHeader reads the Authorization header form.
func fromHeader(r *http.Request, h string) (signedRequest, error) {
	a, err := ParseAuthorization(h)
	if err != nil {
		return signedRequest{}, err
	}
	s := signedRequest{auth: a}
	switch {
	case r.Header.Get("X-Amz-Date") != "":
		s.dateFrom = "X-Amz-Date"
		s.amzDate, s.at, err = parseAmzDate(r.Header.Get("X-Amz-Date"))
	case r.Header.Get("Date") != "":
		s.dateFrom = "Date"
		s.amzDate, s.at, err = parseHTTPDate(r.Header.Get("Date"))
	default:
		err = incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	return s, err
}

// parseAmzDate parses an X-Amz-Date value, strictly.
func parseAmzDate(v string) (string, time.Time, error) {
	t, err := time.Parse(amzDateLayout, v)
	if err != nil || t.Format(amzDateLayout) != v {
		return "", time.Time{}, incomplete("X-Amz-Date '%s' is not an ISO 8601 basic date-time "+
			"of the form YYYYMMDDTHHMMSSZ", clip(v))
	}
	return v, t, nil
}

// parseHTTPDate parses a Date header, which SigV4 allows in place of
// X-Amz-Date; the signer then used its ISO 8601 form.
func parseHTTPDate(v string) (string, time.Time, error) {
	t, err := http.ParseTime(v)
	if err != nil {
		return "", time.Time{}, incomplete("Date header '%s' is not an HTTP date", clip(v))
	}
	t = t.UTC()
	return t.Format(amzDateLayout), t, nil
}

// checkScope checks the credential scope against the service, the signing
// date and the signed headers.
func (v Verifier) checkScope(s signedRequest) error {
	c := s.auth.Credential
	if services := v.services(); !slices.Contains(services, c.Service) {
		return mismatch("Credential should be scoped to correct service: '%s'.", strings.Join(services, "' or '"))
	}
	if !validRegion(c.Region) {
		return mismatch("Credential should be scoped to a valid region, not '%s'.", clip(c.Region))
	}
	if day := s.amzDate[:len(dateLayout)]; c.Date != day {
		return mismatch("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "+
			"from HTTP: '%s' != '%s', from '%s'.", c.Date, day, s.dateFrom)
	}
	if !slices.Contains(s.auth.SignedHeaders, "host") {
		return incomplete("'Host' must be a 'SignedHeader' in the AWS Authorization.")
	}
	return nil
}

// checkTime rejects a request signed too far from now, or a presigned one
// past its expiry.
func (v Verifier) checkTime(s signedRequest) error {
	now, skew := v.now().UTC(), v.maxSkew()
	if latest := now.Add(skew); s.at.After(latest) {
		return model.Errorf(model.CodeRequestExpired, "Signature not yet current: %s is still later than %s (%s + %s).",
			s.amzDate, latest.Format(amzDateLayout), now.Format(amzDateLayout), skew)
	}
	deadline := s.at.Add(skew)
	if s.expires > 0 {
		deadline = s.at.Add(s.expires)
	}
	if now.After(deadline) {
		return &model.Error{Code: model.CodeRequestExpired, Message: msgExpired}
	}
	return nil
}

func (v Verifier) lookup(id string) (secret, account string, ok bool) {
	if v.Keys == nil {
		return "", "", false
	}
	return v.Keys.LookupKey(id)
}

func (v Verifier) now() time.Time {
	if v.Now == nil {
		return time.Now()
	}
	return v.Now()
}

func (v Verifier) maxSkew() time.Duration {
	if v.MaxSkew <= 0 {
		return DefaultMaxSkew
	}
	return v.MaxSkew
}

func (v Verifier) services() []string {
	if v.Services == nil {
		return []string{"ec2", "sts"}
	}
	return v.Services
}
