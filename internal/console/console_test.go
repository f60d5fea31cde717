package console

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"palisade.dev/palisade/internal/auth"
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/mem"
)

const (
	aliceKey, aliceSecret = "AKIAALICE0000000000A", "alice-secret"
	bobKey, bobSecret     = "AKIABOB00000000000B0", "bob-secret"
	aliceAcct, bobAcct    = "111111111111", "222222222222"
	region                = "us-east-1"
)

type fixture struct {
	svc *service.Service
	srv *httptest.Server
	now atomic.Int64 // unix seconds of the console's clock
}

func newFixture(t *testing.T, tls bool, opts ...service.Option) *fixture {
	t.Helper()
	st := mem.New(mem.Options{})
	t.Cleanup(func() { st.Close() })
	svc, err := service.New(st, service.DefaultConfig(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{svc: svc}
	f.now.Store(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC).Unix())
	keys := auth.StaticKeys{aliceKey: {Secret: aliceSecret, AccountID: aliceAcct}, bobKey: {Secret: bobSecret, AccountID: bobAcct}}
	c := New(svc, keys, Options{Region: region, SessionTTL: time.Hour, Now: func() time.Time { return time.Unix(f.now.Load(), 0) }})
	if tls {
		f.srv = httptest.NewTLSServer(c)
	} else {
		f.srv = httptest.NewServer(c)
	}
	t.Cleanup(f.srv.Close)
	return f
}

// browser is a client with a cookie jar that does not follow redirects.
func (f *fixture) browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	cl := *f.srv.Client() // a copy: the server's client is shared
	cl.Jar = jar
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cl
}

