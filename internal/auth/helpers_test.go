package auth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"palisade.dev/palisade/internal/model"
)

const (
	testAKID    = "AKIDPALISADETEST"
	testSecret  = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	testAccount = "123456789012"
	testBody    = "Action=DescribeSecurityGroups&Version=2016-11-15&GroupId.1=sg-0123456789abcdef0"
)

// signedAt is the signing time of every test request; the server clock is
// the same unless a test moves it.
var signedAt = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func testKeys() StaticKeys {
	return StaticKeys{testAKID: {Secret: testSecret, AccountID: testAccount}}
}

func creds(secret string) aws.Credentials {
	return aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: secret}
}

func hashOf(body string) string {
	sum := sha256.Sum256([]byte(body))
	return hex.EncodeToString(sum[:])
}

// clientRequest builds a request the way an SDK would send it.
func clientRequest(t testing.TB, method, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	}
	return req
}

// sign signs req with aws-sdk-go-v2's signer.
func sign(t testing.TB, req *http.Request, body, secret, service, region string, at time.Time) {
	t.Helper()
	err := v4.NewSigner().SignHTTP(context.Background(), creds(secret), req, hashOf(body), service, region, at)
	if err != nil {
		t.Fatal(err)
	}
}

// onServer turns a client request into the request a Go HTTP server sees,
// by writing it to the wire and reading it back.
func onServer(t testing.TB, req *http.Request) *http.Request {
	t.Helper()
	var wire bytes.Buffer
	if err := req.Write(&wire); err != nil {
		t.Fatal(err)
	}
	r, err := http.ReadRequest(bufio.NewReader(&wire))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// signedPost is a valid, signed EC2 POST as the server sees it.
func signedPost(t testing.TB) *http.Request {
	t.Helper()
	req := clientRequest(t, "POST", "http://palisade.test:4566/", testBody)
	sign(t, req, testBody, testSecret, "ec2", "us-east-1", signedAt)
	return onServer(t, req)
}

func verifyAt(r *http.Request, body string, now time.Time) (Identity, error) {
	return Verify(r, []byte(body), testKeys(), now)
}

// wantCode fails unless err is a *model.Error with the given code.
func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	if got := model.CodeOf(err); got != code {
		t.Fatalf("got %v, want code %s", err, code)
	}
}
