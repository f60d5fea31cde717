package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"palisade.dev/palisade/internal/dataplane"
	"palisade.dev/palisade/internal/lab"
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policy"
	"palisade.dev/palisade/internal/service"
	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/mem"
)

// The tests in this file run the agent's reconcile against an in-memory
// lab and firewall: no root, no kernel, milliseconds each.

// fakeLab records what the agent wired. failures makes the next calls of
// an operation on an ID fail.
type fakeLab struct {
	mu        sync.Mutex
	vpcs      map[model.VpcID]bool
	overlays  map[model.VpcID]lab.Overlay
	instances map[model.InstanceID]lab.Instance
	hosts     map[string]lab.Host
	failures  map[string]int // "EnsureInstance i-…" → how many calls still fail
	calls     map[string]int // by operation, and by operation and ID
}

func newFakeLab() *fakeLab {
	return &fakeLab{vpcs: map[model.VpcID]bool{}, overlays: map[model.VpcID]lab.Overlay{}, instances: map[model.InstanceID]lab.Instance{},
		hosts: map[string]lab.Host{}, failures: map[string]int{}, calls: map[string]int{}}
}

// call counts op and says whether it fails.
func (f *fakeLab) call(op, id string) error {
	f.calls[op]++
	f.calls[op+" "+id]++
	for _, k := range []string{op + " " + id, op + " *"} {
		if n := f.failures[k]; n > 0 {
			f.failures[k] = n - 1
			return fmt.Errorf("%s %s: injected failure", op, id)
		}
	}
	return nil
}

func (f *fakeLab) failNext(op, id string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures[op+" "+id] = n
}

func (f *fakeLab) EnsureVPC(id model.VpcID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("EnsureVPC", string(id)); err != nil {
		return err
	}
	f.vpcs[id] = true
	return nil
}

func (f *fakeLab) RemoveVPC(id model.VpcID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("RemoveVPC", string(id)); err != nil {
		return err
	}
	delete(f.vpcs, id)
	delete(f.overlays, id)
	for k, i := range f.instances {
		if i.VPC == id {
			delete(f.instances, k)
		}
	}
	return nil
}

func (f *fakeLab) RouterNamespace(id model.VpcID) string { return "fake-" + string(id) }

func (f *fakeLab) EnsureOverlay(id model.VpcID, o lab.Overlay) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("EnsureOverlay", string(id)); err != nil {
		return err
	}
	if !f.vpcs[id] {
		return fmt.Errorf("overlay of %s: %w", id, lab.ErrNoVPC)
	}
	if len(o.Peers) == 0 {
		delete(f.overlays, id)
	} else {
		f.overlays[id] = o
	}
	return nil
}

func (f *fakeLab) EnsureInstance(inst lab.Instance) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("EnsureInstance", string(inst.ID)); err != nil {
		return err
	}
	if !f.vpcs[inst.VPC] {
		return fmt.Errorf("instance %s: %w", inst.ID, lab.ErrNoVPC)
	}
	f.instances[inst.ID] = inst
	return nil
}

func (f *fakeLab) RemoveInstance(id model.InstanceID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("RemoveInstance", string(id)); err != nil {
		return err
	}
	delete(f.instances, id)
	return nil
}

func (f *fakeLab) EnsureHost(h lab.Host) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("EnsureHost", h.Name); err != nil {
		return err
	}
	f.hosts[h.Name] = h
	return nil
}

func (f *fakeLab) RemoveHost(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.hosts, name)
	return f.call("RemoveHost", name)
}

func (f *fakeLab) List() (lab.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var st lab.State
	for id := range f.vpcs {
		st.VPCs = append(st.VPCs, lab.VPC{ID: id})
	}
	for _, i := range f.instances {
		st.Instances = append(st.Instances, i)
	}
	for _, h := range f.hosts {
		st.Hosts = append(st.Hosts, h)
	}
	return st, f.call("List", "")
}

// snapshot returns the wired instance IDs and, per VPC, the overlay's
// peers as "underlay=addr,addr".
func (f *fakeLab) snapshot() (instances []string, overlays map[string][]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id := range f.instances {
		instances = append(instances, string(id))
	}
	slices.Sort(instances)
	overlays = map[string][]string{}
	for vpc, o := range f.overlays {
		for _, p := range o.Peers {
			overlays[string(vpc)] = append(overlays[string(vpc)], fmt.Sprintf("%s=%v", p.Underlay, p.Addrs))
		}
	}
	return instances, overlays
}

// fakeFirewall records the last content applied; drift makes the next
// Check report a hand edit.
type fakeFirewall struct {
	mu      sync.Mutex
	applied int
	last    dataplane.Desired
	drift   bool
	closed  bool
}

