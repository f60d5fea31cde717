package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"palisade.dev/palisade/internal/lab"
	"palisade.dev/palisade/internal/model"
)

// DataplaneConfig configures RunDataplane. Zero fields take
// DefaultDataplaneConfig's values, except CPU (0 is a CPU) and Helper
// (which has no default).
type DataplaneConfig struct {
	Interfaces        int // instance interfaces that carry rules
	RulesPerInterface int // rules of each of them
	HeavyRules        int // rules of the one heavy interface (the traffic's server)
	// ManyGroups and ManyGroupRules shape the second scenario's server:
	// its interface carries ManyGroups groups of ManyGroupRules CIDR rules
	// each, evaluated before the one group that lets the client in.
	ManyGroups, ManyGroupRules int
	Members                    int           // members of the referenced group (unattached interfaces)
	Repeats                    int           // interleaved repeats of each traffic run
	Duration                   time.Duration // of each traffic run
	Workers                    int           // parallel connections of the connection-rate client
	Samples                    int           // latency samples of each kind
	CPU                        int           // the CPU the traffic is pinned to; -1 (or out of range): the last one
	// RouterPrefix names the lab of the control plane's agent, and
	// BaselinePrefix the no-firewall lab; whatever an interrupted run left
	// under them is removed first.
	RouterPrefix, BaselinePrefix string
	// Helper starts the traffic helper processes (see Helper). Required.
	Helper HelperFunc
	// Progress receives progress lines; nil discards.
	Progress io.Writer
	// Logger receives the control plane's and the agent's messages; nil
	// discards.
	Logger *slog.Logger
	// Expiring gives every rule of the setup the tag palisade:expires-at,
	// a day ahead: the kernel then holds them as elements with timeouts,
	// in sets with the timeout flag, whose per-packet cost this measures.
	Expiring bool
	// Control adds a second conntrack-only router, built like the
	// floor's, to every repeat (DataplaneResult.Control): an A/A
	// comparison whose spread is the run's own noise. It makes each
	// repeat a fifth longer.
	Control bool
}

// DefaultDataplaneConfig returns the sizes of the issues: 10,000 rules over
// 200 interfaces plus one interface with 1,000, a second server whose
// interface carries five groups of 200 CIDR rules before the one that
// allows, a referenced group of 10,000 members, 100 interleaved repeats
// of 250 ms (a pair of runs is no less noisy at 2 s than at 250 ms, so
// more, shorter pairs narrow the median's confidence interval in the same
// time: 0.04 wide where 15 of 2 s left 0.12–0.19), 50 latency samples.
func DefaultDataplaneConfig() DataplaneConfig {
	return DataplaneConfig{
		Interfaces: 200, RulesPerInterface: 50, HeavyRules: 1000, ManyGroups: 5, ManyGroupRules: 200,
		Members: 10_000, Repeats: 100, Duration: 250 * time.Millisecond, Workers: 8, Samples: 50, CPU: -1,
		RouterPrefix: "palbench-", BaselinePrefix: "palbase-",
	}
}

func (c DataplaneConfig) withDefaults() DataplaneConfig {
	d := DefaultDataplaneConfig()
	def := func(v *int, dv int) {
		if *v <= 0 {
			*v = dv
		}
	}
	def(&c.Interfaces, d.Interfaces)
	def(&c.RulesPerInterface, d.RulesPerInterface)
	def(&c.HeavyRules, d.HeavyRules)
	def(&c.ManyGroups, d.ManyGroups)
	def(&c.ManyGroupRules, d.ManyGroupRules)
	def(&c.Members, d.Members)
	def(&c.Repeats, d.Repeats)
	def(&c.Workers, d.Workers)
	def(&c.Samples, d.Samples)
	if c.Duration <= 0 {
		c.Duration = d.Duration
	}
	if c.CPU < 0 || c.CPU >= runtime.NumCPU() {
		c.CPU = runtime.NumCPU() - 1
	}
	if c.RouterPrefix == "" {
		c.RouterPrefix = d.RouterPrefix
	}
	if c.BaselinePrefix == "" {
		c.BaselinePrefix = d.BaselinePrefix
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// dpRun is one run of the data-plane benchmark.
type dpRun struct {
	cfg     DataplaneConfig
	start   time.Time
	cp      *controlPlane
	sc      *scenario
	fwLab   *lab.Lab // the agent's
	baseLab *lab.Lab // the baseline's, and the scratch table's
	res     DataplaneResult
}

func (r *dpRun) note(format string, args ...any) {
	fmt.Fprintf(r.cfg.Progress, "[%7.1fs] %s\n", time.Since(r.start).Seconds(), fmt.Sprintf(format, args...))
}

// RunDataplane runs the data-plane benchmark (see the README's
// "Benchmarks"): it starts a control plane in this process, creates the
// scenario through the EC2 API, lets the agent build and program the lab,
// builds a baseline of the same two instances without a firewall, and
// measures connection rate and throughput (interleaved repeats on one
// pinned CPU), API-to-enforced latencies and kernel commit times. It
// removes everything it made before it returns, whatever happened.
func RunDataplane(ctx context.Context, cfg DataplaneConfig) (_ *DataplaneResult, err error) {
	cfg = cfg.withDefaults()
	if cfg.Helper == nil {
		return nil, errors.New("bench: DataplaneConfig.Helper is required")
	}
	r := &dpRun{cfg: cfg, start: time.Now()}
	cleanup, err := r.labs()
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, cleanup()) }()
	if r.cp, err = startControlPlane(ctx, r.fwLab, cfg.Logger); err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, r.cp.Close()) }()
	if err := r.setUp(ctx); err != nil {
		return nil, err
	}
	if err := r.measure(ctx); err != nil {
		return nil, err
	}
	r.res.WallSeconds = time.Since(r.start).Seconds()
	r.res.check()
	return &r.res, nil
}

