// Package console is Palisade's web console: server-rendered HTML pages,
// embedded in the binary, served by palisade serve beside the EC2 Query
// API. A user signs in with an access key; every page reads and every form
// changes the signed-in account through the same service calls as the API,
// and errors are shown with AWS's code and message, in words.
package console

import (
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"palisade.dev/palisade/internal/auth"
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// CookieName is the session cookie.
const CookieName = "palisade_console"

// signinCookie carries the sign-in form's CSRF token (double submit): a
// sign-in posted from another site has neither, so nobody can sign a
// browser into their own account behind its user's back.
const signinCookie = "palisade_console_signin"

// DefaultSessionTTL is how long a session lasts after sign-in.
const DefaultSessionTTL = 8 * time.Hour

// maxSessions bounds the sessions held in memory; beyond it the oldest
// ends.
const maxSessions = 10000

// Options configure a Console.
type Options struct {
	Region     string        // the region the console works in
	SessionTTL time.Duration // 0: DefaultSessionTTL
	Now        func() time.Time
	Log        *slog.Logger
}

// Console serves the web console. It is an http.Handler for "/" (GET
// without a query) and everything under "/console/".
type Console struct {
	svc   *service.Service
	keys  auth.KeyLookup
	opt   Options
	pages map[string]*template.Template
	mux   *http.ServeMux
	mu    sync.Mutex
	byID  map[string]*session
}

// session is one signed-in browser.
type session struct {
	id      string
	keyID   string
	account model.AccountID
	csrf    string
	expires time.Time
	region  atomic.Value // string: the region the session works in
}

// New returns the console over svc, whose users sign in with keys.
func New(svc *service.Service, keys auth.KeyLookup, opt Options) *Console {
	if opt.SessionTTL <= 0 {
		opt.SessionTTL = DefaultSessionTTL
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	opt.Log = opt.Log.With("component", "console")
	c := &Console{svc: svc, keys: keys, opt: opt, byID: map[string]*session{}, pages: parsePages()}
	c.routes()
	return c
}

// Owns reports whether a request is the console's rather than the API's:
// GET or HEAD of / without a query string, every path under /console, and
// the /favicon.ico that browsers ask for.
func Owns(r *http.Request) bool {
	if r.URL.Path == "/console" || strings.HasPrefix(r.URL.Path, "/console/") || r.URL.Path == "/favicon.ico" {
		return true
	}
	return r.URL.Path == "/" && r.URL.RawQuery == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead)
}

func parsePages() map[string]*template.Template {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		out[base] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n))
	}
	return out
}

func (c *Console) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/", http.StatusSeeOther)
	})
	m.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/", http.StatusSeeOther)
	})
	m.HandleFunc("GET /favicon.ico", http.NotFound)
	m.HandleFunc("GET /console/signin", c.signinPage)
	m.HandleFunc("POST /console/signin", c.signin)
	m.HandleFunc("POST /console/signout", c.auth(c.signout))
	m.HandleFunc("POST /console/region", c.auth(c.setRegion))
	m.HandleFunc("GET /console/{$}", c.auth(func(w http.ResponseWriter, r *http.Request, s *session) {
		http.Redirect(w, r, "/console/groups", http.StatusSeeOther)
	}))
	m.HandleFunc("GET /console/vpcs", c.auth(c.vpcs))
	m.HandleFunc("GET /console/groups", c.auth(c.groups))
	m.HandleFunc("GET /console/groups/new", c.auth(c.newGroupPage))
	m.HandleFunc("POST /console/groups/new", c.auth(c.createGroup))
	m.HandleFunc("GET /console/groups/{id}", c.auth(c.group))
	m.HandleFunc("POST /console/groups/{id}/delete", c.auth(c.deleteGroup))
	m.HandleFunc("GET /console/groups/{id}/{dir}/edit", c.auth(c.editRulesPage))
	m.HandleFunc("POST /console/groups/{id}/{dir}/edit", c.auth(c.saveRules))
	m.HandleFunc("GET /console/instances", c.auth(c.instances))
	m.HandleFunc("GET /console/enis", c.auth(c.enis))
	m.HandleFunc("GET /console/instances/{id}/groups", c.auth(c.changeGroupsPage))
	m.HandleFunc("POST /console/instances/{id}/groups", c.auth(c.changeGroups))
	m.HandleFunc("GET /console/enis/{id}/groups", c.auth(c.changeGroupsPage))
	m.HandleFunc("POST /console/enis/{id}/groups", c.auth(c.changeGroups))
	m.HandleFunc("GET /console/explain", c.auth(c.explainPage))
	m.HandleFunc("GET /console/audit", c.auth(c.auditPage))
	m.HandleFunc("GET /console/flowlogs", c.auth(c.flowLogsPage))
	c.mux = m
}

