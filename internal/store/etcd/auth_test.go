package etcd_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/etcd"
	"palisade.dev/palisade/internal/testutil"
)

// agentRole is docs/cluster.md's role of the agent of host alpha, for the
// store's default prefix.
var agentRole = [][]string{
	{"role", "add", "palisade-agent-alpha"},
	{"role", "grant-permission", "palisade-agent-alpha", "read", "--prefix=true", "/palisade/"},
	{"role", "grant-permission", "palisade-agent-alpha", "readwrite", "--prefix=true", "/palisade/d/w/alpha/"},
	{"role", "grant-permission", "palisade-agent-alpha", "readwrite", "--prefix=true", "/palisade/t/w/alpha/"},
	{"user", "add", "agent-alpha:agent-pw", "--interactive=false"},
	{"user", "grant-role", "agent-alpha", "palisade-agent-alpha"},
}

// With etcd auth on, an agent whose user has the documented role reads
// everything, writes and deletes its host's keys (its lease key included),
// and is refused, with store.ErrPermissionDenied, anywhere else.
func TestAgentRole(t *testing.T) {
	c := testutil.StartEtcd(t, 1)
	c.Etcdctl(t, "user", "add", "root:root-pw", "--interactive=false")
	for _, args := range agentRole {
		c.Etcdctl(t, args...)
	}
	c.Etcdctl(t, "auth", "enable")
	ctx := context.Background()
	open := func(user, pw string) *etcd.Store {
		t.Helper()
		s, err := etcd.Open(ctx, etcd.Options{Endpoints: c.Endpoints, Username: user, Password: pw})
		if err != nil {
			t.Fatalf("open as %s: %v", user, err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	admin, agent := open("root", "root-pw"), open("agent-alpha", "agent-pw")
	scope := model.Scope{Account: "123456789012", Region: "us-east-1"}
	group := model.ResourceKey(scope, model.KeyGroup, "sg-0123456789abcdef0")
	if _, err := admin.Txn(ctx, func(tx store.Tx) error { return tx.Put(group, []byte("{}")) }); err != nil {
		t.Fatal(err)
	}

	if _, err := agent.Get(ctx, group); err != nil {
		t.Fatalf("agent reads a resource: %v", err)
	}
	if p, err := agent.List(ctx, model.ResourceRoot, store.ListOptions{}); err != nil || len(p.KVs) != 1 {
		t.Fatalf("agent lists the resources: %+v, %v", p, err)
	}
	wired := model.WiredKey("alpha", scope, "i-0123456789abcdef0")
	put := func(s *etcd.Store, key string) error {
		_, err := s.Txn(ctx, func(tx store.Tx) error {
			if _, err := tx.Get(group); err != nil { // a read-modify-write, compared at commit
				return err
			}
			return tx.Put(key, []byte(`{"rev":1}`))
		})
		return err
	}
	if err := put(agent, wired); err != nil {
		t.Fatalf("agent writes its wiring report: %v", err)
	}
	if _, err := agent.Txn(ctx, func(tx store.Tx) error { return tx.Delete(wired) }); err != nil {
		t.Fatalf("agent deletes its wiring report: %v", err)
	}
	lease, err := agent.Grant(ctx, store.MinLeaseTTL)
	if err != nil {
		t.Fatalf("agent grants a lease: %v", err)
	}
	if _, err := lease.Put(ctx, model.HostAliveKey("alpha"), []byte("h-0123456789abcdef0")); err != nil {
		t.Fatalf("agent puts its liveness key: %v", err)
	}
	if _, err := admin.Get(ctx, model.HostAliveKey("alpha")); err != nil {
		t.Fatalf("admin reads alpha's liveness key: %v", err)
	}

	for _, key := range []string{group, model.WiredKey("beta", scope, "i-0123456789abcdef0"), model.HostKey("beta")} {
		if err := put(agent, key); !errors.Is(err, store.ErrPermissionDenied) || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("agent writes %s: %v, want ErrPermissionDenied", key, err)
		}
	}
	if _, err := lease.Put(ctx, model.HostAliveKey("beta"), []byte("x")); !errors.Is(err, store.ErrPermissionDenied) {
		t.Errorf("agent puts beta's liveness key: %v, want ErrPermissionDenied", err)
	}
	if err := lease.Revoke(ctx); err != nil {
		t.Fatalf("agent revokes its lease: %v", err)
	}
}
