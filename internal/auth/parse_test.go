package auth

import (
	"bytes"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"palisade.dev/palisade/internal/model"
)

const (
	goodSig  = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
	goodCred = "AKIDEXAMPLE/20261125/us-east-1/ec2/aws4_request"
	goodAuth = "AWS4-HMAC-SHA256 Credential=" + goodCred + ", SignedHeaders=content-type;host;x-amz-date, Signature=" + goodSig
)

func TestParseAuthorization(t *testing.T) {
	want := Authorization{
		Credential:    Credential{AccessKeyID: "AKIDEXAMPLE", Date: "20261125", Region: "us-east-1", Service: "ec2"},
		SignedHeaders: []string{"content-type", "host", "x-amz-date"},
		Signature:     goodSig,
	}
	for _, h := range []string{
		goodAuth,
		"AWS4-HMAC-SHA256 Credential=" + goodCred + ",SignedHeaders=content-type;host;x-amz-date,Signature=" + goodSig,
		"AWS4-HMAC-SHA256   Signature=" + goodSig + " ,\tCredential=" + goodCred + ", SignedHeaders=content-type;host;x-amz-date ",
	} {
		got, err := ParseAuthorization(h)
		if err != nil {
			t.Fatalf("%q: %v", h, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: got %+v", h, got)
		}
		if got.String() != goodAuth {
			t.Fatalf("String() = %q", got.String())
		}
	}
}

func TestParseAuthorizationErrors(t *testing.T) {
	cases := []struct{ header, msg string }{
		{"", "Unsupported AWS 'algorithm': ''"},
		{"AWS AKID:sig", "Unsupported AWS 'algorithm': 'AWS'"},
		{"AWS4-HMAC-SHA256", "requires 'Credential' parameter."},
		{"AWS4-HMAC-SHA256 Credential=" + goodCred,
			"Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter."},
		{"AWS4-HMAC-SHA256 Credential=" + goodCred + ", Credential=" + goodCred, "repeats the 'Credential' component"},
		{"AWS4-HMAC-SHA256 Credential=a, SignedHeaders=host, Signature=s, Extra=1", "more than three components"},
		{"AWS4-HMAC-SHA256 Credential=" + goodCred + ", Foo=bar", "unknown component 'Foo'"},
		{"AWS4-HMAC-SHA256 Credential=" + goodCred + ", SignedHeaders=Host, Signature=" + goodSig, "malformed header name 'Host'"},
		{"AWS4-HMAC-SHA256 Credential=" + goodCred + ", SignedHeaders=host;;x, Signature=" + goodSig, "malformed header name ''"},
		{"AWS4-HMAC-SHA256 Credential=" + goodCred + ", SignedHeaders=host;host, Signature=" + goodSig, "repeats the header 'host'"},
		{"AWS4-HMAC-SHA256 Credential=" + goodCred + ", SignedHeaders=host, Signature=" + strings.ToUpper(goodSig), "64 lower-case"},
		{"AWS4-HMAC-SHA256 Credential=" + goodCred + ", SignedHeaders=host, Signature=abc", "64 lower-case"},
		{"AWS4-HMAC-SHA256 Credential=AKID/20261125/us-east-1/ec2, SignedHeaders=host, Signature=" + goodSig, "exactly 5 slash-delimited"},
	}
	for _, c := range cases {
		_, err := ParseAuthorization(c.header)
		wantCode(t, err, model.CodeIncompleteSignature)
		if !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%q: message %q lacks %q", c.header, err, c.msg)
		}
	}
}

func TestParseCredential(t *testing.T) {
	c, err := ParseCredential(goodCred)
	if err != nil {
		t.Fatal(err)
	}
	if c.Scope() != "20261125/us-east-1/ec2/aws4_request" || c.String() != goodCred {
		t.Fatalf("%+v", c)
	}
	for _, bad := range []string{
		"", "AKID", "AKID/20261125/us-east-1/ec2", "AKID/20261125/us-east-1/ec2/aws4_request/x",
		"AKID/20261125/us-east-1/ec2/aws4_reques", "/20261125/us-east-1/ec2/aws4_request",
		"AKID/2026112/us-east-1/ec2/aws4_request", "AKID/20261325/us-east-1/ec2/aws4_request",
		"AKID/+2026112/us-east-1/ec2/aws4_request", "AK ID/20261125/us-east-1/ec2/aws4_request",
		"AKID/20261125//ec2/aws4_request", "AKID/20261125/us-east-1/e,c2/aws4_request",
	} {
		_, err := ParseCredential(bad)
		wantCode(t, err, model.CodeIncompleteSignature)
	}
}

