package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	bbolt "go.etcd.io/bbolt"
	"golang.org/x/net/netutil"

	"palisade.dev/palisade/internal/agent"
	"palisade.dev/palisade/internal/auth"
	"palisade.dev/palisade/internal/console"
	"palisade.dev/palisade/internal/ec2api"
	"palisade.dev/palisade/internal/service"
	"palisade.dev/palisade/internal/store/bolt"
	"palisade.dev/palisade/internal/sysmon"
)

// Timeouts of the HTTP server. Query API requests are small (bodies are
// capped at 1 MiB) and answered in milliseconds.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = time.Minute
	idleTimeout       = 2 * time.Minute
	shutdownTimeout   = 10 * time.Second
	maxHeaderBytes    = 64 << 10
)

// dbFile is the store's file in the data directory.
const dbFile = "palisade.db"

func newServeCmd() *cobra.Command {
	cfg := defaultServeConfig()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the control plane: the EC2 security-group API",
		Long: `Serve the EC2 security-group API (and sts:GetCallerIdentity) on --listen.

On first start with an empty data directory, serve creates an admin account
and writes its credentials in the AWS shared-credentials format to
DATA_DIR/credentials (profile "palisade") and DATA_DIR/config. Every flag can
also be set with the PALISADE_* environment variable shown in its help;
flags win.`,
		Args: cobra.NoArgs,
	}
	daemon(cmd, func(ctx context.Context, log *slog.Logger) error {
		tuneProcs(os.LookupEnv)
		return runServe(ctx, cfg, log)
	})
	cfg.flags(cmd.Flags())
	documentEnv(cmd.Flags())
	return cmd
}

// daemon makes cmd a long-running command: flags may come from PALISADE_*
// variables, run gets a context that ends on SIGTERM or SIGINT and a text
// logger on stderr, and "stopped" is logged when it returns cleanly.
func daemon(cmd *cobra.Command, run func(ctx context.Context, log *slog.Logger) error) {
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error { return applyEnv(cmd.Flags(), os.LookupEnv) }
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		slack, sysmonTID, slackErr := sysmon.Tune() // first: it may re-execute the program
		tuneGC(os.LookupEnv)
		ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
		logSlack(log, slack, sysmonTID, slackErr)
		if err := run(ctx, log); err != nil {
			return err
		}
		log.Info("stopped")
		return nil
	}
}

// logSlack logs what sysmon.Tune did.
func logSlack(log *slog.Logger, scope sysmon.Scope, tid int, err error) {
	const msg = "go runtime: sysmon's timer slack"
	switch {
	case err != nil:
		log.Warn(msg+" left at the kernel's default; API calls cost more CPU", "err", err)
	case scope == sysmon.SysmonThread:
		log.Info(msg, "scope", string(scope), "thread", tid, "timer_slack", sysmon.TimerSlack)
	case scope == sysmon.EveryThread:
		log.Info(msg, "scope", string(scope), "timer_slack", sysmon.TimerSlack)
	default:
		log.Info(msg, "scope", string(scope))
	}
}

// daemonGCPercent is the garbage collector's target (GOGC) of long-running
// commands when the environment sets none. A daemon's live heap is small
// and its requests allocate much that dies at once: measured side by side
// on a two-core machine, serve spent 16% less CPU per API call at 400 than
// at Go's default of 100, for a heap that peaks at five times the live
// data instead of twice.
const daemonGCPercent = 400

// tuneGC sets daemonGCPercent unless GOGC is set in the environment.
func tuneGC(lookupEnv func(string) (string, bool)) {
	if _, set := lookupEnv("GOGC"); !set {
		debug.SetGCPercent(daemonGCPercent)
	}
}

// serveProcs is the number of processors (GOMAXPROCS) serve runs Go code
// on when the environment sets none. An API call costs well under a
// millisecond of CPU, so one processor serves thousands a second, far more
// than AWS lets one account call; a second one costs thread wake-ups on
// every call instead (the runtime wakes an idle processor's thread for
// each goroutine a request starts). Measured side by side with boto3 as
// the client on a two-core machine: 7 to 13% less CPU per call, 29
// context switches per authorize-describe-revoke instead of 51.
const serveProcs = 1

