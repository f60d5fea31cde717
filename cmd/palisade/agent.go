package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"palisade.dev/palisade/internal/agent"
	"palisade.dev/palisade/internal/hosts"
	"palisade.dev/palisade/internal/lab"
	"palisade.dev/palisade/internal/store"
)

// agentConfig is what `palisade agent` runs with.
type agentConfig struct {
	Host      string // the host's name: its Name tag in describe-hosts
	HostNetns string // a namespace standing for the host's own ("": the real one)
	Underlay  string // the host's address between hosts ("": DefaultUnderlay)
	Dataplane string // only "lab" today
	Store     storeConfig
	LeaseTTL  time.Duration
	// DataDir receives the flow log files of the interfaces on this host;
	// "" writes none.
	DataDir string
	// Observe: flow logs and hit counters, as serve's.
	Observe observeConfig
	// MetricsListen serves Prometheus's /metrics there; "" serves none.
	MetricsListen string
}

func defaultAgentConfig() agentConfig {
	st := defaultStoreConfig()
	st.Kind = storeEtcd
	return agentConfig{Host: defaultHostName(), Dataplane: dataplaneLab, Store: st, LeaseTTL: hosts.DefaultTTL,
		Observe: defaultObserveConfig()}
}

func (c *agentConfig) flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Host, "host", c.Host, "the host's name (its Name in describe-hosts); default: this machine's hostname")
	fs.StringVar(&c.HostNetns, "host-netns", "",
		"run the whole host inside this existing network namespace, which stands for the machine's own (several hosts on one machine)")
	fs.StringVar(&c.Underlay, "underlay", "",
		"the address other hosts reach this one at (VXLAN); default: the address of the interface that holds the default route")
	fs.StringVar(&c.Dataplane, "dataplane", c.Dataplane, "how the host's instances are made: lab (network namespaces)")
	fs.DurationVar(&c.LeaseTTL, "lease-ttl", c.LeaseTTL, "how long the host stays available after its agent stops renewing its lease")
	fs.StringVar(&c.DataDir, "data-dir", "", "directory that receives the flow log files of this host's interfaces (DATA_DIR/flowlogs); none by default")
	fs.StringVar(&c.MetricsListen, "metrics-listen", "", "serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9467); none by default")
	c.Observe.flags(fs)
	c.Store.flags(fs)
	_ = fs.MarkHidden("store") // an agent shares the cluster's etcd; a bolt file is serve's alone
}

func (c agentConfig) check() error {
	if err := hosts.CheckName(c.Host); err != nil {
		return fmt.Errorf("--host: %w", err)
	}
	if c.Dataplane != dataplaneLab {
		return fmt.Errorf("--dataplane %q: must be lab", c.Dataplane)
	}
	if c.Underlay != "" {
		if _, err := netip.ParseAddr(c.Underlay); err != nil {
			return fmt.Errorf("--underlay %q: an IP address", c.Underlay)
		}
	}
	if c.LeaseTTL < 2*time.Second || c.LeaseTTL > time.Hour {
		return fmt.Errorf("--lease-ttl %v: between 2s and 1h", c.LeaseTTL)
	}
	if c.Store.Kind != storeEtcd {
		return errors.New("an agent reads the cluster's store: give --etcd-endpoints")
	}
	if _, err := c.routerPrefix(); err != nil {
		return err
	}
	if err := c.Observe.check(); err != nil {
		return err
	}
	return c.Store.check()
}

// routerPrefix names this host's router namespaces: as serve's on a
// machine of its own, and with the host's name when the host lives in a
// namespace (--host-netns), so that hosts sharing a machine have routers
// of their own.
func (c agentConfig) routerPrefix() (string, error) {
	if c.HostNetns == "" {
		return lab.DefaultConfig().RouterPrefix, nil
	}
	return hostRouterPrefix(c.Host)
}

// hostRouterPrefix is the router prefix of host when it lives in a
// namespace of a shared machine: its name between "palisade-" and "-".
func hostRouterPrefix(host string) (string, error) {
	p := "palisade-" + host + "-"
	if len(p) > 32 {
		return "", fmt.Errorf("--host %q: at most 22 characters with --host-netns (it names the host's router namespaces)", host)
	}
	return p, nil
}

