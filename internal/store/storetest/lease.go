package storetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"palisade.dev/palisade/internal/store"
)

// grant starts a lease of the shortest TTL.
func grant(t *testing.T, s store.Store) store.Lease {
	t.Helper()
	l, err := s.Grant(context.Background(), store.MinLeaseTTL)
	if err != nil {
		t.Fatalf("grant: %v", err)
	}
	return l
}

// leasePut puts key=value under l.
func leasePut(t *testing.T, l store.Lease, key, value string) int64 {
	t.Helper()
	rev, err := l.Put(context.Background(), key, []byte(value))
	if err != nil {
		t.Fatalf("lease put %q: %v", key, err)
	}
	return rev
}

// wantEnded checks that l's Done is closed.
func wantEnded(t *testing.T, l store.Lease) {
	t.Helper()
	select {
	case <-l.Done():
	case <-time.After(waitFor):
		t.Fatalf("lease %d not done after %v", l.ID(), waitFor)
	}
}

// wantDeletes checks that the responses delete exactly keys, in one
// revision.
func wantDeletes(t *testing.T, resps []store.WatchResponse, keys ...string) {
	t.Helper()
	var got []string
	for _, r := range resps {
		for _, e := range r.Events {
			if e.Type != store.EventDelete || e.PrevKV == nil {
				t.Fatalf("want deletes with their previous values, got %s", describe(e))
			}
			got = append(got, e.KV.Key)
		}
	}
	if len(resps) != 1 || !slices.Equal(got, keys) {
		t.Fatalf("deleted %v in %d revisions, want %v in one", got, len(resps), keys)
	}
}

// A lease's keys live while it is kept alive, past its TTL, and go in one
// revision when it is revoked; watchers see the deletes.
func testLeaseRevoke(t *testing.T, e *env) {
	s := e.open(t, Config{})
	l := grant(t, s)
	leasePut(t, l, "l/a", "1")
	rev := leasePut(t, l, "l/b", "2")
	put(t, s, "l/c", "3")
	time.Sleep(3 * store.MinLeaseTTL) // etcd raises the TTL to its minimum (2s here) and keeps it alive
	if kv := get(t, s, "l/b"); string(kv.Value) != "2" || kv.ModRevision != rev {
		t.Fatalf("leased key after 3 TTLs: %+v", kv)
	}
	from := revision(t, s)
	w := watch(t, s, "l/", from)
	if err := l.Revoke(context.Background()); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	wantDeletes(t, collect(t, w, 1), "l/a", "l/b")
	wantMissing(t, s, "l/a")
	wantMissing(t, s, "l/b")
	get(t, s, "l/c")
	wantEnded(t, l)
	if _, err := l.Put(context.Background(), "l/d", []byte("4")); !errors.Is(err, store.ErrLeaseEnded) {
		t.Fatalf("put after revoke: %v, want ErrLeaseEnded", err)
	}
	if err := l.Revoke(context.Background()); err != nil {
		t.Fatalf("second revoke: %v", err)
	}
	wantMissing(t, s, "l/d")
}

// A transaction's write of a leased key takes it out of its lease, as on
// etcd: it survives the revoke.
func testLeaseDetachedByTxn(t *testing.T, e *env) {
	s := e.open(t, Config{})
	l := grant(t, s)
	leasePut(t, l, "l/a", "1")
	leasePut(t, l, "l/b", "2")
	put(t, s, "l/a", "kept")
	if err := l.Revoke(context.Background()); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if kv := get(t, s, "l/a"); string(kv.Value) != "kept" {
		t.Fatalf("l/a after revoke: %+v", kv)
	}
	wantMissing(t, s, "l/b")
}

// Grant and Lease.Put check their arguments and keep the limits of a
// transaction.
func testLeaseArguments(t *testing.T, e *env) {
	s := e.open(t, Config{})
	ctx := context.Background()
	if _, err := s.Grant(ctx, store.MinLeaseTTL/2); !errors.Is(err, store.ErrInvalidArgument) {
		t.Fatalf("grant of %v: %v, want ErrInvalidArgument", store.MinLeaseTTL/2, err)
	}
	l := grant(t, s)
	defer l.Revoke(ctx)
	if _, err := l.Put(ctx, "", []byte("x")); !errors.Is(err, store.ErrInvalidArgument) {
		t.Fatalf("put of empty key: %v, want ErrInvalidArgument", err)
	}
	if _, err := l.Put(ctx, "big", []byte(strings.Repeat("x", store.MaxTxnBytes))); !errors.Is(err, store.ErrTxnTooLarge) {
		t.Fatalf("put of %d bytes: %v, want ErrTxnTooLarge", store.MaxTxnBytes, err)
	}
	wantMissing(t, s, "big")
}

// A holder that goes away without revoking (a process killed: here its
// store closed) loses its keys: etcd deletes them once the TTL passes
// without keep-alive, bolt when the file is opened next. Another store
// sees them go, as a delete event.
func testLeaseEndsWithHolder(t *testing.T, e *env) {
	e.needPersistent(t)
	holder := e.open(t, Config{})
	l := grant(t, holder)
	leasePut(t, l, "l/alive", "yes")
	put(t, holder, "l/kept", "yes")
	from := revision(t, holder)
	if err := holder.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	wantEnded(t, l)
	s := e.open(t, Config{})
	w := watch(t, s, "l/", from)
	wantDeletes(t, collect(t, w, 1), "l/alive")
	wantMissing(t, s, "l/alive")
	get(t, s, "l/kept")
}