// tuneProcs sets serveProcs unless GOMAXPROCS is set in the environment.
func tuneProcs(lookupEnv func(string) (string, bool)) {
	if _, set := lookupEnv("GOMAXPROCS"); !set {
		runtime.GOMAXPROCS(serveProcs)
	}
}

// runServe runs the control plane until ctx ends, then shuts it down:
// in-flight requests finish (for up to shutdownTimeout), then the store is
// closed.
func runServe(ctx context.Context, cfg serveConfig, log *slog.Logger) error {
	if err := cfg.check(); err != nil {
		return err
	}
	if cfg.Dataplane == dataplaneLab {
		if err := checkLabHost("palisade serve --dataplane lab"); err != nil {
			return err
		}
		unlock, err := lockLab()
		if err != nil {
			return fmt.Errorf("--dataplane lab: %w", err)
		}
		defer unlock()
	}
	tlsConf, err := loadTLS(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return err
	}
	// Bind first: a taken port fails the start before anything is created.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	defer ln.Close() // no-op once served: Shutdown closes it
	warnClearText(log, ln.Addr(), tlsConf != nil)
	own := sudoOwner(os.Geteuid(), os.Getenv)
	dir, err := resolveDataDir(cfg.DataDir, own)
	if err != nil {
		return err
	}
	if err := secureDataDir(dir, os.Geteuid(), own, log); err != nil {
		return err
	}
	log.Info("data directory", "path", dir)
	log.Info("serving regions", "regions", strings.Join(cfg.Service.Regions, ","))
	log.Info("go runtime", "gomaxprocs", runtime.GOMAXPROCS(0))

	st, err := openServeStore(ctx, cfg.Store, dir, own, log)
	if err != nil {
		return err
	}
	defer closeLogged(log, "store", st.Close)
	opts := []service.Option{service.WithLogger(log)}
	// Instances are pending until wired: by the agent in this process
	// (lab), or by the agents of the hosts on etcd (palisade agent).
	wired := cfg.Dataplane == dataplaneLab || cfg.Store.Kind == storeEtcd
	if wired {
		opts = append(opts, service.WithWiring())
	}
	ring := agent.NewFlowRing(0)
	if cfg.Dataplane == dataplaneLab {
		opts = append(opts, service.WithFlows(ring)) // the flows its agent observes
	}
	reg := newRegistry(st)
	clock := agent.NewCommitClock(st) // the service's changes, timed for the agent's enforce delay
	svc, err := service.New(clock, cfg.Service, opts...)
	if err != nil {
		return err
	}
	accounts, err := auth.OpenAccounts(ctx, st, auth.WithAccountsLogger(log))
	if err != nil {
		return err
	}
	defer closeLogged(log, "accounts", accounts.Close)
	admin, key, fresh, err := accounts.Bootstrap(ctx)
	if err != nil {
		return err
	}
	if fresh {
		log.Info("first start: created the admin account", "account", admin.ID, "access_key_id", key.ID)
	}
	if err := writeClientFiles(dir, key, fresh, clientRegion(cfg.Service.Regions), own, log); err != nil {
		return err
	}

	stopExpiry := startExpiry(ctx, svc)
	defer stopExpiry()
	if cfg.Dataplane == dataplaneLab {
		stopAgent, err := startAgent(ctx, st, svc, cfg.Host, cfg.Observe.agentConfig(dir, own, ring), log, clock, reg)
		if err != nil {
			return err
		}
		defer stopAgent()
	} else if wired {
		stopFollow := followWiring(ctx, svc)
		defer stopFollow()
	}
	api := ec2api.NewServer(svc, accounts, log)
	for name, h := range ec2api.PalisadeAccountActions(accounts) {
		api.Handle(name, h)
	}
	scheme := "http"
	if tlsConf != nil {
		scheme = "https"
	}
	reg.MustRegister(api.Collectors()...)
	root := newRootHandler(api)
	if cfg.Metrics {
		root.metrics = metricsHandler(reg)
	}
	root.console = console.New(svc, accounts, console.Options{Region: clientRegion(cfg.Service.Regions), Log: log})
	return serveUntilDone(ctx, limitListener(ln, cfg.MaxConnections, tlsConf), scheme, root, log)
}

// startExpiry revokes rules as they expire (model.ExpiresAtTag) until the
// returned function is called.
func startExpiry(ctx context.Context, svc *service.Service) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = svc.RunExpiry(ctx) // returns ctx's error
	}()
	return func() { cancel(); <-done }
}