func (f *fakeFirewall) Apply(d dataplane.Desired) (dataplane.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied++
	f.last = d
	return dataplane.Result{}, nil
}

func (f *fakeFirewall) Cut(dataplane.Port, []policy.UntrackedClass, *policy.Policy) (int, error) {
	return 0, nil
}

func (f *fakeFirewall) Check() (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.drift
	f.drift = false
	return d, nil
}

func (f *fakeFirewall) Drops() (map[model.ENIID]dataplane.Drops, error) { return nil, nil }

func (f *fakeFirewall) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

// ports returns the ENIs the firewall enforces and its outside interfaces.
func (f *fakeFirewall) ports() (enis []model.ENIID, outside []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.last.Ports {
		enis = append(enis, p.ENI)
	}
	return enis, slices.Clone(f.last.HostIfaces)
}

// rig is a service on a memory store and agents on fake labs.
type rig struct {
	t   *testing.T
	ctx context.Context
	st  store.Store
	svc *service.Service
	c   service.Caller
}

func newRig(t *testing.T) *rig {
	st := mem.New(mem.Options{})
	t.Cleanup(func() { st.Close() })
	svc, err := service.New(st, service.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, ctx: context.Background(), st: st, svc: svc,
		c: service.Caller{Account: "123456789012", Region: "us-east-1"}}
}

// fakeAgent is an agent running on a fake lab with fake firewalls.
type fakeAgent struct {
	*Agent
	lab *fakeLab
	mu  sync.Mutex
	fws map[string]*fakeFirewall // by router namespace
}

func (r *rig) agent(cfg Config) *fakeAgent {
	fa := &fakeAgent{lab: newFakeLab(), fws: map[string]*fakeFirewall{}}
	cfg.Debounce = time.Millisecond
	cfg.DriftEvery = 10 * time.Millisecond
	cfg.OpenFirewall = func(ns string, _ *slog.Logger) (Firewall, error) {
		fa.mu.Lock()
		defer fa.mu.Unlock()
		fw := &fakeFirewall{}
		fa.fws[ns] = fw
		return fw, nil
	}
	fa.Agent = New(r.st, fa.lab, cfg, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(r.ctx)
	done := make(chan struct{})
	go func() { defer close(done); fa.Run(ctx) }()
	r.t.Cleanup(func() { cancel(); <-done })
	return fa
}

func (fa *fakeAgent) firewall(vpc model.VpcID) *fakeFirewall {
	fa.mu.Lock()
	defer fa.mu.Unlock()
	return fa.fws["fake-"+string(vpc)]
}

// eventually waits (boundedly) until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
	}
}

func (r *rig) run(n int32) []service.InstanceView {
	r.t.Helper()
	res, err := r.svc.RunInstances(r.ctx, r.c, service.RunInstancesInput{ImageID: "lab", MinCount: &n, MaxCount: &n})
	if err != nil {
		r.t.Fatal(err)
	}
	return res.Instances
}

// place moves an instance's record onto host h, as placement does.
func (r *rig) place(id model.InstanceID, h model.HostID) {
	r.t.Helper()
	key := model.ResourceKey(model.Scope{Account: r.c.Account, Region: r.c.Region}, model.KeyInstance, string(id))
	_, err := r.st.Txn(r.ctx, func(tx store.Tx) error {
		kv, err := tx.Get(key)
		if err != nil {
			return err
		}
		var i model.Instance
		if err := json.Unmarshal(kv.Value, &i); err != nil {
			return err
		}
		i.Host = h
		b, _ := json.Marshal(i)
		return tx.Put(key, b)
	})
	if err != nil {
		r.t.Fatal(err)
	}
}

// register writes a host's record, as its agent does.
func (r *rig) register(h model.Host) {
	r.t.Helper()
	b, _ := json.Marshal(h)
	if _, err := r.st.Txn(r.ctx, func(tx store.Tx) error { return tx.Put(model.HostKey(h.Name), b) }); err != nil {
		r.t.Fatal(err)
	}
}

func ids(is []service.InstanceView) []string {
	var out []string
	for _, i := range is {
		out = append(out, string(i.ID))
	}
	slices.Sort(out)
	return out
}

