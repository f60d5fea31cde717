package agent

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"palisade.dev/palisade/internal/hosts"
	"palisade.dev/palisade/internal/lab"
	"palisade.dev/palisade/internal/labtest"
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/mem"
	"palisade.dev/palisade/internal/testutil"
)

// reportRig is a service that waits for wiring reports, an agent wiring a
// lab of its own, and the store they share.
type reportRig struct {
	t   *testing.T
	st  store.Store
	svc *service.Service
	lab *lab.Lab
	c   service.Caller
	// host is the agent's registered host, where instances are placed.
	host model.Host
}

func newReportRig(t *testing.T) *reportRig {
	t.Helper()
	testutil.RequireRoot(t)
	st := mem.New(mem.Options{})
	t.Cleanup(func() { st.Close() })
	svc, err := service.New(st, service.DefaultConfig(), service.WithWiring())
	if err != nil {
		t.Fatal(err)
	}
	l, err := lab.New(lab.Config{RouterPrefix: "par" + labtest.RandHex(6) + "-"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); svc.FollowWiring(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	host, _, err := hosts.Register(ctx, st, "h1", netip.Addr{}, hosts.DefaultTTL)
	if err != nil {
		t.Fatal(err)
	}
	return &reportRig{t: t, st: st, svc: svc, lab: l, c: service.Caller{Account: "123456789012", Region: "us-east-1"}, host: host}
}

// runAgent runs an agent until the returned stop is called (or the test
// ends).
func (r *reportRig) runAgent() (stop func()) {
	cfg := DefaultConfig()
	cfg.Host, cfg.HostID = "h1", r.host.ID
	a := New(r.st, r.lab, cfg, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	r.t.Cleanup(stop)
	return stop
}

func (r *reportRig) state(id model.InstanceID) model.InstanceState {
	r.t.Helper()
	rs, _, err := r.svc.DescribeInstances(context.Background(), r.c, service.DescribeInstancesInput{IDs: []string{string(id)}})
	if err != nil {
		r.t.Fatal(err)
	}
	return rs[0].Instances[0].State
}

// eventually waits (boundedly) until cond holds.
func (r *reportRig) eventually(what string, cond func() bool) {
	r.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: not within 20s", what)
		}
	}
}

// reports lists host h1's reports: instance ID → reported revision.
func (r *reportRig) reports() map[model.InstanceID]int64 {
	r.t.Helper()
	page, err := r.st.List(context.Background(), model.WiredPrefix("h1"), store.ListOptions{})
	if err != nil {
		r.t.Fatal(err)
	}
	out := map[model.InstanceID]int64{}
	for _, kv := range page.KVs {
		_, _, id, ok := model.ParseWiredKey(kv.Key)
		var rep model.WiredReport
		if !ok || json.Unmarshal(kv.Value, &rep) != nil {
			r.t.Fatalf("malformed report %s = %s", kv.Key, kv.Value)
		}
		out[id] = rep.Rev
	}
	return out
}

// TestAgentReportsWhatItWired: a launched instance is pending until the
// agent has wired it (its namespace exists by then) and reported it; a
// stop and a start so close together that the agent may never see the
// instance stopped still end running (the new record is reported); a
// terminated instance's report goes; and a report left by an earlier run
// of an instance that no longer runs is removed when an agent starts.
func TestAgentReportsWhatItWired(t *testing.T) {
	r := newReportRig(t)
	stop := r.runAgent()
	ctx := context.Background()
	res, err := r.svc.RunInstances(ctx, r.c, service.RunInstancesInput{ImageID: "lab", MinCount: ptr(int32(2)), MaxCount: ptr(int32(2))})
	if err != nil {
		t.Fatal(err)
	}
	a, b := res.Instances[0].ID, res.Instances[1].ID
	for _, id := range []model.InstanceID{a, b} {
		r.eventually(string(id)+" running", func() bool { return r.state(id) == model.StateRunning })
		if err := lab.Do(string(id), func() error { return nil }); err != nil {
			t.Fatalf("%s is running without its namespace: %v", id, err)
		}
	}

	if _, err := r.svc.StopInstances(ctx, r.c, []string{string(a)}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.StartInstances(ctx, r.c, []string{string(a)}); err != nil {
		t.Fatal(err)
	}
	r.eventually(string(a)+" running again", func() bool { return r.state(a) == model.StateRunning })

	if _, err := r.svc.TerminateInstances(ctx, r.c, []string{string(b)}); err != nil {
		t.Fatal(err)
	}
	r.eventually("the report of terminated "+string(b)+" removed", func() bool { _, ok := r.reports()[b]; return !ok })
	if _, ok := r.reports()[a]; !ok {
		t.Fatalf("no report of %s, which runs", a)
	}

	stop()
	stale, _ := json.Marshal(model.WiredReport{Rev: 1})
	staleKey := model.WiredKey("h1", model.Scope{Account: r.c.Account, Region: r.c.Region}, "i-0123456789abcdef0")
	if _, err := r.st.Txn(ctx, func(tx store.Tx) error { return tx.Put(staleKey, stale) }); err != nil {
		t.Fatal(err)
	}
	r.runAgent()
	r.eventually("the stale report removed", func() bool { _, ok := r.reports()["i-0123456789abcdef0"]; return !ok })
	if _, ok := r.reports()[a]; !ok {
		t.Errorf("the report of %s, still wired, went too", a)
	}
}

func ptr[T any](v T) *T { return &v }
