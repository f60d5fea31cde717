package main

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/spf13/pflag"

	"palisade.dev/palisade/internal/service"
)

// serveConfig is everything `palisade serve` is configured with. Its
// defaults come from defaultServeConfig; flags and PALISADE_* environment
// variables (flags win) override them.
type serveConfig struct {
	// Listen is the TCP address of the API.
	Listen string
	// DataDir holds palisade.db and the admin's credentials and config
	// files; "" means defaultDataDir().
	DataDir string
	// Dataplane is "none" (API only) or "lab" (enforce in network
	// namespaces on this host).
	Dataplane string
	// Service holds the quotas and the IPv6 pool.
	Service service.Config
	// TLSCert and TLSKey are PEM files; set together, the API is served
	// over HTTPS.
	TLSCert, TLSKey string
	// MaxConnections caps the connections open at once; more wait in the
	// kernel's accept queue until one closes.
	MaxConnections int
	// Store selects bolt (the default) or an etcd cluster.
	Store storeConfig
	// Host names this machine as a host (describe-hosts) when serve runs
	// the lab's agent itself.
	Host string
	// Metrics serves Prometheus's /metrics on Listen, without signature.
	Metrics bool
	// Observe: flow logs and hit counters of the lab data plane.
	Observe observeConfig
}

// Data planes of --dataplane.
const (
	dataplaneNone = "none"
	dataplaneLab  = "lab"
)

// defaultServeConfig returns the defaults: loopback on 4566 (the port of
// LocalStack and moto's docs, so that existing scripts find us), no data
// plane, AWS's default quotas.
func defaultServeConfig() serveConfig {
	return serveConfig{
		Listen:         "127.0.0.1:4566",
		Dataplane:      dataplaneNone,
		Service:        service.DefaultConfig(),
		MaxConnections: 1024,
		Store:          defaultStoreConfig(),
		Host:           defaultHostName(),
		Metrics:        true,
		Observe:        defaultObserveConfig(),
	}
}

// flags binds c's fields to the flags of serve.
func (c *serveConfig) flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", c.Listen, "TCP address of the API")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir,
		"directory of the database and the admin's credentials (default $XDG_STATE_HOME/palisade or ~/.local/state/palisade, of the sudo user under sudo)")
	fs.StringVar(&c.Dataplane, "dataplane", c.Dataplane, "data plane: none (API only) or lab (network namespaces on this host, root)")
	fs.Var((*prefixValue)(&c.Service.IPv6Pool), "ipv6-pool", "IPv6 prefix that VPCs' Amazon-provided /56 blocks come from")
	fs.IntVar(&c.Service.MaxRulesPerGroup, "max-rules-per-group", c.Service.MaxRulesPerGroup,
		"rules per security group, per direction and address family (AWS default 60, at most 1000)")
	fs.IntVar(&c.Service.MaxGroupsPerInterface, "max-groups-per-interface", c.Service.MaxGroupsPerInterface,
		"security groups per network interface (AWS default 5, at most 16)")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "PEM certificate (chain) file: serve HTTPS (with --tls-key)")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "PEM private key file of --tls-cert")
	fs.IntVar(&c.MaxConnections, "max-connections", c.MaxConnections,
		"connections open at once; more wait until one closes")
	fs.Var((*regionsValue)(&c.Service.Regions), "regions",
		"comma-separated regions to serve; requests signed for any other are refused (default: the commercial AWS regions)")
	fs.BoolVar(&c.Metrics, "metrics", c.Metrics,
		"serve Prometheus metrics at /metrics on --listen, without authentication (--metrics=false: off)")
	c.Store.flags(fs)
	fs.StringVar(&c.Host, "host", c.Host, "with --dataplane lab: this machine's name as a host (describe-hosts); default: its hostname")
	c.Observe.flags(fs)
}

// check validates c, naming the flags.
func (c serveConfig) check() error {
	switch {
	case c.Listen == "":
		return fmt.Errorf("--listen: an address is required")
	case c.Dataplane != dataplaneNone && c.Dataplane != dataplaneLab:
		return fmt.Errorf("--dataplane %q: must be none or lab", c.Dataplane)
	case c.Service.MaxRulesPerGroup < 1 || c.Service.MaxRulesPerGroup > 1000:
		return fmt.Errorf("--max-rules-per-group %d: must be 1 to 1000", c.Service.MaxRulesPerGroup)
	case c.Service.MaxGroupsPerInterface < 1 || c.Service.MaxGroupsPerInterface > 16:
		return fmt.Errorf("--max-groups-per-interface %d: must be 1 to 16", c.Service.MaxGroupsPerInterface)
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return fmt.Errorf("--tls-cert and --tls-key: give both or neither")
	case c.MaxConnections < 1:
		return fmt.Errorf("--max-connections %d: must be at least 1", c.MaxConnections)
	}
	if err := c.Observe.check(); err != nil {
		return err
	}
	if err := service.CheckRegions(c.Service.Regions); err != nil {
		return fmt.Errorf("--regions: %w", err)
	}
	if err := c.Service.Check(); err != nil {
		return fmt.Errorf("--ipv6-pool: %w", err)
	}
	return c.Store.check()
}

// envName is the environment variable of a flag: --max-rules-per-group is
// PALISADE_MAX_RULES_PER_GROUP.
func envName(flag string) string {
	return "PALISADE_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// documentEnv adds its environment variable to every flag's help.
func documentEnv(fs *pflag.FlagSet) {
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" {
			f.Usage += " [$" + envName(f.Name) + "]"
		}
	})
}

// applyEnv sets every flag that the command line left alone from its
// environment variable, if set: flags win over the environment, which wins
// over the defaults.
func applyEnv(fs *pflag.FlagSet, lookup func(string) (string, bool)) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" {
			return
		}
		name := envName(f.Name)
		if v, ok := lookup(name); ok {
			if serr := f.Value.Set(v); serr != nil {
				err = fmt.Errorf("%s=%q: %w", name, v, serr)
			}
		}
	})
	return err
}

// prefixValue is a netip.Prefix flag.
type prefixValue netip.Prefix

func (p *prefixValue) String() string {
	if !netip.Prefix(*p).IsValid() {
		return ""
	}
	return netip.Prefix(*p).String()
}

func (p *prefixValue) Set(s string) error {
	v, err := netip.ParsePrefix(s)
	if err != nil {
		return err
	}
	if v != v.Masked() {
		return fmt.Errorf("%s has host bits set (did you mean %s?)", s, v.Masked())
	}
	*p = prefixValue(v)
	return nil
}

func (p *prefixValue) Type() string { return "prefix" }

// regionsValue is the list of --regions: names separated by commas (spaces
// around them are ignored).
type regionsValue []string

func (r *regionsValue) String() string { return strings.Join(*r, ",") }

func (r *regionsValue) Set(s string) error {
	var out []string
	for _, name := range strings.Split(s, ",") {
		out = append(out, strings.TrimSpace(name))
	}
	*r = out
	return service.CheckRegions(out)
}

func (r *regionsValue) Type() string { return "regions" }
