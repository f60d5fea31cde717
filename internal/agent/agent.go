// Package agent is the reconcile loop of one host: it watches the store,
// compiles the policies of every VPC the host has with internal/policy,
// wires the lab's namespaces with internal/lab (the instances and lab
// hosts placed on this host, and the overlay to the VPC's routers on other
// hosts) and makes each VPC router's firewall match with
// internal/dataplane. It is level-triggered and idempotent: a restart,
// a missed event or a hand edit heals at the next reconcile. It fails
// closed: a VPC's firewall (which drops every instance interface it does not
// know) is in place before any instance of that VPC is wired, and an
// interface's policy is applied before its namespace exists. Once a pending
// instance is wired, it reports so under its host's own prefix
// (model.HostRoot), the only keys it writes; the service then makes the
// instance running.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"time"

	"palisade.dev/palisade/internal/dataplane"
	"palisade.dev/palisade/internal/lab"
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policy"
	"palisade.dev/palisade/internal/store"
)

// Config tunes the agent.
type Config struct {
	// DriftEvery is how often the firewall tables are compared with what the
	// agent last applied (someone may have edited or deleted them by hand).
	DriftEvery time.Duration
	// Debounce gathers bursts of store changes into one reconcile.
	Debounce time.Duration
	// Host names this machine in the wiring reports (model.WiredKey): once
	// a pending instance is wired, the agent writes that under its host's
	// prefix, the only keys it writes, and the service makes the instance
	// running. "" writes no report (for a service without WithWiring).
	Host string
	// HostID is the host's ID (its model.Host record): the agent wires the
	// instances and lab hosts placed on it.
	HostID model.HostID
	// Unplaced also wires the instances and lab hosts placed on no host,
	// and gives every VPC a router: one machine, where serve's own agent
	// wires everything.
	Unplaced bool
	// Underlay is the host's address on the network between hosts, where
	// the other hosts' routers reach its routers' overlay.
	Underlay netip.Addr
	// OpenFirewall opens the firewall of a router namespace; nil opens a
	// dataplane.Table.
	OpenFirewall func(routerNS string, log *slog.Logger) (Firewall, error)
	// CommitTimes, when set, tells when revisions were committed, so that
	// the agent observes palisade_policy_enforce_delay_seconds (metrics.go).
	CommitTimes CommitTimes
	// Observe configures flow logs and hit counters (flows.go).
	Observe ObserveConfig
}

// DefaultConfig returns the agent's defaults: one machine.
func DefaultConfig() Config {
	return Config{DriftEvery: 2 * time.Second, Debounce: 2 * time.Millisecond, Unplaced: true, Observe: DefaultObserveConfig()}
}

// Lab is what the agent needs of the machine's wiring; *lab.Lab is the
// real one.
type Lab interface {
	EnsureVPC(vpcID model.VpcID) error
	RemoveVPC(vpcID model.VpcID) error
	RouterNamespace(vpcID model.VpcID) string
	EnsureOverlay(vpcID model.VpcID, o lab.Overlay) error
	EnsureInstance(inst lab.Instance) error
	RemoveInstance(id model.InstanceID) error
	EnsureHost(h lab.Host) error
	RemoveHost(name string) error
	List() (lab.State, error)
}

// Firewall is one VPC router's firewall; *dataplane.Table is the real one.
type Firewall interface {
	Apply(d dataplane.Desired) (dataplane.Result, error)
	Cut(was dataplane.Port, cuts []policy.UntrackedClass, now *policy.Policy) (int, error)
	Check() (drift bool, err error)
	// Drops reads each interface's dropped packets (metrics).
	Drops() (map[model.ENIID]dataplane.Drops, error)
	Close() error
}

func openTable(routerNS string, log *slog.Logger) (Firewall, error) {
	return dataplane.Open(lab.NamespacePath(routerNS), log)
}

// Agent keeps this machine's lab and firewalls in step with the store.
type Agent struct {
	st     store.Store
	lab    Lab
	cfg    Config
	log    *slog.Logger
	mirror *mirror
	vpcs   map[model.VpcID]*vpcState
	// Applied is signalled (non-blocking) after each reconcile with the store
	// revision it reflects; benchmarks and tests wait on it.
	applied chan int64
	rev     int64
	retry   bool // something failed: the next drift check reconciles everything
	// reported holds the wiring reports in the store, by instance;
	// outbox the report changes still to write (a nil value deletes).
	reported map[model.InstanceID]wiredReport
	outbox   map[string][]byte
	metrics  *metrics
	obs      *observation // flow logs and hit counters
}

