package ec2api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"palisade.dev/palisade/internal/auth"
	"palisade.dev/palisade/internal/service"
	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/mem"
	"palisade.dev/palisade/internal/testutil"
)

// The account and key the handler tests sign with.
const (
	apiAccount = "123456789012"
	apiKeyID   = "AKIDPALISADEAPI"
	apiSecret  = "api-secret"
	apiRegion  = "us-east-1"
)

// apiClock is the service's fixed clock in handler tests.
var apiClock = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// apiHarness is the real Server over a deterministic service: an in-memory
// store, a seeded random source and a fixed clock, so that IDs and times in
// responses are the same on every run.
type apiHarness struct {
	t   testing.TB
	svc *service.Service
	srv *Server
}

func newAPIHarness(t testing.TB) *apiHarness {
	t.Helper()
	st := mem.New(mem.Options{})
	t.Cleanup(func() { st.Close() })
	return newAPIHarnessOn(t, st)
}

// newAPIHarnessOn is newAPIHarness over st.
func newAPIHarnessOn(t testing.TB, st store.Store) *apiHarness {
	t.Helper()
	svc, err := service.New(st, service.DefaultConfig(),
		service.WithRand(rand.NewChaCha8([32]byte{42})),
		service.WithClock(func() time.Time { return apiClock }))
	if err != nil {
		t.Fatal(err)
	}
	keys := auth.StaticKeys{apiKeyID: {Secret: apiSecret, AccountID: apiAccount}}
	return &apiHarness{t: t, svc: svc, srv: NewServer(svc, keys, slog.New(slog.DiscardHandler))}
}

// call sends one signed EC2 Query request through Server.ServeHTTP; params
// are name/value pairs after Action and Version.
func (h *apiHarness) call(action string, params ...string) (int, string) {
	h.t.Helper()
	if len(params)%2 != 0 {
		h.t.Fatalf("odd parameter list %q", params)
	}
	form := "Action=" + url.QueryEscape(action) + "&Version=" + APIVersion
	for i := 0; i < len(params); i += 2 {
		form += "&" + url.QueryEscape(params[i]) + "=" + url.QueryEscape(params[i+1])
	}
	return h.raw(form)
}

// raw sends a signed POST with the given form body.
func (h *apiHarness) raw(form string) (int, string) {
	h.t.Helper()
	return h.send(h.t, form)
}

// send is raw for a test other than h's (a fuzz target's).
func (h *apiHarness) send(t testing.TB, form string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "http://ec2.palisade.test/", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(form))
	creds := aws.Credentials{AccessKeyID: apiKeyID, SecretAccessKey: apiSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ec2", apiRegion, time.Now()); err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	h.srv.ServeHTTP(w, req)
	return w.Code, w.Body.String()
}

// ok calls an action that must succeed and returns its body.
func (h *apiHarness) ok(action string, params ...string) string {
	h.t.Helper()
	status, body := h.call(action, params...)
	if status != http.StatusOK {
		h.t.Fatalf("%s: status %d\n%s", action, status, body)
	}
	return body
}

// fails calls an action that must fail with code and returns its body.
func (h *apiHarness) fails(code, action string, params ...string) string {
	h.t.Helper()
	status, body := h.call(action, params...)
	if status < 400 || status >= 500 || !strings.Contains(body, "<Code>"+code+"</Code>") {
		h.t.Fatalf("%s: status %d, want 4xx %s\n%s", action, status, code, body)
	}
	return body
}

// first returns the text of the first element named el in an XML body.
func first(t testing.TB, body, el string) string {
	t.Helper()
	// Not a regexp compiled per call: BenchmarkServeRuleChange calls it
	// in its loop, and the process's CPU is what it measures.
	open, end := "<"+el+">", "</"+el+">"
	for rest := body; ; {
		i := strings.Index(rest, open)
		if i < 0 {
			t.Fatalf("no <%s> in\n%s", el, body)
		}
		rest = rest[i+len(open):]
		if j := strings.IndexByte(rest, '<'); j >= 0 && strings.HasPrefix(rest[j:], end) {
			return rest[:j]
		}
	}
}

var requestIDs = regexp.MustCompile(`<(requestId|RequestID)>[^<]*</`)

// stableBody replaces the request ID (random per request) with a fixed one.
func stableBody(body string) []byte {
	return []byte(requestIDs.ReplaceAllString(body, "<${1}>"+testRequestID+"</"))
}

// sdkClient returns an aws-sdk-go-v2 EC2 client talking to h's server over
// HTTP, with static credentials and region us-east-1. It retries only what
// the SDK deems transient (a connection dropped on a loaded machine), never
// a client error, so the codes the tests expect still come back first time.
func (h *apiHarness) sdkClient() *ec2.Client {
	srv := httptest.NewServer(h.srv)
	h.t.Cleanup(srv.Close)
	return ec2.New(ec2.Options{
		Region:       apiRegion,
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(apiKeyID, apiSecret, ""),
		Retryer:      retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 3 }),
		HTTPClient:   testutil.SDKHTTPClient,
	})
}

// goldenXML compares body (with the request ID made stable) to
// testdata/golden/name.xml.
func goldenXML(t *testing.T, name, body string) {
	t.Helper()
	golden(t, "golden/"+name+".xml", stableBody(body))
}