func newAgentCmd() *cobra.Command {
	cfg := defaultAgentConfig()
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Enforce the security groups of the instances placed on this host",
		Long: `Run one host of a cluster: register the host (describe-hosts shows it
available while the agent's lease lives), then wire the instances and lab
hosts placed on it, give each of their VPCs a router whose firewall enforces
the groups, and join those routers to the same VPCs' routers on the other
hosts over a VXLAN overlay (UDP 4789 between the hosts' underlay addresses).

The agent reads the cluster's etcd (--etcd-endpoints) and writes only under
its own host's prefix. When it stops, the host keeps enforcing the last
rules; a restarted agent adopts them.`,
		Args: cobra.NoArgs,
	}
	daemon(cmd, func(ctx context.Context, log *slog.Logger) error { return runAgent(ctx, cfg, log) })
	cfg.flags(cmd.Flags())
	documentEnv(cmd.Flags())
	return cmd
}

// runAgent runs the host until ctx ends.
func runAgent(ctx context.Context, cfg agentConfig, log *slog.Logger) error {
	if err := cfg.check(); err != nil {
		return err
	}
	if err := checkLabHost("palisade agent"); err != nil {
		return err
	}
	prefix, _ := cfg.routerPrefix()
	unlock, err := lockHost(prefix)
	if err != nil {
		return err
	}
	defer unlock()
	underlay, err := agentUnderlay(cfg)
	if err != nil {
		return err
	}
	st, err := openServeStore(ctx, cfg.Store, "", owner{}, log)
	if err != nil {
		return err
	}
	defer closeLogged(log, "store", st.Close)
	l, err := lab.New(lab.Config{RouterPrefix: prefix, HostNamespace: cfg.HostNetns, Logger: log})
	if err != nil {
		return err
	}
	report := func(err error) { log.Error("keep the host registered; trying again", "host", cfg.Host, "err", err) }
	host, unregister, err := hosts.Keep(ctx, st, cfg.Host, underlay, cfg.LeaseTTL, report)
	if err != nil {
		return err
	}
	// On the way out the lease is revoked (describe-hosts says
	// under-assessment at once); the rules stay in the kernel.
	defer unregister()
	log.Info("host registered", "host", cfg.Host, "id", host.ID, "underlay", underlay, "netns", cfg.HostNetns)
	acfg := agent.DefaultConfig()
	acfg.Host, acfg.HostID, acfg.Underlay, acfg.Unplaced = cfg.Host, host.ID, underlay, false
	acfg.Observe = cfg.Observe.agentConfig(cfg.DataDir, owner{}, nil)
	a := agent.New(st, l, acfg, log)
	if cfg.MetricsListen != "" {
		stop, err := serveAgentMetrics(ctx, cfg.MetricsListen, st, a, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	if err := a.Run(ctx); err != nil {
		log.Error("agent stopped", "err", err)
	}
	return nil
}

// serveAgentMetrics serves the agent's metrics (and the store revision,
// Go and process collectors) at http://addr/metrics until stop.
func serveAgentMetrics(ctx context.Context, addr string, st store.Store, a *agent.Agent, log *slog.Logger) (stop func(), err error) {
	reg := newRegistry(st)
	if err := registerAll(reg, a.Collectors()); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", metricsHandler(reg))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	log.Info("serving metrics", "endpoint", "http://"+ln.Addr().String()+"/metrics")
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, nil
}

// defaultHostName is the machine's hostname up to its first dot, or
// "local" when it has none fit for a host name.
func defaultHostName() string {
	name, err := os.Hostname()
	name, _, _ = strings.Cut(name, ".")
	if err != nil || hosts.CheckName(name) != nil {
		return "local"
	}
	return name
}

// agentUnderlay is --underlay, or the address of the host's default route.
func agentUnderlay(cfg agentConfig) (netip.Addr, error) {
	if cfg.Underlay != "" {
		return netip.ParseAddr(cfg.Underlay)
	}
	a, err := lab.DefaultUnderlay(cfg.HostNetns)
	if err != nil {
		return a, fmt.Errorf("--underlay: %w", err)
	}
	return a, nil
}
