package auth

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"palisade.dev/palisade/internal/model"
)

func TestVerifySDKSignedPost(t *testing.T) {
	id, err := verifyAt(signedPost(t), testBody, signedAt)
	if err != nil {
		t.Fatal(err)
	}
	want := Identity{
		AccessKeyID: testAKID, AccountID: testAccount, Region: "us-east-1", Service: "ec2", SigningTime: signedAt,
	}
	if id != want {
		t.Fatalf("identity = %+v, want %+v", id, want)
	}
}

// TestVerifySDKSignedShapes signs requests that exercise each part of the
// canonical request: path escaping, query encoding and ordering, repeated
// and space-padded headers, services, regions, a session token.
func TestVerifySDKSignedShapes(t *testing.T) {
	cases := []struct {
		name, method, url, body, service, region string
		header                                   http.Header
	}{
		{name: "sts", method: "POST", url: "http://127.0.0.1:4566/", body: "Action=GetCallerIdentity&Version=2011-06-15",
			service: "sts", region: "eu-west-1"},
		{name: "get query", method: "GET", service: "ec2", region: "us-east-1",
			url: "http://palisade.test/?Version=2016-11-15&Action=DescribeSecurityGroups&Filter.1.Value.1=a%20b&Filter.1.Value.2=x%2Fy&Filter.1.Name=tag%3AName"},
		{name: "repeated query values", method: "GET", service: "ec2", region: "us-east-1",
			url: "http://palisade.test/?b=2&a=3&a=1&a=a-b&a=a%2Fb&%C3%A9=%E2%82%AC&tilde=~&star=*"},
		{name: "escaped path", method: "GET", url: "http://palisade.test/a%2Fb/c%20d/%7Ee", service: "ec2", region: "us-east-1"},
		{name: "no path", method: "GET", url: "http://palisade.test", service: "ec2", region: "ap-southeast-2"},
		{name: "default port", method: "POST", url: "http://palisade.test:80/", body: testBody, service: "ec2", region: "us-east-1"},
		{name: "headers", method: "POST", url: "http://palisade.test/", body: testBody, service: "ec2", region: "us-east-1",
			header: http.Header{"X-Amz-Meta": {"  a   b  ", "c"}, "X-Custom": {"\tz  z"}}},
		{name: "empty body", method: "POST", url: "http://palisade.test/", service: "ec2", region: "us-gov-west-1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := clientRequest(t, c.method, c.url, c.body)
			for k, vs := range c.header {
				req.Header[k] = vs
			}
			sign(t, req, c.body, testSecret, c.service, c.region, signedAt)
			id, err := verifyAt(onServer(t, req), c.body, signedAt)
			if err != nil {
				t.Fatalf("%v\nAuthorization: %s", err, req.Header.Get("Authorization"))
			}
			if id.Service != c.service || id.Region != c.region {
				t.Fatalf("identity = %+v", id)
			}
		})
	}
}

// TestVerifySessionTokenRefused: Palisade issues no temporary credentials,
// so a session token, even one the signature covers, is an unknown token:
// AuthFailure, in a header or in a presigned URL.
func TestVerifySessionTokenRefused(t *testing.T) {
	req := clientRequest(t, "POST", "http://palisade.test/", testBody)
	c := creds(testSecret)
	c.SessionToken = "token"
	if err := v4.NewSigner().SignHTTP(context.Background(), c, req, hashOf(testBody), "ec2", "us-east-1", signedAt); err != nil {
		t.Fatal(err)
	}
	_, err := verifyAt(onServer(t, req), testBody, signedAt)
	wantCode(t, err, model.CodeAuthFailure)

	get := clientRequest(t, "GET", "http://palisade.test/?"+presignQuery, "")
	u, _, err := v4.NewSigner().PresignHTTP(context.Background(), c, get, hashOf(""), "ec2", "us-east-1", signedAt)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(u, "X-Amz-Security-Token=token") {
		t.Fatalf("the signer put no token in %s", u)
	}
	_, err = verifyAt(onServer(t, clientRequest(t, "GET", u, "")), "", signedAt)
	wantCode(t, err, model.CodeAuthFailure)
}

