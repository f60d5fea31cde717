package client

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// sdkBody is a request body as smithy-go makes one: it has WriteTo, which
// answers io.EOF as an error once the body is closed.
type sdkBody struct {
	*bytes.Reader
	closed bool
}

func (b *sdkBody) Close() error { b.closed = true; return nil }

func (b *sdkBody) WriteTo(w io.Writer) (int64, error) {
	if b.closed {
		return 0, io.EOF
	}
	return b.Reader.WriteTo(w)
}

type seen struct{ req *http.Request }

func (s *seen) RoundTrip(r *http.Request) (*http.Response, error) {
	s.req = r
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("ok"))}, nil
}

// TestSDKTransportHidesWriteTo: the transport below sees a body without
// WriteTo (so net/http reads it, and a closed body ends in a plain EOF),
// with the same bytes, and a request without a body is passed as it is.
func TestSDKTransportHidesWriteTo(t *testing.T) {
	next := &seen{}
	rt := SDKTransport(next)
	body := &sdkBody{Reader: bytes.NewReader([]byte("Action=DescribeSecurityGroups"))}
	req, err := http.NewRequest("POST", "http://127.0.0.1/", body)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := req.Body.(io.WriterTo); !ok {
		t.Fatal("the test's body has no WriteTo: it does not stand for smithy-go's")
	}
	if _, err := rt.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	if _, ok := next.req.Body.(io.WriterTo); ok {
		t.Fatal("the transport below still sees WriteTo")
	}
	got, err := io.ReadAll(next.req.Body)
	if err != nil || string(got) != "Action=DescribeSecurityGroups" {
		t.Fatalf("body %q, %v", got, err)
	}
	if err := next.req.Body.Close(); err != nil || !body.closed {
		t.Fatalf("close: %v, closed %v", err, body.closed)
	}

	get, _ := http.NewRequest("GET", "http://127.0.0.1/", nil)
	if _, err := rt.RoundTrip(get); err != nil || next.req != get {
		t.Fatalf("a request without a body: %v, passed as it is %v", err, next.req == get)
	}
}
