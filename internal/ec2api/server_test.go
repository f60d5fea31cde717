package ec2api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"palisade.dev/palisade/internal/auth"
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
	"palisade.dev/palisade/internal/store/mem"
	"palisade.dev/palisade/internal/testutil"
)

// acctServer is the real Server with real accounts over an in-memory store,
// served over HTTP, with its bootstrapped admin key.
type acctServer struct {
	url      string
	srv      *Server
	accounts *auth.Accounts
	admin    auth.AccessKey
}

func newAcctServer(t *testing.T) *acctServer {
	t.Helper()
	ctx := context.Background()
	st := mem.New(mem.Options{})
	t.Cleanup(func() { st.Close() })
	svc, err := service.New(st, service.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	accounts, err := auth.OpenAccounts(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { accounts.Close() })
	_, admin, _, err := accounts.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(svc, accounts, slog.New(slog.DiscardHandler))
	for name, h := range PalisadeAccountActions(accounts) {
		srv.Handle(name, h)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &acctServer{url: hs.URL, srv: srv, accounts: accounts, admin: admin}
}

func (s *acctServer) creds(k auth.AccessKey) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(k.ID, k.Secret, "")
}

func (s *acctServer) sts(k auth.AccessKey) *sts.Client {
	return sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.url),
		Credentials: s.creds(k), Retryer: aws.NopRetryer{}, HTTPClient: testutil.SDKHTTPClient})
}

func (s *acctServer) ec2(k auth.AccessKey) *ec2.Client {
	return ec2.New(ec2.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.url),
		Credentials: s.creds(k), Retryer: aws.NopRetryer{}, HTTPClient: testutil.SDKHTTPClient})
}

// post sends form signed with k for service, and returns status and body.
func (s *acctServer) post(t *testing.T, k auth.AccessKey, service, form string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url+"/", strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(form))
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: k.ID, SecretAccessKey: k.Secret},
		req, hex.EncodeToString(sum[:]), service, "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func wantAPIError(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("got %v, want API error %s", err, code)
	}
}

func TestGetCallerIdentity(t *testing.T) {
	s := newAcctServer(t)
	out, err := s.sts(s.admin).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	acct := string(s.admin.Account)
	if aws.ToString(out.Account) != acct || aws.ToString(out.UserId) != acct ||
		aws.ToString(out.Arn) != "arn:aws:iam::"+acct+":root" {
		t.Fatalf("identity %+v", out)
	}

	// The document itself, byte for byte but for the request ID.
	status, body := s.post(t, s.admin, "sts", "Action=GetCallerIdentity&Version=2011-06-15")
	body = regexp.MustCompile(`<RequestId>[0-9a-f-]{36}</RequestId>`).ReplaceAllString(body, "<RequestId>ID</RequestId>")
	want := `<?xml version="1.0" encoding="UTF-8"?>
<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>arn:aws:iam::` + acct + `:root</Arn>
    <UserId>` + acct + `</UserId>
    <Account>` + acct + `</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata>
    <RequestId>ID</RequestId>
  </ResponseMetadata>
</GetCallerIdentityResponse>`
	if status != 200 || body != want {
		t.Fatalf("status %d, body:\n%s\nwant:\n%s", status, body, want)
	}
}