// ServeHTTP serves the console's pages with headers that keep them out of
// frames and caches and away from any other origin's scripts.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	if !strings.HasPrefix(r.URL.Path, "/console/static/") {
		h.Set("Cache-Control", "no-store")
	}
	c.mux.ServeHTTP(w, r)
}

// authed is a handler for a signed-in session.
type authed func(w http.ResponseWriter, r *http.Request, s *session)

// auth requires a live session whose key still works; a POST must also
// carry the session's CSRF token. Without a session the browser is sent to
// sign in.
func (c *Console) auth(h authed) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := c.sessionOf(r)
		if s == nil {
			if r.Method == http.MethodPost {
				c.fail(w, r, nil, http.StatusForbidden, "Your session has ended. Sign in again.")
				return
			}
			http.Redirect(w, r, "/console/signin", http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			if err := r.ParseForm(); err != nil {
				c.fail(w, r, s, http.StatusBadRequest, "The form could not be read.")
				return
			}
			if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(s.csrf)) != 1 {
				c.opt.Log.Warn("refused a change without the session's CSRF token", "account", s.account, "path", r.URL.Path)
				c.fail(w, r, s, http.StatusForbidden, "The form did not carry this session's security token (CSRF); nothing was changed. Reload the page and try again.")
				return
			}
		}
		h(w, r, s)
	}
}

// sessionOf returns the live session of the request's cookie, or nil. A
// session ends at its expiry, and as soon as its access key no longer
// works (deleted or disabled).
func (c *Console) sessionOf(r *http.Request) *session {
	ck, err := r.Cookie(CookieName)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	s := c.byID[ck.Value]
	if s != nil && !c.opt.Now().Before(s.expires) {
		delete(c.byID, s.id)
		s = nil
	}
	c.mu.Unlock()
	if s == nil {
		return nil
	}
	if _, acct, ok := c.keys.LookupKey(s.keyID); !ok || model.AccountID(acct) != s.account {
		c.end(s.id)
		return nil
	}
	return s
}

func (c *Console) end(id string) {
	c.mu.Lock()
	delete(c.byID, id)
	c.mu.Unlock()
}

// newSession starts a session for the key's account.
func (c *Console) newSession(keyID string, acct model.AccountID) *session {
	now := c.opt.Now()
	s := &session{id: token(), keyID: keyID, account: acct, csrf: token(), expires: now.Add(c.opt.SessionTTL)}
	s.region.Store(c.opt.Region)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.byID) >= maxSessions {
		var oldest *session
		for _, o := range c.byID {
			if !now.Before(o.expires) {
				delete(c.byID, o.id)
			} else if oldest == nil || o.expires.Before(oldest.expires) {
				oldest = o
			}
		}
		if len(c.byID) >= maxSessions && oldest != nil {
			delete(c.byID, oldest.id)
		}
	}
	c.byID[s.id] = s
	return s
}

// token is 256 random bits, URL-safe.
func token() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (c *Console) signinPage(w http.ResponseWriter, r *http.Request) {
	if c.sessionOf(r) != nil {
		http.Redirect(w, r, "/console/groups", http.StatusSeeOther)
		return
	}
	c.signinForm(w, r, http.StatusOK, "", "")
}

// signinForm shows the sign-in form with a fresh CSRF token, in the form
// and in a short-lived cookie.
func (c *Console) signinForm(w http.ResponseWriter, r *http.Request, status int, keyID, msg string) {
	tok := token()
	http.SetCookie(w, &http.Cookie{Name: signinCookie, Value: tok, Path: "/console/signin", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: 3600})
	c.render(w, r, nil, status, "signin", map[string]any{"Error": msg, "KeyID": keyID, "CSRF": tok})
}

