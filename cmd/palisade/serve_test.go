package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"palisade.dev/palisade/internal/auth"
	"palisade.dev/palisade/internal/service"
	"palisade.dev/palisade/internal/testutil"
)

// parseServe parses args for serve, with env as the environment, and
// returns the resulting configuration.
func parseServe(t *testing.T, env map[string]string, args ...string) (serveConfig, error) {
	t.Helper()
	cfg := defaultServeConfig()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	cfg.flags(fs)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	err := applyEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		return cfg, err
	}
	return cfg, cfg.check()
}

func TestServeDefaults(t *testing.T) {
	cfg, err := parseServe(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:4566" || cfg.DataDir != "" || cfg.Dataplane != "none" ||
		cfg.Service.MaxRulesPerGroup != 60 || cfg.Service.MaxGroupsPerInterface != 5 ||
		cfg.Service.IPv6Pool != netip.MustParsePrefix("fd00::/8") ||
		!slices.Equal(cfg.Service.Regions, service.AWSRegions()) {
		t.Fatalf("%+v", cfg)
	}
}

func TestServeEnvironmentAndFlags(t *testing.T) {
	env := map[string]string{
		"PALISADE_LISTEN":                   "0.0.0.0:9999",
		"PALISADE_DATA_DIR":                 "/srv/palisade",
		"PALISADE_MAX_RULES_PER_GROUP":      "200",
		"PALISADE_MAX_GROUPS_PER_INTERFACE": "16",
		"PALISADE_IPV6_POOL":                "fd12:3456::/32",
		"PALISADE_DATAPLANE":                "none",
		"PALISADE_REGIONS":                  "eu-west-1, lab-west-1",
	}
	cfg, err := parseServe(t, env, "--listen", "127.0.0.1:1234", "--max-rules-per-group=1000")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:1234" || cfg.Service.MaxRulesPerGroup != 1000 { // flags win
		t.Fatalf("%+v", cfg)
	}
	if cfg.DataDir != "/srv/palisade" || cfg.Service.MaxGroupsPerInterface != 16 ||
		cfg.Service.IPv6Pool != netip.MustParsePrefix("fd12:3456::/32") ||
		!slices.Equal(cfg.Service.Regions, []string{"eu-west-1", "lab-west-1"}) { // the environment beats defaults
		t.Fatalf("%+v", cfg)
	}
	cfg, err = parseServe(t, env, "--regions", "us-east-1")
	if err != nil || !slices.Equal(cfg.Service.Regions, []string{"us-east-1"}) {
		t.Fatalf("%+v %v", cfg, err)
	}
}

func TestServeRejectsBadSettings(t *testing.T) {
	cases := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"--max-rules-per-group", "1001"}, "--max-rules-per-group 1001: must be 1 to 1000"},
		{nil, []string{"--max-rules-per-group", "0"}, "must be 1 to 1000"},
		{nil, []string{"--max-groups-per-interface", "17"}, "--max-groups-per-interface 17: must be 1 to 16"},
		{nil, []string{"--dataplane", "kernel"}, `--dataplane "kernel": must be none or lab`},
		{nil, []string{"--ipv6-pool", "10.0.0.0/8"}, "--ipv6-pool"},
		{nil, []string{"--ipv6-pool", "fd00::1/8"}, "host bits"},
		{nil, []string{"--ipv6-pool", "fd00::/64"}, "/56 or shorter"},
		{nil, []string{"--listen", ""}, "--listen"},
		{nil, []string{"--regions", ""}, `region "": not a region name`},
		{nil, []string{"--regions", "us-east-1,,eu-west-1"}, `region "": not a region name`},
		{nil, []string{"--regions", "us-east-1,us-east-1"}, "listed twice"},
		{map[string]string{"PALISADE_REGIONS": "Moon"}, nil, `PALISADE_REGIONS="Moon"`},
		{map[string]string{"PALISADE_MAX_RULES_PER_GROUP": "many"}, nil, `PALISADE_MAX_RULES_PER_GROUP="many"`},
		{map[string]string{"PALISADE_IPV6_POOL": "nope"}, nil, `PALISADE_IPV6_POOL="nope"`},
	}
	for _, c := range cases {
		_, err := parseServe(t, c.env, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %v: got %v, want %q", c.env, c.args, err, c.want)
		}
	}
}