func TestSTSErrorsComeInSTSDialect(t *testing.T) {
	s := newAcctServer(t)
	bad := s.admin
	bad.Secret = "wrong"
	_, err := s.sts(bad).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, model.CodeSignatureDoesNotMatch)
	_, err = s.sts(s.admin).GetSessionToken(context.Background(), &sts.GetSessionTokenInput{})
	wantAPIError(t, err, model.CodeInvalidAction)
	unknown := auth.AccessKey{ID: "AKIANOSUCHKEY0000000", Secret: "x"}
	_, err = s.sts(unknown).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, "InvalidClientTokenId")

	status, body := s.post(t, s.admin, "sts", "Action=GetCallerIdentity&Version=2016-11-15")
	if status != 400 || !regexp.MustCompile(`^<\?xml version="1.0" encoding="UTF-8"\?>\n<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">`+
		`<Error><Type>Sender</Type><Code>NoSuchVersion</Code><Message>[^<]+</Message></Error><RequestId>[0-9a-f-]{36}</RequestId></ErrorResponse>$`).MatchString(body) {
		t.Fatalf("status %d body %s", status, body)
	}
	status, body = s.post(t, s.admin, "sts", "Action=GetCallerIdentity&Version=2011-06-15&Extra=1")
	if status != 400 || !strings.Contains(body, "<Code>UnknownParameter</Code>") {
		t.Fatalf("status %d body %s", status, body)
	}
	// An EC2 action signed for STS is not served, and the reverse.
	status, body = s.post(t, s.admin, "sts", "Action=DescribeSecurityGroups&Version=2016-11-15")
	if status != 400 || !strings.Contains(body, "<ErrorResponse") || !strings.Contains(body, "InvalidAction") {
		t.Fatalf("status %d body %s", status, body)
	}
	status, body = s.post(t, s.admin, "ec2", "Action=GetCallerIdentity&Version=2011-06-15")
	if status != 400 || !strings.Contains(body, "<Response><Errors>") || !strings.Contains(body, "InvalidAction") {
		t.Fatalf("status %d body %s", status, body)
	}
}

func TestEncodeSTSErrorReceiver(t *testing.T) {
	status, body := EncodeSTSError(errors.New("disk on fire"), "rid")
	if status != 500 || !strings.Contains(string(body), "<Type>Receiver</Type><Code>InternalError</Code><Message>An internal error has occurred</Message>") {
		t.Fatalf("%d %s", status, body)
	}
}

func TestPalisadeCreateAccount(t *testing.T) {
	ctx := context.Background()
	s := newAcctServer(t)
	status, body := s.post(t, s.admin, "ec2", "Action=PalisadeCreateAccount&Version=2016-11-15&Name=bob")
	m := regexp.MustCompile(`<accountId>(\d{12})</accountId>\s*<accountName>bob</accountName>\s*` +
		`<accessKeyId>(AKIA[A-Z0-9]{16})</accessKeyId>\s*<secretAccessKey>([A-Za-z0-9+/]{40})</secretAccessKey>`).FindStringSubmatch(body)
	if status != 200 || m == nil || !strings.Contains(body, "<PalisadeCreateAccountResponse xmlns=\""+Namespace+"\">") {
		t.Fatalf("status %d body %s", status, body)
	}
	bob := auth.AccessKey{ID: m[2], Secret: m[3], Account: model.AccountID(m[1])}

	// Bob's key works at once, for STS and EC2, and bob sees only his own
	// default group.
	id, err := s.sts(bob).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Account) != m[1] {
		t.Fatalf("bob's identity %+v %v", id, err)
	}
	groups, err := s.ec2(bob).DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups.SecurityGroups {
		if aws.ToString(g.OwnerId) != m[1] {
			t.Fatalf("bob sees group %s of %s", aws.ToString(g.GroupId), aws.ToString(g.OwnerId))
		}
	}

	// Bob is no admin: refused before his parameters are even read.
	for _, form := range []string{
		"Action=PalisadeCreateAccount&Version=2016-11-15&Name=eve",
		"Action=PalisadeCreateAccount&Version=2016-11-15",
		"Action=PalisadeCreateAccount&Version=2016-11-15&Name=eve&Bogus=1&DryRun=true",
	} {
		status, body = s.post(t, bob, "ec2", form)
		if status != 403 || !strings.Contains(body, "<Code>UnauthorizedOperation</Code>") {
			t.Fatalf("%s: status %d body %s", form, status, body)
		}
	}

	cases := []struct {
		form, code string
	}{
		{"Name=moto&AccountId=123456789012&AccessKeyId=FOOBARKEY&SecretAccessKey=FOOBARSECRET", ""},
		{"Name=again&AccountId=123456789012", model.CodeAccountDuplicate},
		{"Name=again&AccessKeyId=FOOBARKEY&SecretAccessKey=x", model.CodeAccessKeyDuplicate},
		{"Name=x&AccountId=12", model.CodeInvalidParameterValue},
		{"Name=x&AccessKeyId=K", model.CodeMissingParameter},
		{"AccountId=123456789013", model.CodeMissingParameter},
		{"Name=x&DryRun=true", model.CodeUnknownParameter},
		{"Name=x&Color=blue", model.CodeUnknownParameter},
	}
	for _, c := range cases {
		status, body = s.post(t, s.admin, "ec2", "Action=PalisadeCreateAccount&Version=2016-11-15&"+c.form)
		if c.code == "" && status != 200 || c.code != "" && (status != 400 || !strings.Contains(body, "<Code>"+c.code+"</Code>")) {
			t.Errorf("%s: status %d body %s", c.form, status, body)
		}
	}
	moto := auth.AccessKey{ID: "FOOBARKEY", Secret: "FOOBARSECRET"}
	if id, err := s.sts(moto).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil || aws.ToString(id.Account) != "123456789012" {
		t.Fatalf("moto's identity %+v %v", id, err)
	}
}