func do(t *testing.T, cl *http.Client, method, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// signinForm opens the sign-in page, as a browser does before it posts
// the form, and returns the form with its CSRF token.
func signinForm(t *testing.T, cl *http.Client, base, key, secret string) url.Values {
	t.Helper()
	_, page := do(t, cl, "GET", base+"/console/signin", nil)
	return url.Values{"access_key_id": {key}, "secret_access_key": {secret}, "csrf": {csrfOf(t, page)}}
}

func (f *fixture) signIn(t *testing.T, key, secret string) (*http.Client, string) {
	t.Helper()
	cl := f.browser(t)
	resp, _ := do(t, cl, "POST", f.srv.URL+"/console/signin", signinForm(t, cl, f.srv.URL, key, secret))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/groups" {
		t.Fatalf("sign in: HTTP %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page := do(t, cl, "GET", f.srv.URL+"/console/groups/new", nil)
	return cl, csrfOf(t, page)
}

func hasSession(resp *http.Response) bool {
	for _, c := range resp.Cookies() {
		if c.Name == CookieName {
			return true
		}
	}
	return false
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF field in page:\n%s", page)
	}
	return m[1]
}

func TestSignIn(t *testing.T) {
	f := newFixture(t, false)
	cl := f.browser(t)
	// A sign-in without the form's token (posted from elsewhere) is refused.
	resp, page := do(t, cl, "POST", f.srv.URL+"/console/signin", url.Values{"access_key_id": {aliceKey}, "secret_access_key": {aliceSecret}})
	if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 1 || resp.Cookies()[0].Name == CookieName {
		t.Fatalf("sign-in without the form's token: HTTP %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	resp, page = do(t, cl, "POST", f.srv.URL+"/console/signin", signinForm(t, cl, f.srv.URL, aliceKey, "wrong"))
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "not valid") || hasSession(resp) {
		t.Fatalf("wrong secret: HTTP %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	resp, _ = do(t, cl, "GET", f.srv.URL+"/console/groups", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/signin" {
		t.Fatalf("groups without a session: HTTP %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	resp, _ = do(t, cl, "POST", f.srv.URL+"/console/signin", signinForm(t, cl, f.srv.URL, aliceKey, aliceSecret))
	ck := resp.Cookies()
	if len(ck) != 1 || ck[0].Name != CookieName || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode || ck[0].Secure {
		t.Fatalf("session cookie over HTTP: %+v", ck)
	}
	resp, page = do(t, cl, "GET", f.srv.URL+"/console/groups", nil)
	if resp.StatusCode != 200 || !strings.Contains(page, aliceAcct) || !strings.Contains(page, ">default<") {
		t.Fatalf("groups: HTTP %d\n%s", resp.StatusCode, page)
	}

	// An hour later the session has ended.
	f.now.Add(3600)
	resp, _ = do(t, cl, "GET", f.srv.URL+"/console/groups", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/signin" {
		t.Fatalf("groups after expiry: HTTP %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestSignOut(t *testing.T) {
	f := newFixture(t, false)
	cl, csrf := f.signIn(t, aliceKey, aliceSecret)
	resp, _ := do(t, cl, "POST", f.srv.URL+"/console/signout", url.Values{"csrf": {csrf}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: HTTP %d", resp.StatusCode)
	}
	resp, _ = do(t, cl, "GET", f.srv.URL+"/console/groups", nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("groups after sign-out: HTTP %d", resp.StatusCode)
	}
}

func TestSecureCookieUnderTLS(t *testing.T) {
	f := newFixture(t, true)
	cl := f.browser(t)
	resp, _ := do(t, cl, "POST", f.srv.URL+"/console/signin", signinForm(t, cl, f.srv.URL, aliceKey, aliceSecret))
	if ck := resp.Cookies(); len(ck) != 1 || !ck[0].Secure {
		t.Fatalf("session cookie over TLS: %+v", ck)
	}
}

func (f *fixture) groupNames(t *testing.T, acct string) []string {
	t.Helper()
	gs, _, err := f.svc.DescribeSecurityGroups(context.Background(), service.Caller{Account: model.AccountID(acct), Region: region}, service.DescribeSecurityGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, g := range gs {
		out = append(out, g.Name)
	}
	return out
}

func TestCSRF(t *testing.T) {
	f := newFixture(t, false)
	cl, csrf := f.signIn(t, aliceKey, aliceSecret)
	form := url.Values{"name": {"web"}, "description": {"web tier"}}
	wrong := "x" + csrf[1:] // one character off (never the token itself)
	if csrf[0] == 'x' {
		wrong = "y" + csrf[1:]
	}
	for _, bad := range []string{"", wrong} {
		if bad != "" {
			form.Set("csrf", bad)
		}
		resp, page := do(t, cl, "POST", f.srv.URL+"/console/groups/new", form)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "CSRF") {
			t.Fatalf("create with CSRF token %q: HTTP %d", bad, resp.StatusCode)
		}
	}
	if got := f.groupNames(t, aliceAcct); len(got) != 1 {
		t.Fatalf("groups after refused changes: %v", got)
	}
	// Another session's token is not this session's.
	_, other := f.signIn(t, aliceKey, aliceSecret)
	form.Set("csrf", other)
	if resp, _ := do(t, cl, "POST", f.srv.URL+"/console/groups/new", form); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("create with another session's token: HTTP %d", resp.StatusCode)
	}
	form.Set("csrf", csrf)
	resp, _ := do(t, cl, "POST", f.srv.URL+"/console/groups/new", form)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/console/groups/sg-") {
		t.Fatalf("create with the token: HTTP %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// A session sees its own account only: another account's group is not
// found by URL, and cannot be changed or deleted.
func TestOtherAccountUnreachable(t *testing.T) {
	f := newFixture(t, false)
	g, err := f.svc.CreateSecurityGroup(context.Background(), service.Caller{Account: bobAcct, Region: region},
		service.CreateSecurityGroupInput{Name: "bobs", Description: "bob group"})
	if err != nil {
		t.Fatal(err)
	}
	cl, csrf := f.signIn(t, aliceKey, aliceSecret)
	for _, p := range []string{"/console/groups/" + string(g.ID), "/console/groups/" + string(g.ID) + "/inbound/edit"} {
		resp, page := do(t, cl, "GET", f.srv.URL+p, nil)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(page, "InvalidGroup.NotFound") || strings.Contains(page, "bob group") {
			t.Fatalf("GET %s as alice: HTTP %d\n%s", p, resp.StatusCode, page)
		}
	}
	resp, _ := do(t, cl, "POST", f.srv.URL+"/console/groups/"+string(g.ID)+"/delete", url.Values{"csrf": {csrf}})
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("delete bob's group as alice: HTTP %d", resp.StatusCode)
	}
	if got := f.groupNames(t, bobAcct); len(got) != 2 {
		t.Fatalf("bob's groups: %v", got)
	}
	_, page := do(t, cl, "GET", f.srv.URL+"/console/groups", nil)
	if strings.Contains(page, string(g.ID)) {
		t.Fatal("alice's list shows bob's group")
	}
}

// Save rules makes the editor's rows the group's rules in one change; My
// IP is the address the request came from; a bad row changes nothing.
func TestSaveRules(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	alice := service.Caller{Account: aliceAcct, Region: region}
	g := f.group(t, "web")
	cl, csrf := f.signIn(t, aliceKey, aliceSecret)
	edit := f.srv.URL + "/console/groups/" + string(g.ID) + "/inbound/edit"
	rows := url.Values{"csrf": {csrf}, "action": {"save"},
		"rule_id": {"", ""}, "type": {"SSH", "Custom TCP"}, "protocol": {"", "tcp"}, "ports": {"", "8000-8080"},
		"source_kind": {"my-ip", "custom"}, "source": {"", "10.1.0.0/16"}, "description": {"me", ""}}
	resp, _ := do(t, cl, "POST", edit, rows)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: HTTP %d", resp.StatusCode)
	}
	rules, _, err := f.svc.DescribeSecurityGroupRules(ctx, alice, nil, []service.Filter{{Name: "group-id", Values: []string{string(g.ID)}}}, service.Page{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rules {
		if r.Rule.Direction == model.Ingress {
			got = append(got, r.Rule.Describe()+" "+r.Rule.Description)
		}
	}
	want := []string{"peer: 10.1.0.0/16, TCP, from port: 8000, to port: 8080, ALLOW ", "peer: 127.0.0.1/32, TCP, from port: 22, to port: 22, ALLOW me"}
	slices.Sort(got) // the service lists rules in ID order
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("inbound rules:\n%q\nwant\n%q", got, want)
	}

	// Dropping the SSH row and adding a bad one fails as a whole.
	_, page := do(t, cl, "GET", edit, nil)
	ids := regexp.MustCompile(`name="rule_id" value="(sgr-[0-9a-f]+)"`).FindAllStringSubmatch(page, -1)
	if len(ids) != 2 {
		t.Fatalf("editor shows %d rules", len(ids))
	}
	bad := url.Values{"csrf": {csrf}, "action": {"save"},
		"rule_id": {ids[1][1], ""}, "type": {"Custom TCP", "HTTPS"}, "protocol": {"tcp", ""}, "ports": {"8000-8080", ""},
		"source_kind": {"custom", "custom"}, "source": {"10.1.0.0/16", "10.0.0.0/33"}, "description": {"", ""}}
	resp, page = do(t, cl, "POST", edit, bad)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "InvalidParameterValue") {
		t.Fatalf("bad save: HTTP %d\n%s", resp.StatusCode, page)
	}
	after, _, _ := f.svc.DescribeSecurityGroupRules(ctx, alice, nil, []service.Filter{{Name: "group-id", Values: []string{string(g.ID)}}}, service.Page{})
	if len(after) != len(rules) {
		t.Fatalf("a failed save changed the rules: %d, were %d", len(after), len(rules))
	}
}

// Deleting a group in use shows DependencyViolation and says why.
func TestDeleteInUse(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	alice := service.Caller{Account: aliceAcct, Region: region}
	a, _ := f.svc.CreateSecurityGroup(ctx, alice, service.CreateSecurityGroupInput{Name: "a", Description: "a"})
	b, _ := f.svc.CreateSecurityGroup(ctx, alice, service.CreateSecurityGroupInput{Name: "b", Description: "b"})
	p := model.PermissionSpec{Protocol: "tcp", FromPort: i32(5432), ToPort: i32(5432), Groups: []model.GroupSourceSpec{{GroupID: string(a.ID)}}}
	if _, err := f.svc.Authorize(ctx, alice, service.AuthorizeInput{Group: service.GroupRef{ID: string(b.ID)}, Direction: model.Ingress, Permissions: []model.PermissionSpec{p}}); err != nil {
		t.Fatal(err)
	}
	cl, csrf := f.signIn(t, aliceKey, aliceSecret)
	resp, page := do(t, cl, "POST", f.srv.URL+"/console/groups/"+string(a.ID)+"/delete", url.Values{"csrf": {csrf}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "DependencyViolation") || !strings.Contains(page, "still in use") {
		t.Fatalf("delete in use: HTTP %d\n%s", resp.StatusCode, page)
	}
}

func TestOwns(t *testing.T) {
	for _, c := range []struct {
		method, target string
		want           bool
	}{
		{"GET", "/", true},
		{"HEAD", "/", true},
		{"GET", "/console/groups", true},
		{"POST", "/console/signin", true},
		{"GET", "/?Action=DescribeSecurityGroups", false},
		{"POST", "/", false},
		{"GET", "/healthz", false},
		{"GET", "/consolex", false},
		{"GET", "/favicon.ico", true},
	} {
		r := httptest.NewRequest(c.method, c.target, nil)
		if got := Owns(r); got != c.want {
			t.Errorf("Owns(%s %s) = %v, want %v", c.method, c.target, got, c.want)
		}
	}
}

// Every page, with its stylesheet and script, stays under 200 KB.
func TestPagesAreLight(t *testing.T) {
	f := newFixture(t, false)
	cl, _ := f.signIn(t, aliceKey, aliceSecret)
	_, static := do(t, cl, "GET", f.srv.URL+"/console/static/app.css", nil)
	_, js := do(t, cl, "GET", f.srv.URL+"/console/static/app.js", nil)
	_, groups := do(t, cl, "GET", f.srv.URL+"/console/groups", nil)
	id := regexp.MustCompile(`sg-[0-9a-f]+`).FindString(groups)
	for _, p := range []string{"/console/vpcs", "/console/groups", "/console/groups/new", "/console/groups/" + id,
		"/console/groups/" + id + "/inbound/edit", "/console/instances", "/console/enis",
		"/console/explain", "/console/audit"} {
		resp, page := do(t, cl, "GET", f.srv.URL+p, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: HTTP %d", p, resp.StatusCode)
		}
		if n := len(page) + len(static) + len(js); n > 200<<10 {
			t.Errorf("%s weighs %d bytes with its CSS and JS", p, n)
		}
	}
}

// Change security groups replaces an interface's groups through
// ModifyNetworkInterfaceAttribute; Test a connection and Audit show what
// service.Explain and service.Audit say.
func TestInterfacesExplainAudit(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	alice := service.Caller{Account: aliceAcct, Region: region}
	subnets, _, err := f.svc.DescribeSubnets(ctx, alice, nil, nil, service.Page{})
	if err != nil || len(subnets) == 0 {
		t.Fatalf("subnets: %v %v", subnets, err)
	}
	web := f.group(t, "web")
	open := model.PermissionSpec{Protocol: "tcp", FromPort: i32(22), ToPort: i32(22), IPv4: []model.SourceSpec{{Value: "0.0.0.0/0"}}}
	if _, err := f.svc.Authorize(ctx, alice, service.AuthorizeInput{Group: service.GroupRef{ID: string(web.ID)}, Direction: model.Ingress, Permissions: []model.PermissionSpec{open}}); err != nil {
		t.Fatal(err)
	}
	eni, err := f.svc.CreateNetworkInterface(ctx, alice, service.CreateNetworkInterfaceInput{SubnetID: string(subnets[0].ID)})
	if err != nil {
		t.Fatal(err)
	}
	cl, csrf := f.signIn(t, aliceKey, aliceSecret)
	u := f.srv.URL + "/console/enis/" + string(eni.ID) + "/groups"
	resp, page := do(t, cl, "GET", u, nil)
	if resp.StatusCode != 200 || !strings.Contains(page, string(web.ID)) {
		t.Fatalf("change groups page: HTTP %d\n%s", resp.StatusCode, page)
	}
	resp, page = do(t, cl, "POST", u, url.Values{"csrf": {csrf}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "at least one") {
		t.Fatalf("no group chosen: HTTP %d", resp.StatusCode)
	}
	if resp, _ = do(t, cl, "POST", u, url.Values{"csrf": {csrf}, "group": {string(web.ID)}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("change groups: HTTP %d", resp.StatusCode)
	}
	enis, _, _ := f.svc.DescribeNetworkInterfaces(ctx, alice, service.DescribeNetworkInterfacesInput{IDs: []string{string(eni.ID)}})
	if len(enis) != 1 || len(enis[0].Groups) != 1 || enis[0].Groups[0] != web.ID {
		t.Fatalf("groups after change: %+v", enis)
	}

	q := url.Values{"from": {"198.51.100.7"}, "to": {string(eni.ID)}, "protocol": {"tcp"}, "port": {"22"}}
	resp, page = do(t, cl, "GET", f.srv.URL+"/console/explain?"+q.Encode(), nil)
	if resp.StatusCode != 200 || !strings.Contains(page, "Allowed:") || !strings.Contains(page, string(web.ID)) {
		t.Fatalf("explain: HTTP %d\n%s", resp.StatusCode, page)
	}
	q.Set("port", "23")
	if _, page = do(t, cl, "GET", f.srv.URL+"/console/explain?"+q.Encode(), nil); !strings.Contains(page, "Blocked:") {
		t.Fatalf("explain port 23:\n%s", page)
	}
	resp, page = do(t, cl, "GET", f.srv.URL+"/console/audit", nil)
	if resp.StatusCode != 200 || !strings.Contains(page, "EC2.19") && !strings.Contains(page, "EC2.13") {
		t.Fatalf("audit: HTTP %d\n%s", resp.StatusCode, page)
	}
}

// A session ends as soon as its access key no longer works.
func TestSessionEndsWithItsKey(t *testing.T) {
	st := mem.New(mem.Options{})
	t.Cleanup(func() { st.Close() })
	svc, err := service.New(st, service.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var gone atomic.Bool
	keys := auth.KeyLookupFunc(func(id string) (string, string, bool) {
		if id != aliceKey || gone.Load() {
			return "", "", false
		}
		return aliceSecret, aliceAcct, true
	})
	f := &fixture{svc: svc, srv: httptest.NewServer(New(svc, keys, Options{Region: region}))}
	t.Cleanup(f.srv.Close)
	cl, _ := f.signIn(t, aliceKey, aliceSecret)
	if resp, _ := do(t, cl, "GET", f.srv.URL+"/console/groups", nil); resp.StatusCode != 200 {
		t.Fatalf("groups: HTTP %d", resp.StatusCode)
	}
	gone.Store(true)
	if resp, _ := do(t, cl, "GET", f.srv.URL+"/console/groups", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("groups once the key is gone: HTTP %d", resp.StatusCode)
	}
}

// The region switch moves the session to another served region; a region
// not served is refused.
func TestRegionSwitch(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	if _, err := f.svc.CreateSecurityGroup(ctx, service.Caller{Account: aliceAcct, Region: "eu-west-1"},
		service.CreateSecurityGroupInput{Name: "in-ireland", Description: "eu"}); err != nil {
		t.Fatal(err)
	}
	cl, csrf := f.signIn(t, aliceKey, aliceSecret)
	if _, page := do(t, cl, "GET", f.srv.URL+"/console/groups", nil); strings.Contains(page, "in-ireland") {
		t.Fatal("us-east-1 lists a group of eu-west-1")
	}
	if resp, _ := do(t, cl, "POST", f.srv.URL+"/console/region", url.Values{"csrf": {csrf}, "region": {"xx-fake-1"}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("switch to xx-fake-1: HTTP %d", resp.StatusCode)
	}
	if resp, _ := do(t, cl, "POST", f.srv.URL+"/console/region", url.Values{"csrf": {csrf}, "region": {"eu-west-1"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("switch to eu-west-1: HTTP %d", resp.StatusCode)
	}
	if _, page := do(t, cl, "GET", f.srv.URL+"/console/groups", nil); !strings.Contains(page, "in-ireland") || !strings.Contains(page, "<option selected>eu-west-1</option>") {
		t.Fatalf("eu-west-1 groups:\n%s", page)
	}
}

// The editor's Expires after gives a rule the expiry tag; an unchanged row
// keeps its rule and its expiry; Never replaces it with a rule that stays.
func TestSaveRulesWithExpiry(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	alice := service.Caller{Account: aliceAcct, Region: region}
	g := f.group(t, "web")
	cl, csrf := f.signIn(t, aliceKey, aliceSecret)
	edit := f.srv.URL + "/console/groups/" + string(g.ID) + "/inbound/edit"
	row := func(id, expires string) url.Values {
		return url.Values{"csrf": {csrf}, "action": {"save"}, "rule_id": {id}, "type": {"SSH"}, "protocol": {""}, "ports": {""},
			"source_kind": {"custom"}, "source": {"192.0.2.0/24"}, "description": {""}, "expires": {expires}}
	}
	inbound := func() []model.Rule {
		t.Helper()
		rules, _, err := f.svc.DescribeSecurityGroupRules(ctx, alice, nil, []service.Filter{{Name: "group-id", Values: []string{string(g.ID)}}}, service.Page{})
		if err != nil {
			t.Fatal(err)
		}
		var out []model.Rule
		for _, r := range rules {
			if r.Rule.Direction == model.Ingress {
				out = append(out, r.Rule)
			}
		}
		return out
	}
	_, page := do(t, cl, "GET", edit, nil)
	if !strings.Contains(page, "<span>Expires after</span><select name=\"expires\"") || !strings.Contains(page, ">1 hour</option>") {
		t.Fatalf("the editor has no labelled Expires after list:\n%s", page)
	}
	before := time.Now()
	if resp, page := do(t, cl, "POST", edit, row("", "1h")); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: HTTP %d\n%s", resp.StatusCode, page)
	}
	rules := inbound()
	at, ok := rules[0].ExpiresAt()
	if len(rules) != 1 || !ok || at.Before(before.Add(time.Hour-time.Second)) || at.After(time.Now().Add(time.Hour)) {
		t.Fatalf("rules %+v: want one expiring in 1 hour", rules)
	}
	if _, page := do(t, cl, "GET", f.srv.URL+"/console/groups/"+string(g.ID), nil); !strings.Contains(page, at.UTC().Format(time.RFC3339)) {
		t.Errorf("the group's page does not show the expiry %s", at.UTC().Format(time.RFC3339))
	}
	_, page = do(t, cl, "GET", edit, nil)
	if !strings.Contains(page, "Unchanged: "+at.UTC().Format(time.RFC3339)) {
		t.Errorf("the editor does not show the rule's expiry")
	}
	do(t, cl, "POST", edit, row(string(rules[0].ID), ""))
	if again := inbound(); len(again) != 1 || again[0].ID != rules[0].ID || !slices.Equal(again[0].Tags, rules[0].Tags) {
		t.Fatalf("an unchanged row changed its rule: %+v, was %+v", again, rules)
	}
	do(t, cl, "POST", edit, row(string(rules[0].ID), "never"))
	if again := inbound(); len(again) != 1 || again[0].ID == rules[0].ID || len(again[0].Tags) != 0 {
		t.Fatalf("Never: %+v, want a new rule without expiry", again)
	}
	resp, page := do(t, cl, "POST", edit, row("", "3 days"))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "InvalidParameterValue") {
		t.Fatalf("a bad Expires after: HTTP %d", resp.StatusCode)
	}
}

// TestGroupPageShowsHits: once a host publishes hit counters, the group
// page's rule tables have a Hits column with each rule's packets and last
// hit ("never" for a rule not hit); without counters there is no column.
func TestGroupPageShowsHits(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	alice := service.Caller{Account: aliceAcct, Region: region}
	g := f.group(t, "web")
	from, to := int32(22), int32(22)
	rules, err := f.svc.Authorize(ctx, alice, service.AuthorizeInput{Group: service.GroupRef{ID: string(g.ID)}, Direction: model.Ingress,
		Permissions: []model.PermissionSpec{{Protocol: "tcp", FromPort: &from, ToPort: &to, IPv4: []model.SourceSpec{{Value: "203.0.113.0/24"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	cl, _ := f.signIn(t, aliceKey, aliceSecret)
	page := f.srv.URL + "/console/groups/" + string(g.ID)
	if _, body := do(t, cl, "GET", page, nil); strings.Contains(body, "<th>Hits</th>") {
		t.Fatal("a Hits column without hit counters")
	}
	last := time.Date(2026, 12, 1, 11, 59, 0, 0, time.UTC)
	b, _ := json.Marshal(model.GroupHits{rules[0].Rule.ID: {Packets: 42, Bytes: 4200, LastHit: last}})
	if _, err := f.svc.Store().Txn(ctx, func(tx store.Tx) error {
		return tx.Put(model.HitsKey("h1", model.Scope{Account: aliceAcct, Region: region}, g.ID), b)
	}); err != nil {
		t.Fatal(err)
	}
	_, body := do(t, cl, "GET", page, nil)
	if !strings.Contains(body, "<th>Hits</th>") || !strings.Contains(body, "42 packets, last 2026-12-01 11:59:00 UTC") {
		t.Fatalf("group page with hit counters:\n%s", body)
	}
	if _, body := do(t, cl, "GET", page+"?tab=outbound", nil); !strings.Contains(body, "<td>never</td></tr>") {
		t.Errorf("the default egress rule, never hit, is not shown as never:\n%s", body)
	}
}

// flowList is a service.FlowSource holding fixed records.
type flowList []model.FlowRecord

func (l flowList) Recent(acct model.AccountID, after uint64) []model.FlowRecord {
	var out []model.FlowRecord
	for _, r := range l {
		if r.Account == acct && r.Seq > after {
			out = append(out, r)
		}
	}
	return out
}

// Preview changes names the flows seen lately that the edit would block:
// removing the SSH rule lists the SSH flow the data plane saw; keeping it
// lists none; a server that observes no flows says it cannot tell.
func TestPreviewShowsBlockedFlows(t *testing.T) {
	var flows flowList
	f := newFixture(t, false, service.WithFlows(&flows))
	ctx := context.Background()
	alice := service.Caller{Account: aliceAcct, Region: region}
	g := f.group(t, "ssh")
	from, to := int32(22), int32(22)
	if _, err := f.svc.Authorize(ctx, alice, service.AuthorizeInput{Group: service.GroupRef{ID: string(g.ID)}, Direction: model.Ingress,
		Permissions: []model.PermissionSpec{{Protocol: "tcp", FromPort: &from, ToPort: &to, IPv4: []model.SourceSpec{{Value: "203.0.113.0/24"}}}}}); err != nil {
		t.Fatal(err)
	}
	one := int32(1)
	res, err := f.svc.RunInstances(ctx, alice, service.RunInstancesInput{ImageID: "lab", MinCount: &one, MaxCount: &one, GroupIDs: []string{string(g.ID)}})
	if err != nil {
		t.Fatal(err)
	}
	inst := res.Instances[0]
	now := time.Now()
	flows = flowList{{Account: aliceAcct, Region: region, ENI: inst.ENIs[0], VPC: inst.VPC, Src: netip.MustParseAddr("203.0.113.9"),
		Dst: inst.PrivateIP, SrcPort: 40000, DstPort: 22, Proto: model.ProtoTCP, Action: "ACCEPT", Start: now.Add(-time.Minute),
		End: now, Direction: model.Ingress, Seq: 1, Flow: "f1"}}
	cl, csrf := f.signIn(t, aliceKey, aliceSecret)
	edit := f.srv.URL + "/console/groups/" + string(g.ID) + "/inbound/edit"
	_, page := do(t, cl, "POST", edit, url.Values{"csrf": {csrf}, "action": {"preview"}})
	if !strings.Contains(page, "Flows this change would block (1)") || !strings.Contains(page, "<td>203.0.113.9</td>") {
		t.Fatalf("preview of removing the SSH rule:\n%s", page)
	}
	g2, _, err := f.svc.DescribeSecurityGroups(ctx, alice, service.DescribeSecurityGroupsInput{IDs: []string{string(g.ID)}})
	if err != nil {
		t.Fatal(err)
	}
	rule := g2[0].RulesOf(model.Ingress)[0]
	keep := url.Values{"csrf": {csrf}, "action": {"preview"}, "rule_id": {string(rule.ID)}, "type": {"SSH"}, "protocol": {""},
		"ports": {""}, "source_kind": {"custom"}, "source": {"203.0.113.0/24"}, "description": {""}, "expires": {""}}
	if _, page := do(t, cl, "POST", edit, keep); !strings.Contains(page, "Flows this change would block (0)") ||
		!strings.Contains(page, "None of the flows seen in the last hour would be blocked.") {
		t.Fatalf("preview keeping the SSH rule:\n%s", page)
	}

	plain := newFixture(t, false)
	g3, err := plain.svc.CreateSecurityGroup(ctx, alice, service.CreateSecurityGroupInput{Name: "ssh", Description: "ssh"})
	if err != nil {
		t.Fatal(err)
	}
	cl, csrf = plain.signIn(t, aliceKey, aliceSecret)
	if _, page := do(t, cl, "POST", plain.srv.URL+"/console/groups/"+string(g3.ID)+"/inbound/edit", url.Values{"csrf": {csrf}, "action": {"preview"}}); !strings.Contains(page, "This server observes no flows") {
		t.Fatalf("preview without observed flows:\n%s", page)
	}
}

// The Flow logs page lists the account's flow logs and the flows seen
// lately, each with the rules that allowed it or the side that rejected
// it; without a data plane it says that it sees no flows.
func TestFlowLogsPage(t *testing.T) {
	var flows flowList
	f := newFixture(t, false, service.WithFlows(&flows))
	ctx := context.Background()
	alice := service.Caller{Account: aliceAcct, Region: region}
	vpcs, _, err := f.svc.DescribeVpcs(ctx, alice, nil, nil, service.Page{})
	if err != nil || len(vpcs) == 0 {
		t.Fatalf("default vpc: %v", err)
	}
	ids, _, err := f.svc.CreateFlowLogs(ctx, alice, service.CreateFlowLogsInput{ResourceIDs: []string{string(vpcs[0].ID)}, ResourceType: "VPC",
		TrafficType: "ALL", LogDestinationType: "s3", LogDestination: "arn:aws:s3:::audit-bucket/vpc"})
	if err != nil || len(ids) != 1 {
		t.Fatalf("create flow log: %v %v", ids, err)
	}
	now := time.Now()
	flows = flowList{
		{Account: aliceAcct, Region: region, ENI: "eni-0123456789abcdef0", Src: netip.MustParseAddr("203.0.113.9"), Dst: netip.MustParseAddr("172.31.0.5"),
			SrcPort: 40000, DstPort: 22, Proto: model.ProtoTCP, Action: "ACCEPT", Rules: []model.RuleID{"sgr-0123456789abcdef0"}, End: now, Seq: 1, Flow: "a"},
		{Account: aliceAcct, Region: region, ENI: "eni-0123456789abcdef0", Src: netip.MustParseAddr("198.51.100.7"), Dst: netip.MustParseAddr("172.31.0.5"),
			SrcPort: 40001, DstPort: 23, Proto: model.ProtoTCP, Action: "REJECT", RejectSide: "ingress", End: now, Seq: 2, Flow: "b"},
	}
	cl, _ := f.signIn(t, aliceKey, aliceSecret)
	_, page := do(t, cl, "GET", f.srv.URL+"/console/flowlogs", nil)
	for _, want := range []string{`href="/console/flowlogs" aria-current="page">Flow logs</a>`, "<td>" + string(ids[0]) + "</td>",
		"arn:aws:s3:::audit-bucket/vpc", "<td>203.0.113.9:40000</td>", "<td>sgr-0123456789abcdef0</td>", "<td>rejected on ingress</td>"} {
		if !strings.Contains(page, want) {
			t.Fatalf("flow logs page lacks %q:\n%s", want, page)
		}
	}
	plain := newFixture(t, false)
	cl, _ = plain.signIn(t, aliceKey, aliceSecret)
	if _, page := do(t, cl, "GET", plain.srv.URL+"/console/flowlogs", nil); !strings.Contains(page, "This server observes no flows") {
		t.Fatalf("flow logs page without flows:\n%s", page)
	}
}

// group creates a security group named name (its description too) in
// alice's default VPC.
func (f *fixture) group(t *testing.T, name string) *model.SecurityGroup {
	t.Helper()
	alice := service.Caller{Account: aliceAcct, Region: region}
	g, err := f.svc.CreateSecurityGroup(context.Background(), alice, service.CreateSecurityGroupInput{Name: name, Description: name})
	if err != nil {
		t.Fatal(err)
	}
	return g
}
