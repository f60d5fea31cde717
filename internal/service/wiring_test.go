package service_test

import (
	"context"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"palisade.dev/palisade/internal/hosts"
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/mem"
)

// wiringFixture is a service with a data plane (WithWiring) following the
// wiring reports, and its store.
type wiringFixture struct {
	*fixture
	st     store.Store
	leases map[string]store.Lease // of the hosts registered, by name
}

func newWiringFixture(t *testing.T) *wiringFixture {
	t.Helper()
	st := mem.New(mem.Options{})
	t.Cleanup(func() { st.Close() })
	s, err := service.New(st, service.DefaultConfig(), service.WithWiring())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.FollowWiring(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	f := &wiringFixture{fixture: &fixture{Service: s, t: t}, st: st, leases: map[string]store.Lease{}}
	f.register("h1")
	return f
}

// register registers the host called name, available until the test ends
// or the lease is revoked.
func (f *wiringFixture) register(name string) (model.Host, store.Lease) {
	f.t.Helper()
	h, l, err := hosts.Register(ctx, f.st, name, netip.MustParseAddr("192.0.2.1"), hosts.DefaultTTL)
	if err != nil {
		f.t.Fatal(err)
	}
	f.leases[name] = l
	return h, l
}

// down ends the lease of host name: its agent is gone.
func (f *wiringFixture) down(name string) {
	f.t.Helper()
	if err := f.leases[name].Revoke(ctx); err != nil {
		f.t.Fatal(err)
	}
}

// report writes host's report that it wired the instance record of
// revision rev.
func (f *wiringFixture) report(host string, c service.Caller, id model.InstanceID, rev int64) {
	f.t.Helper()
	b, _ := json.Marshal(model.WiredReport{Rev: rev})
	key := model.WiredKey(host, model.Scope{Account: c.Account, Region: c.Region}, id)
	if _, err := f.st.Txn(ctx, func(tx store.Tx) error { return tx.Put(key, b) }); err != nil {
		f.t.Fatal(err)
	}
}

// record returns the instance's record revision.
func (f *wiringFixture) record(c service.Caller, id model.InstanceID) int64 {
	f.t.Helper()
	kv, err := f.st.Get(ctx, model.ResourceKey(model.Scope{Account: c.Account, Region: c.Region}, model.KeyInstance, string(id)))
	if err != nil {
		f.t.Fatal(err)
	}
	return kv.ModRevision
}

// waitState waits (boundedly) until the instance is described in state.
func (f *wiringFixture) waitState(c service.Caller, id model.InstanceID, want model.InstanceState) {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := f.describeInstance(c, id).State
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%s is %s, want %s", id, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stays checks that the instance is still in state after the service has
// had the time to act on a report (a report the service acts on is seen
// within milliseconds; 200 ms only makes a wrong promotion likely to show).
func (f *wiringFixture) stays(c service.Caller, id model.InstanceID, want model.InstanceState) {
	f.t.Helper()
	time.Sleep(200 * time.Millisecond)
	if got := f.describeInstance(c, id).State; got != want {
		f.t.Fatalf("%s is %s, want it to stay %s", id, got, want)
	}
}

// TestWiredInstancesBecomeRunning: with a data plane, a launched instance
// is pending until a report names its current record; a report of an
// earlier record (before a stop and start) promotes nothing; a pending
// instance cannot be stopped, and starting it again changes nothing.
func TestWiredInstancesBecomeRunning(t *testing.T) {
	f := newWiringFixture(t)
	res := f.run(bob, service.RunInstancesInput{})
	id := res.Instances[0].ID
	if s := res.Instances[0].State; s != model.StatePending {
		t.Fatalf("RunInstances answered %s", s)
	}
	if s := f.describeInstance(bob, id).State; s != model.StatePending {
		t.Fatalf("described as %s before any report, want pending", s)
	}
	_, err := f.StopInstances(ctx, bob, []string{string(id)})
	wantErr(t, err, model.CodeIncorrectState, "is not in a state from which it can be stopped")
	changes, err := f.StartInstances(ctx, bob, []string{string(id)})
	if err != nil || changes[0].Previous != model.StatePending || changes[0].Current != model.StatePending {
		t.Fatalf("StartInstances of a pending instance: %+v, %v", changes, err)
	}

	first := f.record(bob, id)
	f.report("h1", bob, id, first-1) // not the current record
	f.stays(bob, id, model.StatePending)
	f.report("h1", bob, id, first)
	f.waitState(bob, id, model.StateRunning)

	if _, err := f.StopInstances(ctx, bob, []string{string(id)}); err != nil {
		t.Fatal(err)
	}
	changes, err = f.StartInstances(ctx, bob, []string{string(id)})
	if err != nil || changes[0].Current != model.StatePending {
		t.Fatalf("StartInstances after a stop: %+v, %v", changes, err)
	}
	f.report("h1", bob, id, first) // the report of the first launch, again
	f.stays(bob, id, model.StatePending)
	f.report("h1", bob, id, f.record(bob, id))
	f.waitState(bob, id, model.StateRunning)
}

// TestWithoutWiringInstancesRunAtOnce: without a data plane, instances are
// stored running at once (answered pending), as before.
func TestWithoutWiringInstancesRunAtOnce(t *testing.T) {
	f := newFixture(t)
	res := f.run(bob, service.RunInstancesInput{})
	if s := res.Instances[0].State; s != model.StatePending {
		t.Fatalf("RunInstances answered %s", s)
	}
	if s := f.describeInstance(bob, res.Instances[0].ID).State; s != model.StateRunning {
		t.Fatalf("described as %s, want running", s)
	}
}