func TestServeHelpNamesEnvironmentVariables(t *testing.T) {
	cmd := newRootCmd()
	var out strings.Builder
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"serve", "--help"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"$PALISADE_LISTEN", "$PALISADE_DATA_DIR", "$PALISADE_DATAPLANE", "$PALISADE_IPV6_POOL",
		"$PALISADE_MAX_RULES_PER_GROUP", "$PALISADE_MAX_GROUPS_PER_INTERFACE", "$PALISADE_TLS_CERT", "$PALISADE_TLS_KEY",
		"$PALISADE_MAX_CONNECTIONS", "$PALISADE_REGIONS"} {
		if !strings.Contains(out.String(), v) {
			t.Errorf("help lacks %s:\n%s", v, out.String())
		}
	}
}

// TestLabDataplaneRefusesClearly: without root the lab says why; with root,
// a second serve with the lab on the same machine is refused (the lab lock
// is held) before anything is created.
func TestLabDataplaneRefusesClearly(t *testing.T) {
	cfg := defaultServeConfig()
	cfg.Dataplane = "lab"
	cfg.DataDir = t.TempDir()
	want := "needs root"
	if os.Geteuid() == 0 {
		want = "a palisade serve or agent runs this lab on this machine"
		// Hold the lab lock; if another process (a lab test) holds it, the
		// answer is the same.
		if unlock, err := lockLab(); err == nil {
			defer unlock()
		} else if !strings.Contains(err.Error(), want) {
			t.Fatal(err)
		}
	}
	err := runServe(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
	if entries, _ := os.ReadDir(cfg.DataDir); len(entries) != 0 {
		t.Fatalf("the data directory was touched: %v", entries)
	}
}

func TestDefaultDataDir(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	homes := func(uid string) (string, error) {
		if uid == "1000" {
			return "/home/alice", nil
		}
		return "", errors.New("no such user")
	}
	t.Setenv("HOME", "/root")
	cases := []struct {
		getenv func(string) string
		euid   int
		want   string
	}{
		{env("XDG_STATE_HOME", "/x/state"), 1000, "/x/state/palisade"},
		{env("XDG_STATE_HOME", "relative/state"), 0, "/root/.local/state/palisade"},
		{env(), 0, "/root/.local/state/palisade"},
		{env("SUDO_UID", "1000", "SUDO_GID", "1000", "SUDO_USER", "alice"), 0, "/home/alice/.local/state/palisade"},
		{env("SUDO_UID", "1000", "SUDO_GID", "1000"), 1000, "/root/.local/state/palisade"}, // not root: sudo -u
		{env("SUDO_UID", "1000", "SUDO_GID", "1000", "XDG_STATE_HOME", "/home/alice/.state"), 0, "/home/alice/.state/palisade"},
	}
	for i, c := range cases {
		got, err := defaultDataDir(c.getenv, c.euid, homes)
		if err != nil || got != c.want {
			t.Errorf("case %d: %q %v, want %q", i, got, err, c.want)
		}
	}
	if _, err := defaultDataDir(env("SUDO_UID", "4242", "SUDO_GID", "4242"), 0, homes); err == nil ||
		!strings.Contains(err.Error(), "--data-dir") {
		t.Errorf("unknown sudo user: %v", err)
	}
}

func TestSudoOwner(t *testing.T) {
	get := func(uid, gid string) func(string) string {
		return func(k string) string {
			return map[string]string{"SUDO_UID": uid, "SUDO_GID": gid}[k]
		}
	}
	if o := sudoOwner(0, get("1000", "1001")); !o.set || o.uid != 1000 || o.gid != 1001 {
		t.Fatalf("%+v", o)
	}
	for _, c := range []struct {
		euid     int
		uid, gid string
	}{{1000, "1000", "1000"}, {0, "", ""}, {0, "x", "1"}, {0, "0", "0"}, {0, "1000", ""}} {
		if o := sudoOwner(c.euid, get(c.uid, c.gid)); o.set {
			t.Errorf("%+v gave %+v", c, o)
		}
	}
}

// Under sudo, what serve creates belongs to the invoking user; what already
// existed keeps its owner.
func TestMakeDataDirGivesCreatedDirectoriesToTheSudoUser(t *testing.T) {
	testutil.RequireRoot(t)
	base := t.TempDir()
	own := owner{uid: 4321, gid: 4322, set: true}
	dir := filepath.Join(base, "home", ".local", "state", "palisade")
	if err := makeDataDir(dir, own); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(base, "home"), filepath.Join(base, "home", ".local"), dir} {
		uid, gid, mode := ownerOf(t, d)
		if uid != 4321 || gid != 4322 {
			t.Errorf("%s owned by %d:%d", d, uid, gid)
		}
		if d == dir && mode != 0o700 {
			t.Errorf("data directory mode %o", mode)
		}
	}
	if uid, _, _ := ownerOf(t, base); uid != 0 {
		t.Errorf("existing directory %s was given away", base)
	}
	if err := makeDataDir(dir, own); err != nil { // again: nothing to do
		t.Fatal(err)
	}
	file := filepath.Join(base, "file")
	os.WriteFile(file, nil, 0o600)
	if err := makeDataDir(file, owner{}); err == nil {
		t.Fatal("a file was accepted as the data directory")
	}
}

