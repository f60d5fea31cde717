package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"palisade.dev/palisade/internal/auth"
)

// The client is tested against a server that checks signatures with
// Palisade's own verifier: what the client signs, the server accepts.
const (
	testKeyID   = "AKIACLIENTTEST000001"
	testSecret  = "clientsecretclientsecretclientsecret0000"
	testAccount = "210987654321"
)

// recorder is a Query API server: it verifies SigV4, records the form and
// the scope, and answers with the canned status and body.
type recorder struct {
	mu       sync.Mutex
	form     url.Values
	identity auth.Identity
	verr     error
	status   int
	body     string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	keys := auth.StaticKeys{testKeyID: {Secret: testSecret, AccountID: testAccount}}
	id, err := auth.Verify(req, body, keys, time.Now())
	form, _ := url.ParseQuery(string(body))
	r.mu.Lock()
	r.form, r.identity, r.verr = form, id, err
	status, resp := r.status, r.body
	r.mu.Unlock()
	if err != nil {
		status, resp = 403, "<Response><Errors><Error><Code>SignatureDoesNotMatch</Code><Message>"+err.Error()+"</Message></Error></Errors><RequestID>r</RequestID></Response>"
	}
	w.WriteHeader(status)
	io.WriteString(w, resp)
}

func serve(t *testing.T, status int, body string) (*recorder, string) {
	t.Helper()
	rec := &recorder{status: status, body: body}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return rec, srv.URL
}

// isolate points every AWS setting at nothing, so that the developer's own
// ~/.aws and environment cannot leak into a test.
func isolate(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2",
		"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("HOME", dir)
	return dir
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCallSignsWithProfileFromSharedFiles(t *testing.T) {
	dir := isolate(t)
	writeFile(t, filepath.Join(dir, "credentials"), "[palisade]\naws_access_key_id = "+testKeyID+"\naws_secret_access_key = "+testSecret+"\n")
	writeFile(t, filepath.Join(dir, "config"), "[profile palisade]\nregion = eu-west-3\n")
	rec, endpoint := serve(t, 200, `<?xml version="1.0" encoding="UTF-8"?>
<PalisadeCreateAccountResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>r</requestId>
    <accountId>123456789012</accountId>
</PalisadeCreateAccountResponse>`)
	t.Setenv("AWS_PROFILE", "palisade")
	c, err := New(context.Background(), Options{EndpointURL: endpoint})
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		AccountID string `xml:"accountId"`
	}
	if err := c.Call(context.Background(), "PalisadeCreateAccount", url.Values{"Name": {"bob & co"}}, &out); err != nil {
		t.Fatal(err)
	}
	if rec.verr != nil || rec.identity.Region != "eu-west-3" || rec.identity.Service != "ec2" || rec.identity.AccessKeyID != testKeyID {
		t.Fatalf("server saw %+v, %v", rec.identity, rec.verr)
	}
	if rec.form.Get("Action") != "PalisadeCreateAccount" || rec.form.Get("Version") != EC2Version || rec.form.Get("Name") != "bob & co" {
		t.Fatalf("form %v", rec.form)
	}
	if out.AccountID != "123456789012" {
		t.Fatalf("decoded %+v", out)
	}
}