// labs makes both labs, after removing what an earlier run left in them;
// cleanup removes everything they hold.
func (r *dpRun) labs() (cleanup func() error, err error) {
	if r.fwLab, err = lab.New(lab.Config{RouterPrefix: r.cfg.RouterPrefix, Logger: r.cfg.Logger}); err != nil {
		return nil, err
	}
	if r.baseLab, err = lab.New(lab.Config{RouterPrefix: r.cfg.BaselinePrefix, Logger: r.cfg.Logger}); err != nil {
		return nil, err
	}
	cleanup = func() error {
		start := time.Now()
		err := errors.Join(r.fwLab.Down(), r.baseLab.Down())
		r.note("removed the labs in %s", elapsed(start))
		return err
	}
	if err := cleanup(); err != nil {
		return nil, fmt.Errorf("remove what an earlier run left: %w", err)
	}
	return cleanup, nil
}

// setUp creates the scenario through the API and waits until the agent has
// applied all of it.
func (r *dpRun) setUp(ctx context.Context) error {
	r.sc = &scenario{}
	b := &builder{cp: r.cp, cfg: r.cfg, rng: rand.New(rand.NewPCG(1, 2)), sc: r.sc, note: r.note}
	if err := b.build(ctx); err != nil {
		return err
	}
	start := time.Now()
	if err := r.cp.settle(ctx, 10*time.Minute); err != nil {
		return err
	}
	r.note("the agent applied everything %s after the last call", elapsed(start))
	v, err := readVPC(ctx, r.cp.st, model.VpcID(r.sc.vpc))
	if err != nil {
		return err
	}
	r.res.Setup = SetupReport{
		Instances: 4 + len(r.sc.ruleInst), RuleInterfaces: r.cfg.Interfaces, RulesPerInterface: r.cfg.RulesPerInterface,
		HeavyRules: r.cfg.HeavyRules, ManyGroups: r.cfg.ManyGroups, ManyGroupRules: r.cfg.ManyGroupRules, RouterRules: v.rules(), Members: r.sc.members,
		Expiring: r.cfg.Expiring, Seconds: time.Since(r.start).Seconds(),
	}
	return nil
}

// measure runs everything that is measured.
func (r *dpRun) measure(ctx context.Context) error {
	r.res.Kernel, r.res.CPUs, r.res.TrafficCPU = kernelRelease(), runtime.NumCPU(), r.cfg.CPU
	r.res.Repeats, r.res.RunSeconds = r.cfg.Repeats, r.cfg.Duration.Seconds()
	sides, stop, err := r.sides()
	if err != nil {
		return err
	}
	defer stop()
	r.note("measuring connection rate and throughput (%d repeats of %v, interleaved)", r.cfg.Repeats, r.cfg.Duration)
	r.res.LoadBefore = loadAverage()
	if err := r.measureTraffic(ctx, sides); err != nil {
		return err
	}
	r.res.LoadAfter = loadAverage()
	lns, err := r.latencyListeners()
	if err != nil {
		return err
	}
	defer closeAll(lns)
	r.note("measuring rule changes, API to enforced (%d samples)", r.cfg.Samples)
	if r.res.RuleChange, err = r.ruleLatency(ctx); err != nil {
		return fmt.Errorf("rule change latency: %w", err)
	}
	r.note("measuring membership changes, API to enforced (%d samples)", r.cfg.Samples)
	if r.res.MemberChange, err = r.memberLatency(ctx); err != nil {
		return fmt.Errorf("membership latency: %w", err)
	}
	r.note("measuring kernel commits of membership changes in a copy of the table (the agent stopped)")
	r.cp.stopAgent()
	return r.kernelCommits(ctx)
}

// measureTraffic measures with this process (the control plane, the
// agent and its drift checks) kept off the traffic's CPU.
func (r *dpRun) measureTraffic(ctx context.Context, sides []*side) error {
	restore, err := avoidCPU(r.cfg.CPU)
	if err != nil {
		return err
	}
	defer restore()
	m := &measurer{h: r.cfg.Helper, cfg: r.cfg}
	reports, err := m.measure(ctx, sides, r.note)
	if err != nil {
		return err
	}
	r.res.Baseline, r.res.Firewall, r.res.Floor, r.res.ManyGroups = reports[0], reports[1], reports[2], reports[3]
	if len(reports) > 4 {
		r.res.Control = &reports[4]
	}
	return nil
}

