package auth

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"palisade.dev/palisade/internal/model"
)

const presignQuery = "Action=DescribeSecurityGroups&Version=2016-11-15&Filter.1.Name=group-name&Filter.1.Value.1=web%20tier"

// presigned returns the URL aws-sdk-go-v2 presigns for a GET of rawURL.
func presigned(t *testing.T, rawURL string) string {
	t.Helper()
	req := clientRequest(t, "GET", rawURL, "")
	u, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds(testSecret), req, hashOf(""), "ec2", "us-east-1", signedAt)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// serverGet is the request a server sees for a GET of rawURL.
func serverGet(t *testing.T, rawURL string) *http.Request {
	t.Helper()
	return onServer(t, clientRequest(t, "GET", rawURL, ""))
}

func TestPresignedValid(t *testing.T) {
	u := presigned(t, "http://palisade.test:4566/?X-Amz-Expires=300&"+presignQuery)
	id, err := verifyAt(serverGet(t, u), "", signedAt.Add(299*time.Second))
	if err != nil {
		t.Fatalf("%v\n%s", err, u)
	}
	if !id.Presigned || id.Service != "ec2" || id.AccountID != testAccount {
		t.Fatalf("identity = %+v", id)
	}
}

func TestPresignedExpiry(t *testing.T) {
	u := presigned(t, "http://palisade.test/?X-Amz-Expires=60&"+presignQuery)
	_, err := verifyAt(serverGet(t, u), "", signedAt.Add(61*time.Second))
	wantCode(t, err, model.CodeRequestExpired)

	long := presigned(t, "http://palisade.test/?X-Amz-Expires=3600&"+presignQuery)
	if _, err := verifyAt(serverGet(t, long), "", signedAt.Add(59*time.Minute)); err != nil {
		t.Fatal(err)
	}
	_, err = verifyAt(serverGet(t, long), "", signedAt.Add(-6*time.Minute))
	wantCode(t, err, model.CodeRequestExpired)

	// Without X-Amz-Expires a presigned URL is held to the clock skew.
	plain := presigned(t, "http://palisade.test/?"+presignQuery)
	if _, err := verifyAt(serverGet(t, plain), "", signedAt.Add(4*time.Minute)); err != nil {
		t.Fatal(err)
	}
	_, err = verifyAt(serverGet(t, plain), "", signedAt.Add(6*time.Minute))
	wantCode(t, err, model.CodeRequestExpired)
}

func TestPresignedTampered(t *testing.T) {
	good := presigned(t, "http://palisade.test/?X-Amz-Expires=300&"+presignQuery)
	cases := []struct {
		name   string
		tamper func(q url.Values)
		code   string
	}{
		{"parameter", func(q url.Values) { q.Set("Action", "DeleteSecurityGroup") }, model.CodeSignatureDoesNotMatch},
		{"added parameter", func(q url.Values) { q.Set("DryRun", "true") }, model.CodeSignatureDoesNotMatch},
		{"expires", func(q url.Values) { q.Set("X-Amz-Expires", "600") }, model.CodeSignatureDoesNotMatch},
		{"signature", func(q url.Values) { q.Set("X-Amz-Signature", strings.Repeat("0", 64)) }, model.CodeSignatureDoesNotMatch},
		{"region", func(q url.Values) {
			q.Set("X-Amz-Credential", strings.Replace(q.Get("X-Amz-Credential"), "us-east-1", "us-west-2", 1))
		}, model.CodeSignatureDoesNotMatch},
		{"algorithm", func(q url.Values) { q.Set("X-Amz-Algorithm", "AWS4-HMAC-SHA512") }, model.CodeIncompleteSignature},
		{"no date", func(q url.Values) { q.Del("X-Amz-Date") }, model.CodeIncompleteSignature},
		{"no signed headers", func(q url.Values) { q.Del("X-Amz-SignedHeaders") }, model.CodeIncompleteSignature},
		{"repeated credential", func(q url.Values) { q.Add("X-Amz-Credential", q.Get("X-Amz-Credential")) }, model.CodeIncompleteSignature},
		{"zero expires", func(q url.Values) { q.Set("X-Amz-Expires", "0") }, model.CodeIncompleteSignature},
		{"week and a second", func(q url.Values) { q.Set("X-Amz-Expires", "604801") }, model.CodeIncompleteSignature},
		{"huge expires", func(q url.Values) { q.Set("X-Amz-Expires", "9223372036854775807") }, model.CodeIncompleteSignature},
		{"word expires", func(q url.Values) { q.Set("X-Amz-Expires", "soon") }, model.CodeIncompleteSignature},
		{"unknown key", func(q url.Values) {
			q.Set("X-Amz-Credential", strings.Replace(q.Get("X-Amz-Credential"), testAKID, "AKIDOTHER", 1))
		}, model.CodeAuthFailure},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u, err := url.Parse(good)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			c.tamper(q)
			u.RawQuery = q.Encode()
			_, err = verifyAt(serverGet(t, u.String()), "", signedAt)
			wantCode(t, err, c.code)
		})
	}
}

// TestPresignedSemicolonIsSigned: a pair holding a literal ';', appended to
// a presigned URL, is a parameter like any other: it is in the canonical
// query, so the signature no longer matches (Go's url.ParseQuery used to
// drop it from the canonical query while the API acted on it). A malformed
// escape cannot be canonicalized and is refused.
func TestPresignedSemicolonIsSigned(t *testing.T) {
	good := presigned(t, "http://palisade.test/?X-Amz-Expires=300&"+presignQuery)
	for _, extra := range []string{"&TagSpecification.1.Tag.1.Key=owned;", "&a;b=c", "&;"} {
		_, err := verifyAt(serverGet(t, good+extra), "", signedAt)
		wantCode(t, err, model.CodeSignatureDoesNotMatch)
	}
	_, err := verifyAt(serverGet(t, good+"&Name=%zz"), "", signedAt)
	wantCode(t, err, model.CodeInvalidQueryParameter)
}

// TestSemicolonSignedIsAccepted: a client that signs a ';' (escaped, as
// every SDK sends it) is verified.
func TestSemicolonSignedIsAccepted(t *testing.T) {
	u := presigned(t, "http://palisade.test/?"+presignQuery+"&Filter.1.Value.2=a%3Bb")
	if _, err := verifyAt(serverGet(t, u), "", signedAt); err != nil {
		t.Fatal(err)
	}
}

func TestPresignedMissingParametersMessage(t *testing.T) {
	_, err := verifyAt(serverGet(t, "http://palisade.test/?X-Amz-Algorithm=AWS4-HMAC-SHA256"), "", signedAt)
	want := "AWS query-string parameters must include 'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date', " +
		"'X-Amz-SignedHeaders'. Re-examine the query-string parameters."
	if e := asModel(t, err); e.Code != model.CodeIncompleteSignature || e.Message != want {
		t.Fatalf("got %v", err)
	}
}