// TestIdentifyNeedsNoBody: a missing or unknown key is answered from the
// headers alone, before anything reads the body.
func TestIdentifyNeedsNoBody(t *testing.T) {
	v := Verifier{Keys: testKeys(), Now: func() time.Time { return signedAt }}
	unread := func(r *http.Request) *http.Request {
		r.Body = failingBody{t}
		return r
	}
	anonymous := onServer(t, clientRequest(t, "POST", "http://palisade.test/", testBody))
	_, err := v.Identify(unread(anonymous))
	wantCode(t, err, model.CodeMissingAuthenticationToken)

	other := Verifier{Keys: StaticKeys{}, Now: v.Now}
	_, err = other.Identify(unread(signedPost(t)))
	wantCode(t, err, model.CodeAuthFailure)

	r := signedPost(t)
	p, err := v.Identify(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Check(r, hashOf(testBody)); err != nil {
		t.Fatal(err)
	}
	_, err = p.Check(r, hashOf(testBody+"&DryRun=true"))
	wantCode(t, err, model.CodeSignatureDoesNotMatch)
}

// failingBody fails the test that reads it.
type failingBody struct{ t *testing.T }

func (b failingBody) Read([]byte) (int, error) {
	b.t.Error("the body was read")
	return 0, io.EOF
}

func (failingBody) Close() error { return nil }

// TestClaimedPayloadHash: a client that sends X-Amz-Content-Sha256 lets the
// signature be checked before the body is read; the claim must then match.
func TestClaimedPayloadHash(t *testing.T) {
	req := clientRequest(t, "POST", "http://palisade.test/", testBody)
	req.Header.Set("X-Amz-Content-Sha256", hashOf(testBody))
	sign(t, req, testBody, testSecret, "ec2", "us-east-1", signedAt)
	r := onServer(t, req)
	claimed, ok := ClaimedPayloadHash(r)
	if !ok || claimed != hashOf(testBody) {
		t.Fatalf("claimed %q %v", claimed, ok)
	}
	p, err := Verifier{Keys: testKeys(), Now: func() time.Time { return signedAt }}.Identify(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Check(r, claimed); err != nil {
		t.Fatal(err)
	}
	_, err = p.Check(r, hashOf("Action=Other"))
	wantCode(t, err, model.CodeSignatureDoesNotMatch)
	if _, ok := ClaimedPayloadHash(signedPost(t)); ok {
		t.Fatal("a request without the header claims a hash")
	}
}

func TestVerifyTampered(t *testing.T) {
	cases := []struct {
		name   string
		body   string
		tamper func(r *http.Request)
		code   string
	}{
		{"body", testBody + "&DryRun=true", func(*http.Request) {}, model.CodeSignatureDoesNotMatch},
		{"signed header", testBody, func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }, model.CodeSignatureDoesNotMatch},
		{"host", testBody, func(r *http.Request) { r.Host = "evil.test:4566" }, model.CodeSignatureDoesNotMatch},
		{"method", testBody, func(r *http.Request) { r.Method = "PUT" }, model.CodeSignatureDoesNotMatch},
		{"path", testBody, func(r *http.Request) { r.URL.Path = "/x" }, model.CodeSignatureDoesNotMatch},
		{"query", testBody, func(r *http.Request) { r.URL.RawQuery = "Action=DeleteSecurityGroup" }, model.CodeSignatureDoesNotMatch},
		{"date within skew", testBody, func(r *http.Request) { r.Header.Set("X-Amz-Date", "20261125T120001Z") }, model.CodeSignatureDoesNotMatch},
		{"date other day", testBody, func(r *http.Request) { r.Header.Set("X-Amz-Date", "20261124T235959Z") }, model.CodeSignatureDoesNotMatch},
		{"region", testBody, func(r *http.Request) { replaceAuth(r, "/us-east-1/", "/us-west-2/") }, model.CodeSignatureDoesNotMatch},
		{"scope date", testBody, func(r *http.Request) { replaceAuth(r, "/20261125/", "/20261124/") }, model.CodeSignatureDoesNotMatch},
		{"signed header list", testBody, func(r *http.Request) { replaceAuth(r, "SignedHeaders=", "SignedHeaders=accept;") }, model.CodeSignatureDoesNotMatch},
		{"signature", testBody, func(r *http.Request) { flipSignature(r) }, model.CodeSignatureDoesNotMatch},
		{"service", testBody, func(r *http.Request) { replaceAuth(r, "/ec2/", "/s3/") }, model.CodeSignatureDoesNotMatch},
		{"invalid region", testBody, func(r *http.Request) { replaceAuth(r, "/us-east-1/", "/US_EAST/") }, model.CodeSignatureDoesNotMatch},
		{"access key", testBody, func(r *http.Request) { replaceAuth(r, testAKID, "AKIDUNKNOWN") }, model.CodeAuthFailure},
		{"content hash claim", testBody, func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", hashOf("other")) }, model.CodeSignatureDoesNotMatch},
		{"host unsigned", testBody, func(r *http.Request) {
			replaceAuth(r, "SignedHeaders=content-length;content-type;host;", "SignedHeaders=content-length;content-type;")
		}, model.CodeIncompleteSignature},
		{"no date", testBody, func(r *http.Request) { r.Header.Del("X-Amz-Date") }, model.CodeIncompleteSignature},
		{"bad date", testBody, func(r *http.Request) { r.Header.Set("X-Amz-Date", "2026-11-25T12:00:00Z") }, model.CodeIncompleteSignature},
		{"no auth", testBody, func(r *http.Request) { r.Header.Del("Authorization") }, model.CodeMissingAuthenticationToken},
		{"two auths", testBody, func(r *http.Request) { r.Header.Add("Authorization", r.Header.Get("Authorization")) }, model.CodeIncompleteSignature},
		{"both forms", testBody, func(r *http.Request) { r.URL.RawQuery = "X-Amz-Algorithm=AWS4-HMAC-SHA256" }, model.CodeIncompleteSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := signedPost(t)
			c.tamper(r)
			_, err := verifyAt(r, c.body, signedAt)
			wantCode(t, err, c.code)
		})
	}
}

func replaceAuth(r *http.Request, old, new string) {
	r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), old, new, 1))
}

