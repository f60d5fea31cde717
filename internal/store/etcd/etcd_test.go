package etcd_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"

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
	s, err := etcd.Open(context.Background(), etcd.Options{Endpoints: c.Endpoints, Prefix: "/large/"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
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
	_, err = s.Txn(ctx, func(tx store.Tx) error {
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