// resolveDataDir picks the data directory and creates it.
func resolveDataDir(dir string, own owner) (string, error) {
	if dir == "" {
		var err error
		if dir, err = defaultDataDir(os.Getenv, os.Geteuid(), homeOfUID); err != nil {
			return "", err
		}
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return dir, makeDataDir(dir, own)
}

// openStore opens DIR/palisade.db, giving a newly created file (or its
// write-ahead log) to own.
func openStore(dir string, own owner, log *slog.Logger) (*bolt.Store, error) {
	path := filepath.Join(dir, dbFile)
	existed, err := fileExists(path)
	if err != nil {
		return nil, err
	}
	walExisted, err := fileExists(bolt.WALPath(path))
	if err != nil {
		return nil, err
	}
	st, err := bolt.Open(path, bolt.Options{Logger: log.With("component", "store")})
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil, fmt.Errorf("%w (is another palisade serve using %s?)", err, dir)
	}
	if err != nil {
		return nil, err
	}
	if !existed {
		if err := own.chown(path); err != nil {
			return nil, errors.Join(err, st.Close())
		}
	}
	if ok, _ := fileExists(bolt.WALPath(path)); ok && !walExisted {
		if err := own.chown(bolt.WALPath(path)); err != nil {
			return nil, errors.Join(err, st.Close())
		}
	}
	return st, nil
}

// rootHandler serves GET /healthz, /metrics (unless turned off), the web
// console (GET / without a query, and /console/...) and passes everything
// else to the API. /healthz answers 200 while the server takes requests
// and 503 once it is shutting down; it, /metrics and the console's sign-in
// page are the only paths that need no signature.
type rootHandler struct {
	api      http.Handler
	console  http.Handler // nil: no console
	metrics  http.Handler // nil: --metrics=false
	stopping atomic.Bool
}

func newRootHandler(api http.Handler) *rootHandler { return &rootHandler{api: api} }

func (h *rootHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.console != nil && console.Owns(r) {
		h.console.ServeHTTP(w, r)
		return
	}
	if h.metrics != nil && r.URL.Path == metricsPath {
		h.metrics.ServeHTTP(w, r)
		return
	}
	if r.URL.Path != "/healthz" {
		h.api.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	switch {
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	case h.stopping.Load():
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
	default:
		fmt.Fprintln(w, "ok")
	}
}

// loadTLS loads the key pair of --tls-cert and --tls-key; nil when neither
// is set.
func loadTLS(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// limitListener caps the connections of ln at max (beyond it, Accept waits
// for one to close, and clients wait in the kernel's accept queue), then
// wraps them in TLS when conf is set. With the server's timeouts and its
// body budget (ec2api), this bounds the memory that clients, signed or not,
// can make the server hold.
func limitListener(ln net.Listener, max int, conf *tls.Config) net.Listener {
	ln = netutil.LimitListener(ln, max)
	if conf != nil {
		ln = tls.NewListener(ln, conf)
	}
	return ln
}

// warnClearText warns when the API listens beyond loopback without TLS:
// responses carry the secret keys of new accounts.
func warnClearText(log *slog.Logger, addr net.Addr, tls bool) {
	if !tls && !loopback(addr) {
		log.Warn("serving HTTP in clear text beyond loopback: access keys and the secrets of new accounts "+
			"travel unencrypted; give --tls-cert and --tls-key", "addr", addr.String())
	}
}

// loopback reports whether a listening address is only reachable from this
// machine.
func loopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// serveUntilDone serves h on ln (whose connections speak scheme, http or
// https) until ctx ends, then shuts down cleanly. Only HTTP/1.1 is served:
// Query API calls are small, and one request per connection at a time
// keeps the connection cap a cap on requests.
func serveUntilDone(ctx context.Context, ln net.Listener, scheme string, h *rootHandler, log *slog.Logger) error {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		Protocols:         &protocols,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "endpoint", scheme+"://"+ln.Addr().String())

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "cause", context.Cause(ctx))
	h.stopping.Store(true)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// closeLogged closes something on the way out and logs a failure.
func closeLogged(log *slog.Logger, what string, closeFn func() error) {
	if err := closeFn(); err != nil {
		log.Error("close "+what, "err", err)
	}
}