// wiredReport is one report the agent wrote: its key and the revision of
// the instance record it names.
type wiredReport struct {
	key string
	rev int64
}

// vpcState is what the agent has put in the kernel for one VPC.
type vpcState struct {
	table    Firewall
	compiled *policy.Compiled
	overlay  *lab.Overlay // as last ensured
	// instances and hosts are wired as recorded here: a reconcile wires
	// only what differs (a whole reconcile wires everything again).
	instances map[model.InstanceID]lab.Instance
	hosts     map[string]lab.Host
}

// New returns an agent over st that wires namespaces with l.
func New(st store.Store, l Lab, cfg Config, log *slog.Logger) *Agent {
	if cfg.OpenFirewall == nil {
		cfg.OpenFirewall = openTable
	}
	return &Agent{st: st, lab: l, cfg: cfg, log: log.With("component", "agent"), mirror: newMirror(cfg.placement()),
		vpcs: map[model.VpcID]*vpcState{}, applied: make(chan int64, 1),
		reported: map[model.InstanceID]wiredReport{}, outbox: map[string][]byte{}, metrics: newMetrics(cfg.CommitTimes),
		obs: newAgentObservation(st, cfg, log)}
}

func (c Config) placement() placement {
	return placement{self: c.HostID, unplaced: c.Unplaced}
}

// Applied delivers the store revision of the latest reconcile.
func (a *Agent) Applied() <-chan int64 { return a.applied }

