package client

import (
	"io"
	"net/http"
)

// SDKTransport wraps next for aws-sdk-go-v2 clients so that request bodies
// offer only Read and Close. smithy-go closes a request body as soon as
// the response arrives, and that body's WriteTo then answers io.EOF as an
// error, which net/http's writer (still checking that the body has no
// bytes beyond its Content-Length) takes for a failed write: it closes the
// connection under the response body being read ("use of closed network
// connection" on responses of more than 4 KiB, aws-sdk-go-v2 #2737), and a
// retried RunInstances answers its first launch, already running. Read
// answers a closed body with a plain EOF. The SDK clients of the tests and
// of `palisade bench` use it.
func SDKTransport(next http.RoundTripper) http.RoundTripper { return readOnlyBodies{next} }

// NewSDKHTTPClient returns an HTTP client for aws-sdk-go-v2 clients:
// SDKTransport over a clone of http.DefaultTransport.
func NewSDKHTTPClient() *http.Client {
	return &http.Client{Transport: SDKTransport(http.DefaultTransport.(*http.Transport).Clone())}
}

// readOnlyBodies passes requests to its transport with bodies that offer
// only Read and Close.
type readOnlyBodies struct{ next http.RoundTripper }

func (t readOnlyBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r2 := *r
		r2.Body = struct{ io.ReadCloser }{r.Body}
		r = &r2
	}
	return t.next.RoundTrip(r)
}