func TestFlagsWinOverEnvironment(t *testing.T) {
	dir := isolate(t)
	writeFile(t, filepath.Join(dir, "credentials"), "[other]\naws_access_key_id = WRONG\naws_secret_access_key = wrong\n")
	t.Setenv("AWS_ACCESS_KEY_ID", testKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testSecret)
	t.Setenv("AWS_REGION", "ap-south-1")
	rec, endpoint := serve(t, 200, "<R/>")
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")

	// Environment only: the environment's endpoint, region and key.
	c, err := New(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Endpoint() != "http://127.0.0.1:1" || c.Region() != "ap-south-1" {
		t.Fatalf("endpoint %s region %s", c.Endpoint(), c.Region())
	}
	// Flags win.
	c, err = New(context.Background(), Options{EndpointURL: endpoint, Region: "sa-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Query(context.Background(), STSService, STSVersion, "GetCallerIdentity", nil, nil); err != nil {
		t.Fatal(err)
	}
	if rec.identity.Region != "sa-east-1" || rec.identity.Service != "sts" || rec.form.Get("Version") != STSVersion {
		t.Fatalf("server saw %+v %v", rec.identity, rec.form)
	}
}

func TestDefaultsAndProfileEndpoint(t *testing.T) {
	dir := isolate(t)
	c, err := New(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Endpoint() != DefaultEndpoint || c.Region() != DefaultRegion {
		t.Fatalf("endpoint %s region %s", c.Endpoint(), c.Region())
	}
	// Without credentials, the first call says what to set, quickly (the
	// instance metadata service is not asked).
	start := time.Now()
	err = c.Call(context.Background(), "DescribeSecurityGroups", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "no AWS credentials found") || time.Since(start) > 2*time.Second {
		t.Fatalf("after %v: %v", time.Since(start), err)
	}

	writeFile(t, filepath.Join(dir, "config"), "[profile lab]\nendpoint_url = http://palisade.example:8080\n")
	c, err = New(context.Background(), Options{Profile: "lab"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Endpoint() != "http://palisade.example:8080" {
		t.Fatalf("endpoint %s", c.Endpoint())
	}
	if _, err := New(context.Background(), Options{Profile: "missing"}); err == nil {
		t.Fatal("a missing profile was accepted")
	}
	for _, bad := range []string{"127.0.0.1:4566", "ftp://x", "http://"} {
		if _, err := New(context.Background(), Options{EndpointURL: bad}); err == nil {
			t.Errorf("endpoint %q accepted", bad)
		}
	}
}

func TestErrorsAreDecoded(t *testing.T) {
	isolate(t)
	t.Setenv("AWS_ACCESS_KEY_ID", testKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testSecret)
	cases := []struct {
		status int
		body   string
		want   *APIError
		text   string
	}{
		{400, `<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>InvalidPermission.Duplicate</Code><Message>the specified rule already exists</Message></Error></Errors><RequestID>rid-1</RequestID></Response>`,
			&APIError{400, "InvalidPermission.Duplicate", "the specified rule already exists", "rid-1"}, ""},
		{403, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>UnauthorizedOperation</Code><Message>no</Message></Error><RequestId>rid-2</RequestId></ErrorResponse>`,
			&APIError{403, "UnauthorizedOperation", "no", "rid-2"}, ""},
		{502, `<html>Bad Gateway</html>`, nil, `HTTP 502 Bad Gateway: "<html>Bad Gateway</html>"`},
		{500, ``, nil, `HTTP 500 Internal Server Error: ""`},
	}
	for _, c := range cases {
		_, endpoint := serve(t, c.status, c.body)
		cl, err := New(context.Background(), Options{EndpointURL: endpoint})
		if err != nil {
			t.Fatal(err)
		}
		err = cl.Call(context.Background(), "X", nil, nil)
		var ae *APIError
		switch {
		case c.want != nil && (!errors.As(err, &ae) || *ae != *c.want):
			t.Errorf("%d: got %#v, want %#v", c.status, err, c.want)
		case c.want != nil && err.Error() != c.want.Code+": "+c.want.Message:
			t.Errorf("message %q", err.Error())
		case c.want == nil && (err == nil || errors.As(err, &ae) || err.Error() != c.text):
			t.Errorf("%d: got %v, want %s", c.status, err, c.text)
		}
	}
}

func TestUnreachableServerSaysSo(t *testing.T) {
	isolate(t)
	t.Setenv("AWS_ACCESS_KEY_ID", testKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testSecret)
	c, err := New(context.Background(), Options{EndpointURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Call(context.Background(), "X", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "is palisade serve running at http://127.0.0.1:1?") {
		t.Fatalf("%v", err)
	}
}
