package etcd_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/etcd"
	"palisade.dev/palisade/internal/store/storetest"
	"palisade.dev/palisade/internal/testutil"
)

// open opens a store on the cluster, under a prefix of its own for dir.
func open(t testing.TB, c *testutil.EtcdCluster, dir string, cfg storetest.Config) (*etcd.Store, error) {
	prefix := fmt.Sprintf("/palisade-test/%x/", sha256.Sum256([]byte(dir+t.Name())))[:48] + "/"
	return etcd.Open(context.Background(), etcd.Options{
		Endpoints:    c.Endpoints,
		Prefix:       prefix,
		LogRetention: cfg.LogRetention,
	})
}

// openAt opens a store under prefix on the cluster, closed when t ends.
func openAt(t testing.TB, c *testutil.EtcdCluster, prefix string) *etcd.Store {
	t.Helper()
	s, err := etcd.Open(context.Background(), etcd.Options{Endpoints: c.Endpoints, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	c := testutil.StartEtcd(t, 3)
	storetest.Run(t, storetest.Factory{
		Open: func(dir string, cfg storetest.Config) (store.Store, error) {
			return open(t, c, dir, cfg)
		},
		Persistent: true,
	})
}

// A transaction may read far more keys than etcd takes comparisons in one
// request (the ranges read are merged), and delete MaxTxnWrites keys (each
// delete also writes a tombstone); a write to any key it read still makes
// it run again.
func TestLargeTransactions(t *testing.T) {
	c := testutil.StartEtcd(t, 3)
	s := openAt(t, c, "/large/")
	ctx := context.Background()
	const n = 600
	for i := 0; i < n; i += store.MaxTxnWrites {
		if _, err := s.Txn(ctx, func(tx store.Tx) error {
			for j := i; j < min(n, i+store.MaxTxnWrites); j++ {
				if err := tx.Put(fmt.Sprintf("k/%04d", j), []byte("v")); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Read every other key one by one (n/2 separate ranges), write one; a
	// concurrent write to one of the keys read forces a second run.
	runs := 0
	_, err := s.Txn(ctx, func(tx store.Tx) error {
		runs++
		for j := 0; j < n; j += 2 {
			if _, err := tx.Get(fmt.Sprintf("k/%04d", j)); err != nil {
				return err
			}
		}
		if runs == 1 { // another writer, between this run's reads and its commit
			other, err := etcd.Open(ctx, etcd.Options{Endpoints: c.Endpoints, Prefix: "/large/"})
			if err != nil {
				return err
			}
			defer other.Close()
			if _, err := other.Txn(ctx, func(tx store.Tx) error { return tx.Put("k/0300", []byte("w")) }); err != nil {
				return err
			}
		}
		return tx.Put("sum", []byte("1"))
	})
	if err != nil {
		t.Fatalf("txn reading %d keys: %v", n/2, err)
	}
	if runs != 2 {
		t.Fatalf("transaction ran %d times, want 2: the write to a key it read went unseen", runs)
	}
	// Delete MaxTxnWrites keys at once.
	if _, err := s.Txn(ctx, func(tx store.Tx) error {
		for j := range store.MaxTxnWrites {
			if err := tx.Delete(fmt.Sprintf("k/%04d", j)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("txn deleting %d keys: %v", store.MaxTxnWrites, err)
	}
	page, err := s.List(ctx, "k/", store.ListOptions{})
	if err != nil || len(page.KVs) != n-store.MaxTxnWrites {
		t.Fatalf("%d keys left, %v; want %d", len(page.KVs), err, n-store.MaxTxnWrites)
	}
}

// Compact removes the tombstones of keys deleted up to the compacted
// revision, and a transaction that read before that still conflicts with
// a delete it did not see.
func TestCompactCollectsTombstones(t *testing.T) {
	c := testutil.StartEtcd(t, 3)
	s := openAt(t, c, "/gc/")
	ctx := context.Background()
	const n = 250
	for i := range n {
		key := fmt.Sprintf("k/%04d", i)
		if _, err := s.Txn(ctx, func(tx store.Tx) error { return tx.Put(key, []byte("v")) }); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Txn(ctx, func(tx store.Tx) error { return tx.Delete(key) }); err != nil {
			t.Fatal(err)
		}
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	tombstones := func() int64 {
		resp, err := cli.Get(ctx, "/gc/t/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		return resp.Count
	}
	if got := tombstones(); got != n {
		t.Fatalf("%d tombstones after %d deletes", got, n)
	}
	if _, err := s.Txn(ctx, func(tx store.Tx) error { return tx.Put("k/live", []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	// A transaction lists k/ (one key), then tombstones go and k/live is
	// deleted before it commits: it must run again.
	runs := 0
	_, err = s.Txn(ctx, func(tx store.Tx) error {
		runs++
		p, err := tx.List("k/", store.ListOptions{})
		if err != nil {
			return err
		}
		if _, err := tx.Get("count"); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err // read now: no read of this run hits the compaction
		}
		if runs == 1 {
			other, err := etcd.Open(ctx, etcd.Options{Endpoints: c.Endpoints, Prefix: "/gc/"})
			if err != nil {
				return err
			}
			defer other.Close()
			if _, err := other.Txn(ctx, func(tx store.Tx) error { return tx.Delete("k/live") }); err != nil {
				return err
			}
			rev, err := other.Revision(ctx)
			if err != nil {
				return err
			}
			if err := other.Compact(ctx, rev); err != nil {
				return err
			}
		}
		return tx.Put("count", []byte(strconv.Itoa(len(p.KVs))))
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := tombstones(); got != 0 {
		t.Fatalf("%d tombstones left after compaction", got)
	}
	if runs != 2 {
		t.Fatalf("transaction ran %d times: it missed a delete in the range it listed", runs)
	}
	if kv, err := s.Get(ctx, "count"); err != nil || string(kv.Value) != "0" {
		t.Fatalf("count %s, %v; want 0", kv.Value, err)
	}
}