func TestServerSurvivesPanickingHandler(t *testing.T) {
	s := newAcctServer(t)
	s.srv.Handle("Explode", Action(func(p *Params) (struct{}, error) { return struct{}{}, nil },
		func(c *Call, _ struct{}) (any, error) { panic("boom") }))
	status, body := s.post(t, s.admin, "ec2", "Action=Explode&Version=2016-11-15")
	if status != 500 || !strings.Contains(body, "<Code>InternalError</Code>") || strings.Contains(body, "boom") {
		t.Fatalf("status %d body %s", status, body)
	}
	_, err := s.sts(s.admin).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("server unusable after a panic: %v", err)
	}
}

// failingBody fails after a few bytes, as a broken chunked upload does.
type failingBody struct{ n int }

func (f *failingBody) Read(p []byte) (int, error) {
	if f.n > 0 {
		f.n--
		p[0] = 'A'
		return 1, nil
	}
	return 0, errors.New("unexpected EOF")
}

func (f *failingBody) Close() error { return nil }

func TestUnreadableBodyIsAClientError(t *testing.T) {
	s := newAcctServer(t)
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: s.admin.ID, SecretAccessKey: s.admin.Secret},
		req, auth.PayloadHash([]byte("AAA")), "ec2", "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	req.Body = &failingBody{n: 3}
	rec := httptest.NewRecorder()
	s.srv.ServeHTTP(rec, req)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "<Code>InvalidParameterValue</Code>") {
		t.Fatalf("status %d body %s", rec.Code, rec.Body.String())
	}
}

// countingBody counts the bytes read from it.
type countingBody struct {
	r    io.Reader
	read int
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read += n
	return n, err
}

func (b *countingBody) Close() error { return nil }