// TestReconcileWiresWhatTheStoreSays: the agent gives the default VPC a
// router and a firewall that enforces exactly the running instances'
// interfaces, wires the instances, and removes a terminated one.
func TestReconcileWiresWhatTheStoreSays(t *testing.T) {
	r := newRig(t)
	fa := r.agent(DefaultConfig())
	insts := r.run(2)
	vpc := insts[0].VPC
	eventually(t, "both instances wired", func() bool {
		got, _ := fa.lab.snapshot()
		return slices.Equal(got, ids(insts))
	})
	eventually(t, "the firewall enforces both interfaces", func() bool {
		fw := fa.firewall(vpc)
		if fw == nil {
			return false
		}
		enis, _ := fw.ports()
		return len(enis) == 2
	})
	if _, err := r.svc.TerminateInstances(r.ctx, r.c, []string{string(insts[0].ID)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the terminated instance unwired", func() bool {
		got, _ := fa.lab.snapshot()
		return slices.Equal(got, []string{string(insts[1].ID)})
	})
	enis, _ := fa.firewall(vpc).ports()
	if !slices.Equal(enis, []model.ENIID{insts[1].ENIs[0]}) {
		t.Fatalf("firewall enforces %v, want only %s", enis, insts[1].ENIs[0])
	}
}

// TestReconcileRetriesWhatFailed: an instance whose wiring fails twice is
// wired by the retries that follow (on the drift ticks), without another
// change in the store; a firewall edited by hand is applied again whole.
func TestReconcileRetriesWhatFailed(t *testing.T) {
	r := newRig(t)
	fa := r.agent(DefaultConfig())
	first := r.run(1)
	eventually(t, "the first instance wired", func() bool { got, _ := fa.lab.snapshot(); return len(got) == 1 })

	// The next instance's ID is unknown before it is launched: fail the
	// next two calls of EnsureInstance, whichever ID: the first is the new
	// instance's (the first one is wired and nothing else changes), the
	// second may be either's, as a retry wires both again.
	fa.lab.failNext("EnsureInstance", "*", 2)
	second := r.run(1)
	eventually(t, "the second instance wired after its failures", func() bool {
		got, _ := fa.lab.snapshot()
		return slices.Equal(got, ids(append(first, second...)))
	})
	fa.lab.mu.Lock()
	tries := fa.lab.calls["EnsureInstance "+string(second[0].ID)]
	fa.lab.mu.Unlock()
	if tries < 2 {
		t.Fatalf("EnsureInstance of the new instance called %d times, want a failure and a retry", tries)
	}

	fw := fa.firewall(first[0].VPC)
	fw.mu.Lock()
	applied := fw.applied
	fw.drift = true
	fw.mu.Unlock()
	eventually(t, "the drifted firewall applied again", func() bool {
		fw.mu.Lock()
		defer fw.mu.Unlock()
		return fw.applied > applied
	})
}

// TestReconcileErrorsAreReturned: wire reports every failure of a pass
// instead of setting a flag, and the agent's retry comes from that error.
func TestReconcileErrorsAreReturned(t *testing.T) {
	l := newFakeLab()
	a := New(nil, l, DefaultConfig(), slog.New(slog.DiscardHandler))
	l.vpcs["vpc-0123456789abcdef0"] = true
	l.failNext("EnsureInstance", "i-00000000000000001", 1)
	l.failNext("EnsureHost", "h1", 1)
	st := &vpcState{}
	v := &vpcView{vpc: &model.VPC{ID: "vpc-0123456789abcdef0"},
		instances: []lab.Instance{{ID: "i-00000000000000001", VPC: "vpc-0123456789abcdef0"}, {ID: "i-00000000000000002", VPC: "vpc-0123456789abcdef0"}},
		hosts:     []lab.Host{{Name: "h1", VPC: "vpc-0123456789abcdef0"}}}
	err := a.wire(st, v, true)
	if err == nil {
		t.Fatal("wire: no error, want the two injected failures")
	}
	for _, want := range []string{"i-00000000000000001", "h1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("wire error %q does not name %s", err, want)
		}
	}
	if _, ok := st.instances["i-00000000000000002"]; !ok {
		t.Error("the instance that did not fail was not wired")
	}
	if a.retry {
		t.Error("wire set the retry flag itself")
	}
}