func flipSignature(r *http.Request) {
	h := r.Header.Get("Authorization")
	last := h[len(h)-1]
	flipped := byte('0')
	if last == '0' {
		flipped = '1'
	}
	r.Header.Set("Authorization", h[:len(h)-1]+string(flipped))
}

func TestVerifyMessages(t *testing.T) {
	r := signedPost(t)
	flipSignature(r)
	_, err := verifyAt(r, testBody, signedAt)
	want := "The request signature we calculated does not match the signature you provided. " +
		"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	if e := asModel(t, err); e.Message != want {
		t.Errorf("message = %q", e.Message)
	}

	r = signedPost(t)
	replaceAuth(r, testAKID, "AKIDUNKNOWN")
	_, err = verifyAt(r, testBody, signedAt)
	if e := asModel(t, err); e.Message != "AWS was not able to validate the provided access credentials" {
		t.Errorf("message = %q", e.Message)
	}

	r.Header.Del("Authorization")
	_, err = verifyAt(r, testBody, signedAt)
	if e := asModel(t, err); e.Message != "Request is missing Authentication Token" {
		t.Errorf("message = %q", e.Message)
	}
}

func asModel(t *testing.T, err error) *model.Error {
	t.Helper()
	e, ok := err.(*model.Error)
	if !ok {
		t.Fatalf("error %v (%T) is not a *model.Error", err, err)
	}
	return e
}

func TestVerifyWrongSecret(t *testing.T) {
	req := clientRequest(t, "POST", "http://palisade.test/", testBody)
	sign(t, req, testBody, "not-the-secret", "ec2", "us-east-1", signedAt)
	_, err := verifyAt(onServer(t, req), testBody, signedAt)
	wantCode(t, err, model.CodeSignatureDoesNotMatch)
}

func TestVerifyUnsignedPayloadRefused(t *testing.T) {
	req := clientRequest(t, "POST", "http://palisade.test/", testBody)
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	err := v4.NewSigner().SignHTTP(context.Background(), creds(testSecret), req, "UNSIGNED-PAYLOAD", "ec2", "us-east-1", signedAt)
	if err != nil {
		t.Fatal(err)
	}
	_, err = verifyAt(onServer(t, req), testBody, signedAt)
	wantCode(t, err, model.CodeSignatureDoesNotMatch)
}