func TestClientFiles(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	key := auth.AccessKey{ID: "AKIAAAAAAAAAAAAAAAAA", Secret: "s3cr3t/+", Account: "123456789012"}
	creds, cfg := filepath.Join(dir, "credentials"), filepath.Join(dir, "config")

	if err := writeClientFiles(dir, key, true, "us-east-1", owner{}, log); err != nil {
		t.Fatal(err)
	}
	wantFile(t, creds, "[palisade]\naws_access_key_id = AKIAAAAAAAAAAAAAAAAA\naws_secret_access_key = s3cr3t/+\n", 0o600)
	wantFile(t, cfg, "[profile palisade]\nregion = us-east-1\n", 0o644)

	// Later starts touch nothing, even when the user edited the files.
	os.WriteFile(creds, []byte("edited"), 0o600)
	os.WriteFile(cfg, []byte("edited too"), 0o600)
	if err := writeClientFiles(dir, key, false, "us-east-1", owner{}, log); err != nil {
		t.Fatal(err)
	}
	wantFile(t, creds, "edited", 0o600)
	wantFile(t, cfg, "edited too", 0o644)

	// A missing file is written again; the other one stays.
	os.Remove(creds)
	if err := writeClientFiles(dir, key, false, "us-east-1", owner{}, log); err != nil {
		t.Fatal(err)
	}
	wantFile(t, creds, credentialsText(key), 0o600)
	wantFile(t, cfg, "edited too", 0o644)

	// A fresh store makes the old credentials stale: they are replaced.
	os.WriteFile(creds, []byte("stale"), 0o644)
	if err := writeClientFiles(dir, key, true, "us-east-1", owner{}, log); err != nil {
		t.Fatal(err)
	}
	wantFile(t, creds, credentialsText(key), 0o600)
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestClientRegion(t *testing.T) {
	for _, c := range []struct {
		served []string
		want   string
	}{{service.AWSRegions(), "us-east-1"}, {[]string{"eu-west-1", "us-east-1"}, "us-east-1"}, {[]string{"lab-1", "eu-west-1"}, "lab-1"}} {
		if got := clientRegion(c.served); got != c.want {
			t.Errorf("%v: %s, want %s", c.served, got, c.want)
		}
	}
}

func TestClientFilesBelongToTheSudoUser(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	key := auth.AccessKey{ID: "AKIAAAAAAAAAAAAAAAAA", Secret: "s"}
	if err := writeClientFiles(dir, key, true, "us-east-1", owner{uid: 4321, gid: 4322, set: true}, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"credentials", "config"} {
		if uid, gid, _ := ownerOf(t, filepath.Join(dir, f)); uid != 4321 || gid != 4322 {
			t.Errorf("%s owned by %d:%d", f, uid, gid)
		}
	}
}

func TestHealthz(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h := newRootHandler(api)
	get := func(method, path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		body, _ := io.ReadAll(rec.Body)
		return rec.Code, string(body)
	}
	if code, body := get("GET", "/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("%d %q", code, body)
	}
	if code, _ := get("HEAD", "/healthz"); code != 200 {
		t.Fatalf("HEAD %d", code)
	}
	if code, _ := get("POST", "/healthz"); code != 405 {
		t.Fatalf("POST %d", code)
	}
	if code, _ := get("GET", "/"); code != http.StatusTeapot {
		t.Fatalf("the API did not get /: %d", code)
	}
	h.stopping.Store(true)
	if code, _ := get("GET", "/healthz"); code != 503 {
		t.Fatalf("while stopping: %d", code)
	}
}

func wantFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(path)
	if string(b) != content || info.Mode().Perm() != mode {
		t.Fatalf("%s: %q mode %o, want %q mode %o", path, b, info.Mode().Perm(), content, mode)
	}
}

