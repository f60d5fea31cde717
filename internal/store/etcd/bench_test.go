package etcd_test

import (
	"context"
	"fmt"
	"testing"

	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/etcd"
	"palisade.dev/palisade/internal/testutil"
)

// benchStore opens a store under a prefix of its own.
func benchStore(b *testing.B) store.Store {
	b.Helper()
	c := testutil.StartEtcd(b, 3)
	s, err := etcd.Open(context.Background(), etcd.Options{Endpoints: c.Endpoints, Prefix: "/bench/"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// value is a security-group-sized JSON document.
var value = make([]byte, 512)

// BenchmarkTxnPut is one writer: a quorum write per transaction.
func BenchmarkTxnPut(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		key := fmt.Sprintf("acct/1/r/sg/%08d", i)
		i++
		if _, err := s.Txn(ctx, func(tx store.Tx) error { return tx.Put(key, value) }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTxnPutParallel is 16 writers on distinct keys: no conflicts.
func BenchmarkTxnPutParallel(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	b.SetParallelism(8)
	b.ResetTimer() // the cluster's start is not the benchmark
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			key := fmt.Sprintf("acct/1/r/sg/%p/%08d", pb, i)
			if _, err := s.Txn(ctx, func(tx store.Tx) error { return tx.Put(key, value) }); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkTxnReadModifyWrite lists 20 keys, reads one and writes three:
// the shape of a service operation.
func BenchmarkTxnReadModifyWrite(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	if _, err := s.Txn(ctx, func(tx store.Tx) error {
		for i := range 20 {
			if err := tx.Put(fmt.Sprintf("acct/1/r/sg/%02d", i), value); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		if _, err := s.Txn(ctx, func(tx store.Tx) error {
			if _, err := tx.List("acct/1/r/sg/", store.ListOptions{}); err != nil {
				return err
			}
			if _, err := tx.Get("acct/1/r/sg/07"); err != nil {
				return err
			}
			for j := range 3 {
				if err := tx.Put(fmt.Sprintf("acct/1/r/rule/%08d/%d", i, j), value); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
}
