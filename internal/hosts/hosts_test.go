package hosts_test

import (
	"context"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"palisade.dev/palisade/internal/hosts"
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/bolt"
	"palisade.dev/palisade/internal/store/etcd"
	"palisade.dev/palisade/internal/store/mem"
	"palisade.dev/palisade/internal/testutil"
)

func register(t *testing.T, st store.Store, name, underlay string) (model.Host, store.Lease) {
	t.Helper()
	h, l, err := hosts.Register(context.Background(), st, name, netip.MustParseAddr(underlay), hosts.DefaultTTL)
	if err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	return h, l
}

func list(t *testing.T, st store.Store) []hosts.Host {
	t.Helper()
	all, err := hosts.List(hosts.Snapshot(context.Background(), st))
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// A host keeps its ID across registrations, is available while its lease
// lives, and List finds every host past the keys its agent writes.
func TestRegister(t *testing.T) {
	ctx := context.Background()
	st := mem.New(mem.Options{})
	defer st.Close()
	a, la := register(t, st, "alpha", "10.0.0.1")
	if _, err := model.ParseHostID(string(a.ID)); err != nil || a.Name != "alpha" {
		t.Fatalf("registered %+v: %v", a, err)
	}
	scope := model.Scope{Account: "123456789012", Region: "us-east-1"}
	if _, err := st.Txn(ctx, func(tx store.Tx) error { // an agent's other keys, between hosts
		return tx.Put(model.WiredKey("alpha", scope, "i-0123456789abcdef0"), []byte(`{"rev":1}`))
	}); err != nil {
		t.Fatal(err)
	}
	b, _ := register(t, st, "alpha.b", "10.0.0.2") // sorts before alpha/
	c, _ := register(t, st, "beta", "10.0.0.3")
	got := list(t, st)
	if len(got) != 3 || got[0].ID != b.ID || got[1].ID != a.ID || got[2].ID != c.ID {
		t.Fatalf("hosts %+v", got)
	}
	for _, h := range got {
		if !h.Available {
			t.Errorf("host %s not available", h.Name)
		}
	}
	if err := la.Revoke(ctx); err != nil {
		t.Fatal(err)
	}
	h, ok, err := hosts.ByID(hosts.Snapshot(ctx, st), a.ID)
	if err != nil || !ok || h.Available || h.Name != "alpha" {
		t.Fatalf("alpha after revoke: %+v %v %v", h, ok, err)
	}
	again, _ := register(t, st, "alpha", "10.0.0.9")
	if again.ID != a.ID || again.Underlay != netip.MustParseAddr("10.0.0.9") {
		t.Fatalf("registered again: %+v, was %+v", again, a)
	}
	if h, _, _ := hosts.ByName(hosts.Snapshot(ctx, st), "alpha"); !h.Available || h.Underlay != again.Underlay {
		t.Fatalf("alpha registered again: %+v", h)
	}
	if _, _, err := hosts.Register(ctx, st, "a/b", netip.Addr{}, hosts.DefaultTTL); model.CodeOf(err) != model.CodeInvalidParameterValue {
		t.Fatalf("register a/b: %v", err)
	}
}

// On the embedded store a host whose process went away is under
// assessment when the store is opened next.
func TestRegisterBoltReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	st, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := register(t, st, "alpha", "10.0.0.1")
	st.Close()
	if st, err = bolt.Open(path, bolt.Options{}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got := list(t, st)
	if len(got) != 1 || got[0].ID != a.ID || got[0].Available {
		t.Fatalf("hosts after reopen: %+v", got)
	}
}

// Keep registers a host again when etcd ends its lease (here revoked with
// etcdctl, as etcd does to an agent cut off for the TTL), and its stop
// leaves the host under assessment at once.
func TestKeepOnEtcd(t *testing.T) {
	c := testutil.StartEtcd(t, 1)
	ctx := context.Background()
	st, err := etcd.Open(ctx, etcd.Options{Endpoints: c.Endpoints})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var mu sync.Mutex
	var reported []error
	h, stop, err := hosts.Keep(ctx, st, "alpha", netip.MustParseAddr("10.0.0.1"), hosts.DefaultTTL, func(err error) {
		mu.Lock()
		reported = append(reported, err)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	alive := func() bool {
		got, ok, err := hosts.ByName(hosts.Snapshot(ctx, st), "alpha")
		if err != nil || !ok || got.ID != h.ID {
			t.Fatalf("alpha: %+v %v %v", got, ok, err)
		}
		return got.Available
	}
	if !alive() {
		t.Fatal("alpha not available after Keep")
	}
	out, err := exec.Command("etcdctl", "--endpoints", strings.Join(c.Endpoints, ","), "lease", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("etcdctl lease list: %v: %s", err, out)
	}
	id := strings.TrimSpace(strings.Split(strings.TrimSpace(string(out)), "\n")[1])
	if out, err := exec.Command("etcdctl", "--endpoints", strings.Join(c.Endpoints, ","), "lease", "revoke", id).CombinedOutput(); err != nil {
		t.Fatalf("etcdctl lease revoke %s: %v: %s", id, err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !alive() {
		if time.Now().After(deadline) {
			t.Fatal("alpha not available again 10s after its lease was revoked")
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if alive() {
		t.Fatal("alpha still available after stop")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) != 0 {
		t.Fatalf("errors reported: %v", reported)
	}
}