// Run reconciles until ctx ends. It lists the store, reconciles, then
// follows the watch; if the watch falls behind compaction it lists again.
// When Run returns, every firewall stays as it was: rules stay in force
// while the control plane is down.
func (a *Agent) Run(ctx context.Context) error {
	defer a.obs.closeAll()
	for {
		err := a.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, store.ErrCompacted) {
			a.log.Warn("watch fell behind compaction; listing the store again", "err", err)
			continue
		}
		// Any other failure (a store hiccup): the rules in the kernel stay as
		// they are; list and watch again after a pause rather than stop
		// enforcing changes while the API keeps accepting them.
		a.log.Error("watch failed; listing the store again in a second", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// follow lists the resources and the hosts, reconciles, and applies watch
// events until a watch ends.
func (a *Agent) follow(ctx context.Context) error {
	a.mirror = newMirror(a.cfg.placement())
	var revs [2]int64
	for i, root := range []string{model.ResourceRoot, model.HostRoot} {
		page, err := a.st.List(ctx, root, store.ListOptions{})
		if err != nil {
			return fmt.Errorf("list %s: %w", root, err)
		}
		for _, kv := range page.KVs {
			if err := a.mirror.apply(kv.Key, kv.Value, kv.ModRevision); err != nil {
				a.log.Error("skipping undecodable record", "key", kv.Key, "err", err)
			}
		}
		revs[i] = page.Revision
	}
	a.rev = max(revs[0], revs[1])
	a.reconcile(ctx, true)
	resources, err := a.st.Watch(ctx, model.ResourceRoot, revs[0])
	if err != nil {
		return fmt.Errorf("watch resources: %w", err)
	}
	hosts, err := a.st.Watch(ctx, model.HostRoot, revs[1])
	if err != nil {
		return fmt.Errorf("watch hosts: %w", err)
	}
	drift := time.NewTicker(a.cfg.DriftEvery)
	defer drift.Stop()
	for {
		var resp store.WatchResponse
		var ok bool
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-drift.C:
			a.repairDrift(ctx)
			continue
		case resp, ok = <-resources:
		case resp, ok = <-hosts:
		}
		if !ok {
			return ctx.Err()
		}
		if resp.Err != nil {
			return resp.Err
		}
		a.take(resp)
		a.drain(resources, hosts)
		a.reconcile(ctx, false)
	}
}

// drain takes every response already waiting (and those arriving within the
// debounce), so that a burst costs one reconcile.
func (a *Agent) drain(resources, hosts <-chan store.WatchResponse) {
	timer := time.NewTimer(a.cfg.Debounce)
	defer timer.Stop()
	for {
		var resp store.WatchResponse
		var ok bool
		select {
		case resp, ok = <-resources:
		case resp, ok = <-hosts:
		case <-timer.C:
			return
		}
		if !ok || resp.Err != nil {
			return // the main loop sees the end on its next receive
		}
		a.take(resp)
	}
}

func (a *Agent) take(resp store.WatchResponse) {
	for _, ev := range resp.Events {
		var value []byte
		if ev.Type == store.EventPut {
			value = ev.KV.Value
		}
		if err := a.mirror.apply(ev.KV.Key, value, ev.KV.ModRevision); err != nil {
			a.log.Error("skipping undecodable record", "key", ev.KV.Key, "err", err)
		}
	}
	a.rev = max(a.rev, resp.Revision)
	a.metrics.saw(resp.Revision, time.Now())
}

// reconcile makes the machine match the mirror of the store: every changed
// VPC's router, firewall and overlay, its instances and hosts; and removes
// what the host no longer has. A whole reconcile (after listing the store,
// on drift, after a failure) redoes every VPC and compares the lab with the
// mirror; the others touch only the VPCs that changed, so that a rule
// change in one VPC is enforced in the time of that VPC's compile and
// table update.
func (a *Agent) reconcile(ctx context.Context, whole bool) {
	start := time.Now()
	dirty := a.mirror.changed()
	whole = whole || a.retry
	a.retry = false
	want := map[model.VpcID]bool{}
	var views []*vpcView // every wanted VPC's when whole
	for _, id := range a.mirror.vpcIDs() {
		if !whole && !dirty[id] {
			want[id] = a.vpcs[id] != nil // as it was
			continue
		}
		v := a.mirror.view(id)
		if !v.local {
			continue // no router here
		}
		want[id] = true
		views = append(views, v)
		if err := a.reconcileVPC(v, whole); err != nil {
			a.retry = true
			a.log.Error("reconcile vpc failed; will retry on the next change or drift check", "vpc", id, "err", err)
		}
	}
	if err := a.removeStale(whole, want, views); err != nil {
		a.retry = true
		a.log.Error("remove what the host no longer has; will retry", "err", err)
	}
	a.syncReports(ctx, whole)
	a.log.Debug("reconciled", "revision", a.rev, "vpcs", len(views), "whole", whole, "duration", time.Since(start))
	a.metrics.reconciled(a.rev, !a.retry, time.Now())
	select {
	case <-a.applied:
	default:
	}
	a.applied <- a.rev
}

// reconcileVPC brings one VPC in order: router, firewall, overlay, then
// instances and hosts (fail closed: the firewall exists before any
// interface, and knows the overlay before it exists).
func (a *Agent) reconcileVPC(v *vpcView, whole bool) error {
	id := v.vpc.ID
	st := a.vpcs[id]
	if st == nil || whole {
		if err := a.lab.EnsureVPC(id); err != nil {
			return fmt.Errorf("router: %w", err)
		}
	}
	if st == nil {
		t, err := a.cfg.OpenFirewall(a.lab.RouterNamespace(id), a.log.With("vpc", id))
		if err != nil {
			return fmt.Errorf("open firewall: %w", err)
		}
		st = &vpcState{table: t}
		a.vpcs[id] = st
	}
	t0 := time.Now()
	compiled := v.compiler.Compile()
	t1 := time.Now()
	view := a.mirror.obsView(id, compiled, a.cfg.Observe.Hits)
	d := v.fw.Desired(compiled)
	d.Observe = a.obs.wants(view)
	res, err := st.table.Apply(d)
	if err != nil {
		return fmt.Errorf("apply firewall: %w", err)
	}
	a.obs.track(view, st.table)
	if res.Full {
		a.log.Info("firewall programmed", "vpc", id, "chains", res.Chains, "sets", res.Sets, "elements", res.Elements, "commit", res.Commit)
	}
	t2 := time.Now()
	a.metrics.appliedVPC(t2.Sub(t1), t2)
	a.cut(st, compiled)
	st.compiled = compiled
	t3 := time.Now()
	errs := []error{a.joinHosts(st, v, whole)}
	errs = append(errs, a.wire(st, v, whole))
	for _, p := range v.pending {
		if _, wired := st.instances[p.ID]; wired && a.reported[p.ID].rev != p.Rev {
			a.report(p)
		}
	}
	a.log.Debug("reconciled vpc", "vpc", id, "compile", t1.Sub(t0), "apply", t2.Sub(t1), "commit", res.Commit,
		"cut", t3.Sub(t2), "wire", time.Since(t3))
	return errors.Join(errs...)
}

// joinHosts makes the VPC router's overlay reach the other hosts that have
// the VPC (none: no overlay).
func (a *Agent) joinHosts(st *vpcState, v *vpcView, whole bool) error {
	for _, h := range v.missing {
		a.log.Warn("instances of the vpc are placed on a host with no record; not reachable from here", "vpc", v.vpc.ID, "host", h)
	}
	o := v.overlay(a.cfg.Host, a.cfg.Underlay)
	if !whole && st.overlay != nil && reflect.DeepEqual(*st.overlay, o) {
		return nil
	}
	st.overlay = nil
	if err := a.lab.EnsureOverlay(v.vpc.ID, o); err != nil { // with peers, it needs this host's underlay
		return fmt.Errorf("overlay: %w", err)
	}
	st.overlay = &o
	return nil
}

// wire makes the VPC's instance namespaces and lab hosts match the view:
// those that changed (all of them when whole), and removes those that are
// gone. It goes on past a failure and returns them all.
func (a *Agent) wire(st *vpcState, v *vpcView, whole bool) error {
	if whole || st.instances == nil {
		st.instances, st.hosts = map[model.InstanceID]lab.Instance{}, map[string]lab.Host{}
	}
	var errs []error
	seen := map[model.InstanceID]bool{}
	for _, inst := range v.instances {
		seen[inst.ID] = true
		if was, ok := st.instances[inst.ID]; ok && was.VPC == inst.VPC && slices.EqualFunc(was.NICs, inst.NICs, lab.NIC.Equal) {
			continue
		}
		delete(st.instances, inst.ID)
		if err := a.lab.EnsureInstance(inst); err != nil {
			errs = append(errs, fmt.Errorf("wire instance %s: %w", inst.ID, err))
			continue
		}
		st.instances[inst.ID] = inst
	}
	for id := range st.instances {
		if !seen[id] {
			a.log.Info("removing instance namespace", "instance", id)
			if err := a.lab.RemoveInstance(id); err != nil {
				errs = append(errs, fmt.Errorf("remove instance %s: %w", id, err))
				continue
			}
			delete(st.instances, id)
			a.unreport(id)
		}
	}
	seenHosts := map[string]bool{}
	for _, h := range v.hosts {
		seenHosts[h.Name] = true
		if was, ok := st.hosts[h.Name]; ok && was == h {
			continue
		}
		delete(st.hosts, h.Name)
		if err := a.lab.EnsureHost(h); err != nil {
			errs = append(errs, fmt.Errorf("wire lab host %s: %w", h.Name, err))
			continue
		}
		st.hosts[h.Name] = h
	}
	for name := range st.hosts {
		if !seenHosts[name] {
			a.log.Info("removing lab host", "host", name)
			if err := a.lab.RemoveHost(name); err != nil {
				errs = append(errs, fmt.Errorf("remove lab host %s: %w", name, err))
				continue
			}
			delete(st.hosts, name)
		}
	}
	return errors.Join(errs...)
}

// cut ends the untracked flows that a change took the rule away from.
func (a *Agent) cut(st *vpcState, now *policy.Compiled) {
	if st.compiled == nil {
		return
	}
	for _, d := range policy.CutsCompiled(st.compiled, now) {
		was := dataplane.Port{ENI: d.ENI, IfName: lab.RouterIfName(d.ENI), Policy: st.compiled.Policy(d.ENI)}
		n, err := st.table.Cut(was, d.Classes, now.Policy(d.ENI))
		if err != nil {
			a.log.Error("cut untracked flows", "eni", d.ENI, "err", err)
		} else if n > 0 {
			a.log.Info("cut untracked flows", "eni", d.ENI, "flows", n)
		}
	}
}

// removeStale removes the routers of VPCs the host no longer has. A whole
// reconcile (views holds every wanted VPC's) also compares the lab with
// the mirror and removes instances and hosts that nothing wants (left by a
// crash, or by a store that changed while the agent was down); otherwise
// the per-VPC wiring already removed them.
func (a *Agent) removeStale(whole bool, want map[model.VpcID]bool, views []*vpcView) error {
	var errs []error
	vpcs := map[model.VpcID]bool{}
	for id := range a.vpcs {
		vpcs[id] = true
	}
	if whole {
		have, err := a.lab.List()
		if err != nil {
			return fmt.Errorf("list lab: %w", err)
		}
		inst, hosts := map[model.InstanceID]bool{}, map[string]bool{}
		for _, v := range views {
			for _, i := range v.instances {
				inst[i.ID] = true
			}
			for _, h := range v.hosts {
				hosts[h.Name] = true
			}
		}
		for _, i := range have.Instances {
			if !inst[i.ID] {
				a.log.Info("removing instance namespace", "instance", i.ID)
				if err := a.lab.RemoveInstance(i.ID); err != nil {
					errs = append(errs, fmt.Errorf("remove instance %s: %w", i.ID, err))
				} else {
					a.unreport(i.ID)
				}
			}
		}
		for _, h := range have.Hosts {
			if !hosts[h.Name] {
				a.log.Info("removing lab host", "host", h.Name)
				if err := a.lab.RemoveHost(h.Name); err != nil {
					errs = append(errs, fmt.Errorf("remove lab host %s: %w", h.Name, err))
				}
			}
		}
		for _, v := range have.VPCs {
			vpcs[v.ID] = true
		}
	}
	for id := range vpcs {
		if want[id] {
			continue
		}
		a.log.Info("removing vpc router", "vpc", id)
		if err := a.lab.RemoveVPC(id); err != nil {
			errs = append(errs, fmt.Errorf("remove vpc %s: %w", id, err))
		}
		// The table holds the router namespace open: close it, or the
		// deleted namespace lives on in the kernel.
		if st := a.vpcs[id]; st != nil {
			a.obs.stop(id)
			if err := st.table.Close(); err != nil {
				a.log.Error("close firewall", "vpc", id, "err", err)
			}
			delete(a.vpcs, id)
		}
	}
	return errors.Join(errs...)
}

// report queues the report that pending instance p is wired.
func (a *Agent) report(p pendingInstance) {
	if a.cfg.Host == "" {
		return
	}
	key := model.WiredKey(a.cfg.Host, p.Scope, p.ID)
	b, err := json.Marshal(model.WiredReport{Rev: p.Rev})
	if err != nil {
		a.log.Error("encode wiring report", "instance", p.ID, "err", err)
		return
	}
	a.outbox[key] = b
	a.reported[p.ID] = wiredReport{key: key, rev: p.Rev}
}

// unreport queues the removal of the instance's report, if it has one.
func (a *Agent) unreport(id model.InstanceID) {
	if r, ok := a.reported[id]; ok {
		a.outbox[r.key] = nil
		delete(a.reported, id)
	}
}

// reportBatch bounds the keys one report transaction writes.
const reportBatch = store.MaxTxnWrites / 2

// syncReports writes the queued report changes. A whole reconcile first
// lists the host's reports and queues the removal of those of instances
// the agent has not wired (left by a crash, or by an earlier run).
func (a *Agent) syncReports(ctx context.Context, whole bool) {
	if a.cfg.Host == "" {
		return
	}
	if whole {
		if err := a.dropStaleReports(ctx); err != nil {
			a.log.Error("list wiring reports", "err", err)
			a.retry = true
		}
	}
	keys := make([]string, 0, len(a.outbox))
	for k := range a.outbox {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for len(keys) > 0 {
		batch := keys[:min(len(keys), reportBatch)]
		keys = keys[len(batch):]
		_, err := a.st.Txn(ctx, func(tx store.Tx) error {
			for _, k := range batch {
				var err error
				if v := a.outbox[k]; v != nil {
					err = tx.Put(k, v)
				} else {
					err = tx.Delete(k)
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			a.log.Error("write wiring reports; will retry", "err", err)
			a.retry = true
			return
		}
		for _, k := range batch {
			delete(a.outbox, k)
		}
	}
}

// dropStaleReports queues the removal of the host's reports on instances
// that no VPC has wired, and learns the others.
func (a *Agent) dropStaleReports(ctx context.Context) error {
	page, err := a.st.List(ctx, model.WiredPrefix(a.cfg.Host), store.ListOptions{})
	if err != nil {
		return err
	}
	wired := map[model.InstanceID]bool{}
	for _, st := range a.vpcs {
		for id := range st.instances {
			wired[model.InstanceID(id)] = true
		}
	}
	for _, kv := range page.KVs {
		_, _, id, ok := model.ParseWiredKey(kv.Key)
		if _, queued := a.outbox[kv.Key]; queued {
			continue
		}
		var rep model.WiredReport
		if !ok || !wired[id] || json.Unmarshal(kv.Value, &rep) != nil {
			a.outbox[kv.Key] = nil
			delete(a.reported, id)
			continue
		}
		a.reported[id] = wiredReport{key: kv.Key, rev: rep.Rev}
	}
	return nil
}

// repairDrift restores firewalls that someone changed by hand.
func (a *Agent) repairDrift(ctx context.Context) {
	a.readDrops()
	for id, st := range a.vpcs {
		drift, err := st.table.Check()
		if err != nil {
			a.log.Error("check firewall", "vpc", id, "err", err)
			continue
		}
		if drift {
			a.log.Warn("firewall table changed outside palisade; restoring it", "vpc", id)
			a.reconcile(ctx, true)
			return
		}
	}
	if a.retry {
		a.reconcile(ctx, true)
	}
}