// signin checks the access key and secret as the API's key lookup knows
// them and starts a session.
func (c *Console) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		c.fail(w, r, nil, http.StatusBadRequest, "The form could not be read.")
		return
	}
	keyID := strings.TrimSpace(r.PostForm.Get("access_key_id"))
	ck, err := r.Cookie(signinCookie)
	if err != nil || ck.Value == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostForm.Get("csrf"))) != 1 {
		c.signinForm(w, r, http.StatusForbidden, keyID, "The sign-in form had expired or came from elsewhere (CSRF); sign in again.")
		return
	}
	secret := r.PostForm.Get("secret_access_key")
	want, acct, ok := c.keys.LookupKey(keyID)
	if !ok || keyID == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(want)) != 1 {
		c.opt.Log.Info("console sign-in refused", "access_key_id", clip(keyID), "remote", r.RemoteAddr)
		c.signinForm(w, r, http.StatusUnauthorized, keyID, "The access key ID or the secret access key is not valid.")
		return
	}
	s := c.newSession(keyID, model.AccountID(acct))
	c.opt.Log.Info("console sign-in", "account", acct, "access_key_id", keyID)
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: s.id, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: int(c.opt.SessionTTL / time.Second)})
	http.Redirect(w, r, "/console/groups", http.StatusSeeOther)
}

func (c *Console) signout(w http.ResponseWriter, r *http.Request, s *session) {
	c.end(s.id)
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: -1})
	http.Redirect(w, r, "/console/signin", http.StatusSeeOther)
}

// caller is the session's account in the session's region.
func (c *Console) caller(s *session) service.Caller {
	return service.Caller{Account: s.account, Region: s.region.Load().(string)}
}

// setRegion switches the session to another served region.
func (c *Console) setRegion(w http.ResponseWriter, r *http.Request, s *session) {
	region := r.PostForm.Get("region")
	if !slices.Contains(c.svc.Config().Regions, region) {
		c.fail(w, r, s, http.StatusBadRequest, "This server does not serve the region "+clip(region)+".")
		return
	}
	s.region.Store(region)
	// Back to the list the user was on (a resource page would name a
	// resource of the old region).
	back := "/console/groups"
	if ref, err := url.Parse(r.Referer()); err == nil {
		switch ref.Path {
		case "/console/vpcs", "/console/instances", "/console/enis", "/console/explain", "/console/audit", "/console/flowlogs":
			back = ref.Path
		}
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// page is what every template gets.
type page struct {
	Title   string
	Nav     string
	Account model.AccountID
	Region  string
	Regions []string // the regions served, for the region switch
	CSRF    string
	Error   string
	Code    string
	Data    any
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, s *session, status int, name string, data any) {
	c.renderPage(w, s, status, name, page{Data: data})
}

func (c *Console) renderPage(w http.ResponseWriter, s *session, status int, name string, p page) {
	t := c.pages[name]
	p.Region = c.opt.Region
	if s != nil {
		p.Account, p.CSRF, p.Region = s.account, s.csrf, s.region.Load().(string)
		p.Regions = c.svc.Config().Regions
	}
	if p.Nav == "" {
		p.Nav = name
	}
	var b strings.Builder
	if err := t.Execute(&b, p); err != nil {
		c.opt.Log.Error("render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte(b.String()))
}

// fail shows an error page with a message in words.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	c.renderPage(w, s, status, "error", page{Title: "Error", Error: msg})
}

// failErr shows a service error: its AWS code and message, and what it
// means.
func (c *Console) failErr(w http.ResponseWriter, r *http.Request, s *session, err error) {
	c.renderPage(w, s, statusOf(err), "error", page{Title: "Error", Error: inWords(err), Code: model.CodeOf(err)})
}

// statusOf maps a service error to an HTTP status for the error page.
func statusOf(err error) int {
	code := model.CodeOf(err)
	switch {
	case strings.HasSuffix(code, ".NotFound"):
		return http.StatusNotFound
	case code == model.CodeInternalError || code == "" || code == model.CodeUnavailable:
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// inWords is an error as the console shows it: AWS's message, and for the
// errors users meet most, what it means and what to do.
func inWords(err error) string {
	var me *model.Error
	if !errors.As(err, &me) {
		return "Something went wrong: " + err.Error()
	}
	msg := me.Message
	switch {
	case me.Code == model.CodeDependencyViolation:
		msg += ". This security group is still in use: a network interface (of an instance, for example) has it, " +
			"or a rule of another security group names it as its source or destination. Remove it from those " +
			"interfaces and rules first, then delete it."
	case me.Code == model.CodeInvalidPermissionDuplicate:
		msg += ". The group already has this rule; each rule (type, protocol, ports and source) may appear only once."
	case me.Code == model.CodeCannotDelete:
		msg += ". Every VPC keeps its default security group."
	case strings.HasSuffix(me.Code, ".NotFound"):
		msg += ". It does not exist in this account and region."
	}
	return msg
}

// remoteAddr is the address the browser's request came from.
func remoteAddr(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