// TestNoBodyReadBeforeAuthentication: a request without a signature, with an
// unknown key, or with a method the API does not take is answered without
// reading its body, so that anonymous clients cannot make the server hold
// their bodies.
func TestNoBodyReadBeforeAuthentication(t *testing.T) {
	s := newAcctServer(t)
	form := "Action=DescribeSecurityGroups&Version=2016-11-15&Pad=" + strings.Repeat("x", 100<<10)
	stranger := aws.Credentials{AccessKeyID: "AKIDSTRANGER0000000", SecretAccessKey: "x"}
	forger := aws.Credentials{AccessKeyID: s.admin.ID, SecretAccessKey: "not the secret"}
	cases := []struct {
		name, method string
		creds        *aws.Credentials
		claim        bool // send X-Amz-Content-Sha256
		status       int
		code         string
	}{
		{"anonymous", "POST", nil, false, 403, model.CodeMissingAuthenticationToken},
		{"unknown key", "POST", &stranger, false, 401, model.CodeAuthFailure},
		{"known key, claimed hash, forged signature", "POST", &forger, true, 403, model.CodeSignatureDoesNotMatch},
		{"PUT", "PUT", nil, false, 405, model.CodeMethodNotAllowed},
		{"DELETE signed", "DELETE", &aws.Credentials{AccessKeyID: s.admin.ID, SecretAccessKey: s.admin.Secret}, false, 405, model.CodeMethodNotAllowed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest(c.method, "/", nil)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if c.claim {
				req.Header.Set("X-Amz-Content-Sha256", auth.PayloadHash([]byte(form)))
			}
			if c.creds != nil {
				err := v4.NewSigner().SignHTTP(context.Background(), *c.creds, req, auth.PayloadHash([]byte(form)), "ec2", "us-east-1", time.Now())
				if err != nil {
					t.Fatal(err)
				}
			}
			body := &countingBody{r: strings.NewReader(form)}
			req.Body, req.ContentLength = body, int64(len(form))
			rec := httptest.NewRecorder()
			s.srv.ServeHTTP(rec, req)
			if rec.Code != c.status || !strings.Contains(rec.Body.String(), "<Code>"+c.code+"</Code>") {
				t.Fatalf("status %d body %s", rec.Code, rec.Body.String())
			}
			if body.read != 0 {
				t.Fatalf("%d bytes of the body were read", body.read)
			}
			if c.status == 405 && rec.Header().Get("Allow") != "GET, POST" {
				t.Fatalf("Allow %q", rec.Header().Get("Allow"))
			}
		})
	}
}

// TestSemicolonParametersAreNotActedOnUnsigned: parameters appended to a
// presigned URL with a literal ';' used to be left out of the canonical
// query but decoded and acted on. They are now signed like the others: the
// signature no longer matches, and nothing is done.
func TestSemicolonParametersAreNotActedOnUnsigned(t *testing.T) {
	s := newAcctServer(t)
	presign := func(query string) string {
		req, err := http.NewRequest("GET", s.url+"/?"+query, nil)
		if err != nil {
			t.Fatal(err)
		}
		u, _, err := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: s.admin.ID, SecretAccessKey: s.admin.Secret},
			req, auth.PayloadHash(nil), "ec2", "us-east-1", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	get := func(u string) (int, string) {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	u := presign("Action=DescribeSecurityGroups&Version=2016-11-15&X-Amz-Expires=60")
	if status, body := get(u); status != 200 {
		t.Fatalf("the presigned URL itself: %d %s", status, body)
	}
	status, body := get(u + "&GroupName.1=injected;")
	if status != 403 || !strings.Contains(body, "<Code>SignatureDoesNotMatch</Code>") {
		t.Fatalf("an appended ';' parameter: %d %s", status, body)
	}
	// Signed, a ';' (escaped, as clients send it) is an ordinary character.
	status, body = get(presign("Action=DescribeSecurityGroups&Version=2016-11-15&GroupName.1=a%3Bb"))
	if status != 400 || !strings.Contains(body, "a;b") {
		t.Fatalf("a signed ';': %d %s", status, body)
	}
}

func TestAuthorizeRunsFirst(t *testing.T) {
	s := newAcctServer(t)
	var order []string
	h := Action(func(p *Params) (string, error) {
		order = append(order, "parse")
		return p.Required("Name")
	}, func(c *Call, _ string) (any, error) { order = append(order, "run"); return nil, nil })
	h.Authorize = func(c *Call) error {
		order = append(order, "authorize")
		return model.Errorf(model.CodeUnauthorizedOperation, "no")
	}
	s.srv.Handle("Guarded", h)
	status, _ := s.post(t, s.admin, "ec2", "Action=Guarded&Version=2016-11-15&DryRun=true")
	if status != 403 || strings.Join(order, ",") != "authorize" {
		t.Fatalf("status %d, order %v", status, order)
	}
}