func TestValidRegion(t *testing.T) {
	for _, ok := range []string{"us-east-1", "eu-central-2", "us-gov-west-1", "local"} {
		if !validRegion(ok) {
			t.Errorf("%q rejected", ok)
		}
	}
	for _, bad := range []string{"", "US-EAST-1", "us_east_1", "-us", "us-", "us east", strings.Repeat("a", 65)} {
		if validRegion(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzParseAuthorization: the parser never panics, fails only with
// IncompleteSignature, and what it accepts renders back to a header that
// parses to the same value (and renders identically again).
func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		goodAuth,
		"AWS4-HMAC-SHA256 Signature=" + goodSig + ",Credential=" + goodCred + ",SignedHeaders=host",
		"AWS4-HMAC-SHA256 Credential=" + goodCred + ", SignedHeaders=host;;, Signature=" + goodSig,
		"AWS4-HMAC-SHA256 Credential==/=/=/=/aws4_request, SignedHeaders=host, Signature=" + goodSig,
		"AWS4-HMAC-SHA256 ,,,",
		"AWS4-HMAC-SHA256 Credential",
		"AWS4-HMAC-SHA256",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAuthorization(s)
		if err != nil {
			if code := model.CodeOf(err); code != model.CodeIncompleteSignature {
				t.Fatalf("%q: code %q", s, code)
			}
			return
		}
		rendered := a.String()
		b, err := ParseAuthorization(rendered)
		if err != nil {
			t.Fatalf("%q parsed, but its rendering %q does not: %v", s, rendered, err)
		}
		if !reflect.DeepEqual(a, b) || b.String() != rendered {
			t.Fatalf("%q: %+v re-parsed as %+v", s, a, b)
		}
	})
}

// FuzzParseCredential: the same round-trip property for credential scopes.
func FuzzParseCredential(f *testing.F) {
	for _, s := range []string{
		goodCred, "AKID/20240229/us-gov-west-1/sts/aws4_request", "a/b/c/d/e", "////", "=/20261125/-/-/aws4_request", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCredential(s)
		if err != nil {
			if code := model.CodeOf(err); code != model.CodeIncompleteSignature {
				t.Fatalf("%q: code %q", s, code)
			}
			return
		}
		if c.String() != s {
			t.Fatalf("%q renders as %q", s, c.String())
		}
		d, err := ParseCredential(c.String())
		if err != nil || d != c {
			t.Fatalf("%q: re-parse gave %+v, %v", s, d, err)
		}
	})
}

// FuzzVerify feeds arbitrary signature material through the whole verifier:
// it must never panic and must fail only with a *model.Error.
func FuzzVerify(f *testing.F) {
	f.Add(goodAuth, "20261125T120000Z", "Action=X", "")
	f.Add("AWS4-HMAC-SHA256 Credential="+testAKID+"/20261125/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature="+goodSig,
		"20261125T120000Z", "", "a=b&c")
	f.Add("", "", "", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a&X-Amz-Expires=-1")
	f.Fuzz(func(t *testing.T, authz, date, body, query string) {
		r := serverRequestFor(t, authz, date, query)
		if r == nil {
			return
		}
		_, err := verifyAt(r, body, signedAt)
		if err == nil {
			t.Fatalf("accepted forged request %q %q %q", authz, date, query)
		}
		if _, ok := err.(*model.Error); !ok {
			t.Fatalf("error %v (%T) is not a *model.Error", err, err)
		}
	})
}

// serverRequestFor builds a server-side request with the given Authorization
// header, X-Amz-Date and raw query, or nil if net/http would refuse them.
func serverRequestFor(t *testing.T, authz, date, query string) *http.Request {
	t.Helper()
	if !validHeaderValue(authz) || !validHeaderValue(date) || strings.ContainsAny(query, " #\r\n\x00") {
		return nil
	}
	r := onServer(t, clientRequest(t, "POST", "http://palisade.test/", ""))
	r.URL.RawQuery = query
	if authz != "" {
		r.Header.Set("Authorization", authz)
	}
	if date != "" {
		r.Header.Set("X-Amz-Date", date)
	}
	return r
}

func validHeaderValue(s string) bool {
	return !strings.ContainsAny(s, "\r\n\x00")
}

// The remembered signing keys are per secret: a rotated secret never signs
// with the key derived from the old one, and every key is the derivation.
func TestSigningKeysArePerSecret(t *testing.T) {
	c := Credential{AccessKeyID: "AKIAEXAMPLE", Date: "20261203", Region: "us-east-1", Service: "ec2"}
	fresh := func(secret string) []byte {
		k := hmacSHA256([]byte("AWS4"+secret), c.Date)
		k = hmacSHA256(k, c.Region)
		k = hmacSHA256(k, c.Service)
		return hmacSHA256(k, Terminator)
	}
	for range 2 { // derived, then remembered
		for _, secret := range []string{"old-secret", "new-secret"} {
			if got := signingKey(secret, c); !bytes.Equal(got, fresh(secret)) {
				t.Fatalf("signing key of %s: %x, want %x", secret, got, fresh(secret))
			}
		}
	}
	if bytes.Equal(signingKey("old-secret", c), signingKey("new-secret", c)) {
		t.Fatal("two secrets share a signing key")
	}
}