// latencyListeners listen on the server for the latency probes: the
// membership port and one rule port per sample.
func (r *dpRun) latencyListeners() ([]net.Listener, error) {
	var lns []net.Listener
	ports := []int{memberPort}
	for i := range r.cfg.Samples {
		ports = append(ports, rulePort+i)
	}
	for _, port := range ports {
		ln, err := listenIn(r.sc.srv.id, port)
		if err != nil {
			closeAll(lns)
			return nil, err
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		ln.Close()
	}
}

// sides starts the traffic servers of the sides traffic is measured on,
// in this order: a baseline built the same way as the firewall's VPC (the
// lab's wiring, the same addresses) in a VPC of the baseline's lab, which
// has no firewall table; the firewall's VPC towards the heavy server;
// another VPC like the baseline's whose table only accepts (established
// flows first): conntrack alone, the floor under any stateful firewall;
// the firewall's VPC towards the many-groups server; with Control, a
// second VPC like the floor's. The floor runs between the two firewall
// runs it is compared with, so that each pair runs back to back (the
// control runs one step further from it, so its spread errs on the wide
// side). It checks that the client reaches the server on each
// and that the firewall blocks what it must.
func (r *dpRun) sides() (sides []*side, stop func(), err error) {
	base := &side{name: "baseline", addr: r.sc.srv.addr}
	if err := r.baseline(base); err != nil {
		return nil, nil, err
	}
	floor := &side{name: "conntrack only", addr: r.sc.srv.addr, conntrak: true}
	if err := r.floor(floor); err != nil {
		return nil, nil, err
	}
	router := r.fwLab.RouterNamespace(model.VpcID(r.sc.vpc))
	sides = []*side{base,
		{name: "firewall", router: router, client: r.sc.cli.id, server: r.sc.srv.id, addr: r.sc.srv.addr, conntrak: true},
		floor,
		{name: "many groups", router: router, client: r.sc.cli.id, server: r.sc.many.id, addr: r.sc.many.addr, conntrak: true, noBulk: true},
	}
	if r.cfg.Control {
		again := &side{name: "conntrack only again", addr: r.sc.srv.addr, conntrak: true, noBulk: true}
		if err := r.floor(again); err != nil {
			return nil, nil, err
		}
		sides = append(sides, again)
	}
	var started []*side
	stop = func() {
		for _, s := range started {
			s.srv.stop()
		}
	}
	for _, s := range sides {
		if s.srv, err = startTrafficServer(r.cfg.Helper, s.server, r.cfg.CPU); err != nil {
			stop()
			return nil, nil, err
		}
		started = append(started, s)
		if err := r.reaches(s.client, s.addr); err != nil {
			stop()
			return nil, nil, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	for _, srv := range []netip.Addr{r.sc.srv.addr, r.sc.many.addr} {
		if ok, err := connects(r.sc.probe.id, netip.AddrPortFrom(srv, connPort), time.Second); err != nil || ok {
			stop()
			return nil, nil, errors.Join(err, fmt.Errorf("the firewall lets an interface outside the referenced group reach %s", srv))
		}
	}
	return sides, stop, nil
}

// baseline wires the baseline's VPC: the server and the client with the
// firewall's instances' addresses and subnet.
func (r *dpRun) baseline(s *side) error {
	vpc := "vpc-" + randHex(17)
	if err := r.baseLab.EnsureVPC(model.VpcID(vpc)); err != nil {
		return err
	}
	s.router = r.baseLab.RouterNamespace(model.VpcID(vpc))
	for _, x := range []struct {
		ns   *string
		addr netip.Addr
	}{{&s.server, r.sc.srv.addr}, {&s.client, r.sc.cli.addr}} {
		inst := lab.Instance{ID: model.InstanceID("i-" + randHex(17)), VPC: model.VpcID(vpc), NICs: []lab.NIC{{
			ENI: model.ENIID("eni-" + randHex(17)), IPv4: netip.PrefixFrom(x.addr, 20)}}}
		if err := r.baseLab.EnsureInstance(inst); err != nil {
			return err
		}
		*x.ns = string(inst.ID)
	}
	return nil
}

// floor wires a VPC like the baseline's whose router's table only accepts
// (conntrackOnly).
func (r *dpRun) floor(s *side) error {
	if err := r.baseline(s); err != nil {
		return err
	}
	return conntrackOnly(s.router)
}

// reaches checks that the client namespace connects to the traffic server.
func (r *dpRun) reaches(client string, addr netip.Addr) error {
	dst := netip.AddrPortFrom(addr, connPort)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := connects(client, dst, time.Second)
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.Join(err, fmt.Errorf("%s cannot reach %s", client, dst))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// loadAverage returns the machine's 1, 5 and 15 minute load averages.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

func kernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "unknown"
	}
	return strings.TrimRight(string(u.Release[:]), "\x00")
}