func ownerOf(t *testing.T, path string) (uid, gid int, mode os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := info.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid), info.Mode().Perm()
}

func TestServeTLSAndConnectionSettings(t *testing.T) {
	cfg, err := parseServe(t, map[string]string{"PALISADE_TLS_CERT": "/c.pem", "PALISADE_TLS_KEY": "/k.pem",
		"PALISADE_MAX_CONNECTIONS": "64"})
	if err != nil || cfg.TLSCert != "/c.pem" || cfg.TLSKey != "/k.pem" || cfg.MaxConnections != 64 {
		t.Fatalf("%+v %v", cfg, err)
	}
	if cfg, _ := parseServe(t, nil); cfg.MaxConnections != 1024 || cfg.TLSCert != "" {
		t.Fatalf("defaults %+v", cfg)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert", "/c.pem"}, "--tls-cert and --tls-key: give both or neither"},
		{[]string{"--tls-key", "/k.pem"}, "give both or neither"},
		{[]string{"--max-connections", "0"}, "--max-connections 0: must be at least 1"},
	} {
		if _, err := parseServe(t, nil, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want %q", c.args, err, c.want)
		}
	}
	cfg = defaultServeConfig()
	cfg.DataDir = t.TempDir()
	cfg.TLSCert, cfg.TLSKey = filepath.Join(cfg.DataDir, "missing.pem"), filepath.Join(cfg.DataDir, "missing.key")
	err = runServe(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "--tls-cert") {
		t.Fatalf("a missing certificate: %v", err)
	}
}

func TestClearTextWarning(t *testing.T) {
	for _, c := range []struct {
		addr string
		tls  bool
		warn bool
	}{
		{"127.0.0.1:4566", false, false}, {"[::1]:4566", false, false},
		{"0.0.0.0:4566", false, true}, {"[::]:4566", false, true}, {"192.0.2.7:4566", false, true},
		{"0.0.0.0:4566", true, false},
	} {
		var out strings.Builder
		warnClearText(slog.New(slog.NewTextHandler(&out, nil)), net.TCPAddrFromAddrPort(netip.MustParseAddrPort(c.addr)), c.tls)
		if got := strings.Contains(out.String(), "level=WARN") && strings.Contains(out.String(), "clear text"); got != c.warn {
			t.Errorf("%s tls=%v: warned %v: %q", c.addr, c.tls, got, out.String())
		}
	}
}

// TestConnectionCap: beyond --max-connections, a new client waits until a
// connection closes, then is served.
func TestConnectionCap(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "served") })
	go func() {
		done <- serveUntilDone(ctx, limitListener(ln, 1, nil), "http", newRootHandler(api), slog.New(slog.DiscardHandler))
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	held, err := net.Dial("tcp", ln.Addr().String()) // an idle client holds the only slot
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	answered := make(chan string, 1)
	go func() {
		resp, err := client.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			answered <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answered <- string(b)
	}()
	select {
	case got := <-answered:
		t.Fatalf("answered beyond the cap: %q", got)
	case <-time.After(300 * time.Millisecond):
	}
	held.Close()
	if got := <-answered; got != "served" {
		t.Fatalf("after the slot was freed: %q", got)
	}
}

// TestTuneProcs: serve runs Go code on serveProcs processors, unless
// GOMAXPROCS is set, which wins as in any Go program.
func TestTuneProcs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	env := func(vars map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	}
	runtime.GOMAXPROCS(serveProcs + 1)
	tuneProcs(env(nil))
	if got := runtime.GOMAXPROCS(0); got != serveProcs {
		t.Errorf("GOMAXPROCS unset: %d processors, want %d", got, serveProcs)
	}
	runtime.GOMAXPROCS(serveProcs + 1)
	tuneProcs(env(map[string]string{"GOMAXPROCS": "2"}))
	if got := runtime.GOMAXPROCS(0); got != serveProcs+1 {
		t.Errorf("GOMAXPROCS set: %d processors, want the runtime's %d, left alone", got, serveProcs+1)
	}
}

// TestTuneGC: a daemon raises the collector's target to daemonGCPercent,
// unless GOGC is set, which wins as in any Go program.
func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	env := func(vars map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	}
	tuneGC(env(nil))
	if got := debug.SetGCPercent(100); got != daemonGCPercent {
		t.Errorf("GOGC unset: GC percent %d, want %d", got, daemonGCPercent)
	}
	tuneGC(env(map[string]string{"GOGC": "100"}))
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC=100 set: GC percent %d, want the environment's 100", got)
	}
}