// TestHostsWireOnlyTheirOwn: two agents of two hosts share a store; each
// wires only the instances placed on it, has a router only for VPCs it has
// instances of, and its router's overlay reaches the other host at the
// addresses of the instances there; the firewall treats the overlay as the
// outside. When the remote instance stops, the overlay stops announcing it.
func TestHostsWireOnlyTheirOwn(t *testing.T) {
	r := newRig(t)
	h1 := model.Host{ID: "h-00000000000000001", Name: "alpha", Underlay: netip.MustParseAddr("192.168.77.1")}
	h2 := model.Host{ID: "h-00000000000000002", Name: "beta", Underlay: netip.MustParseAddr("192.168.77.2")}
	r.register(h1)
	r.register(h2)
	insts := r.run(3)
	r.place(insts[0].ID, h1.ID)
	r.place(insts[1].ID, h1.ID)
	r.place(insts[2].ID, h2.ID)
	a1 := r.agent(Config{Host: h1.Name, HostID: h1.ID, Underlay: h1.Underlay})
	a2 := r.agent(Config{Host: h2.Name, HostID: h2.ID, Underlay: h2.Underlay})
	vpc := string(insts[0].VPC)
	addr2 := insts[2].PrivateIP
	eventually(t, "alpha wires its two and reaches beta's", func() bool {
		got, ov := a1.lab.snapshot()
		return slices.Equal(got, ids(insts[:2])) && slices.Equal(ov[vpc], []string{fmt.Sprintf("192.168.77.2=[%s]", addr2)})
	})
	eventually(t, "beta wires its one and reaches alpha's two", func() bool {
		got, ov := a2.lab.snapshot()
		return slices.Equal(got, ids(insts[2:])) && len(ov[vpc]) == 1
	})
	enis, outside := a1.firewall(insts[0].VPC).ports()
	if len(enis) != 2 || !slices.Contains(outside, lab.OverlayIfName) {
		t.Fatalf("alpha's firewall enforces %v with outside %v, want its two interfaces and the overlay outside", enis, outside)
	}

	// Another VPC with an instance only on beta: alpha has no router for it.
	if _, err := r.svc.StopInstances(r.ctx, r.c, []string{string(insts[2].ID)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "alpha's overlay gone with beta's only instance", func() bool {
		_, ov := a1.lab.snapshot()
		return len(ov[vpc]) == 0
	})
	eventually(t, "beta's router gone with its only instance", func() bool {
		a2.lab.mu.Lock()
		defer a2.lab.mu.Unlock()
		return !a2.lab.vpcs[model.VpcID(vpc)]
	})
}

// laggingStore is a store whose resource watches can be made to fall
// behind: while lag is set they drop every event, and then end with a
// *store.CompactedError, as a watch does that fell behind compaction.
type laggingStore struct {
	store.Store
	mu      sync.Mutex
	lag     bool
	compact chan struct{} // closed: the lagging watch ends compacted
	watches int           // resource watches opened
}

func (s *laggingStore) Watch(ctx context.Context, prefix string, from int64) (<-chan store.WatchResponse, error) {
	in, err := s.Store.Watch(ctx, prefix, from)
	if err != nil || prefix != model.ResourceRoot {
		return in, err
	}
	s.mu.Lock()
	s.watches++
	s.mu.Unlock()
	out := make(chan store.WatchResponse)
	go func() {
		defer close(out)
		for {
			s.mu.Lock()
			lag, compact := s.lag, s.compact
			s.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-compact:
				if lag {
					s.mu.Lock()
					s.lag = false
					s.mu.Unlock()
					out <- store.WatchResponse{Err: &store.CompactedError{Requested: from, Oldest: from + 100}}
					return
				}
			case resp, ok := <-in:
				if !ok {
					return
				}
				s.mu.Lock()
				lag = s.lag
				s.mu.Unlock()
				if lag {
					continue // dropped: the watch fell behind
				}
				select {
				case out <- resp:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// TestAgentRelistsAfterCompaction: when its watch fell behind compaction
// (the changes in between are lost to it), the agent lists the store again
// and catches up on what it missed, without a restart.
func TestAgentRelistsAfterCompaction(t *testing.T) {
	r := newRig(t)
	ls := &laggingStore{Store: r.st, compact: make(chan struct{})}
	r.st = ls
	fa := r.agent(DefaultConfig())
	first := r.run(1)
	eventually(t, "the first instance wired", func() bool { got, _ := fa.lab.snapshot(); return len(got) == 1 })

	ls.mu.Lock()
	ls.lag = true
	ls.mu.Unlock()
	missed := r.run(1) // its events are dropped
	time.Sleep(50 * time.Millisecond)
	if got, _ := fa.lab.snapshot(); len(got) != 1 {
		t.Fatalf("the agent saw an instance its watch dropped: %v", got)
	}
	close(ls.compact)
	eventually(t, "the missed instance wired after the relist", func() bool {
		got, _ := fa.lab.snapshot()
		return slices.Equal(got, ids(append(first, missed...)))
	})
	// It wires what it listed, then opens its watch again.
	eventually(t, "a second resource watch after the relist", func() bool {
		ls.mu.Lock()
		defer ls.mu.Unlock()
		return ls.watches >= 2
	})
}