func TestVerifyContentHashHeader(t *testing.T) {
	req := clientRequest(t, "POST", "http://palisade.test/", testBody)
	req.Header.Set("X-Amz-Content-Sha256", hashOf(testBody))
	sign(t, req, testBody, testSecret, "ec2", "us-east-1", signedAt)
	if _, err := verifyAt(onServer(t, req), testBody, signedAt); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyClockSkew(t *testing.T) {
	cases := []struct {
		offset time.Duration // server clock minus signing time
		ok     bool
	}{
		{0, true},
		{4*time.Minute + 59*time.Second, true},
		{-4*time.Minute - 59*time.Second, true},
		{5 * time.Minute, true},
		{-5 * time.Minute, true},
		{5*time.Minute + time.Second, false},
		{-5*time.Minute - time.Second, false},
		{24 * time.Hour, false},
		{-24 * time.Hour, false},
	}
	for _, c := range cases {
		_, err := verifyAt(signedPost(t), testBody, signedAt.Add(c.offset))
		if c.ok && err != nil {
			t.Errorf("offset %v: %v", c.offset, err)
		}
		if !c.ok {
			if model.CodeOf(err) != model.CodeRequestExpired {
				t.Errorf("offset %v: got %v, want %s", c.offset, err, model.CodeRequestExpired)
			}
		}
	}
}

func TestVerifyExpiredMessages(t *testing.T) {
	_, err := verifyAt(signedPost(t), testBody, signedAt.Add(time.Hour))
	if e := asModel(t, err); e.Message != "Request has expired." {
		t.Errorf("old: %q", e.Message)
	}
	_, err = verifyAt(signedPost(t), testBody, signedAt.Add(-time.Hour))
	want := "Signature not yet current: 20261125T120000Z is still later than 20261125T110500Z (20261125T110000Z + 5m0s)."
	if e := asModel(t, err); e.Message != want {
		t.Errorf("future: %q", e.Message)
	}
}

func TestVerifierOptions(t *testing.T) {
	v := Verifier{Keys: testKeys(), Now: func() time.Time { return signedAt.Add(2 * time.Minute) }, MaxSkew: time.Minute}
	_, err := v.Verify(signedPost(t), []byte(testBody))
	wantCode(t, err, model.CodeRequestExpired)

	v = Verifier{Keys: testKeys(), Now: func() time.Time { return signedAt }, Services: []string{"sts"}}
	_, err = v.Verify(signedPost(t), []byte(testBody))
	wantCode(t, err, model.CodeSignatureDoesNotMatch)
	if !strings.Contains(err.Error(), "scoped to correct service: 'sts'") {
		t.Errorf("message: %v", err)
	}

	v = Verifier{Now: func() time.Time { return signedAt }} // no keys at all
	_, err = v.Verify(signedPost(t), []byte(testBody))
	wantCode(t, err, model.CodeAuthFailure)

	keys := KeyLookupFunc(func(id string) (string, string, bool) { return testSecret, "000000000000", id == testAKID })
	id, err := Verify(signedPost(t), []byte(testBody), keys, signedAt)
	if err != nil || id.AccountID != "000000000000" {
		t.Fatalf("%+v, %v", id, err)
	}
}

// TestVerifyDateHeader covers a signer that used Date instead of X-Amz-Date.
func TestVerifyDateHeader(t *testing.T) {
	r := onServer(t, clientRequest(t, "POST", "http://palisade.test/", testBody))
	r.Header.Set("Date", signedAt.Format(http.TimeFormat))
	cred := Credential{AccessKeyID: testAKID, Date: "20261125", Region: "us-east-1", Service: "ec2"}
	signed := []string{"content-type", "date", "host"}
	sig := signature(testSecret, cred, "20261125T120000Z", canonicalRequest(r, nil, signed, hashOf(testBody), false))
	r.Header.Set("Authorization", Authorization{Credential: cred, SignedHeaders: signed, Signature: sig}.String())
	id, err := verifyAt(r, testBody, signedAt)
	if err != nil {
		t.Fatal(err)
	}
	if !id.SigningTime.Equal(signedAt) {
		t.Fatalf("signing time %v", id.SigningTime)
	}
}

// TestVerifyKnownAnswer checks the "get-vanilla" case of AWS's published
// SigV4 test suite, independently of aws-sdk-go-v2.
func TestVerifyKnownAnswer(t *testing.T) {
	r := onServer(t, clientRequest(t, "GET", "http://example.amazonaws.com/", ""))
	r.Header.Del("User-Agent")
	r.Header.Set("X-Amz-Date", "20150830T123600Z")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "+
		"SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
	v := Verifier{
		Keys:     StaticKeys{"AKIDEXAMPLE": {Secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}},
		Now:      func() time.Time { return time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC) },
		Services: []string{"service"},
	}
	if _, err := v.Verify(r, nil); err != nil {
		t.Fatal(err)
	}
}
