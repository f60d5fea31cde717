package storetest

import (
	"context"
	"fmt"
	"testing"

	"palisade.dev/palisade/internal/store"
)

// Bench runs the store benchmarks on fresh stores from open, one per
// sub-benchmark, so that every backend is measured by the same code:
//
//	TxnPut              one writer, one commit per transaction
//	TxnPutParallel      8×GOMAXPROCS writers on distinct keys: no conflicts
//	TxnReadModifyWrite  list 20 keys, read one, write three: a service
//	                    operation's shape
//	Get                 one key among 1,000
//	ListPage            a page of 100 keys among 1,000
func Bench(b *testing.B, open func(b *testing.B) store.Store) {
	for _, bm := range []struct {
		name string
		fn   func(*testing.B, store.Store)
	}{
		{"TxnPut", benchTxnPut}, {"TxnPutParallel", benchTxnPutParallel},
		{"TxnReadModifyWrite", benchReadModifyWrite}, {"Get", benchGet}, {"ListPage", benchListPage},
	} {
		b.Run(bm.name, func(b *testing.B) {
			s := open(b)
			b.ResetTimer() // opening (starting a cluster) is not the benchmark
			bm.fn(b, s)
		})
	}
}

// benchValue is a security-group-sized JSON document.
var benchValue = make([]byte, 512)

func benchKey(i int) string { return fmt.Sprintf("acct/1/r/sg/%08d", i) }

func benchTxnPut(b *testing.B, s store.Store) {
	ctx := context.Background()
	i := 0
	for b.Loop() {
		key := benchKey(i)
		i++
		if _, err := s.Txn(ctx, func(tx store.Tx) error { return tx.Put(key, benchValue) }); err != nil {
			b.Fatal(err)
		}
	}
}

func benchTxnPutParallel(b *testing.B, s store.Store) {
	ctx := context.Background()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			key := fmt.Sprintf("acct/1/r/sg/%p/%08d", pb, i)
			if _, err := s.Txn(ctx, func(tx store.Tx) error { return tx.Put(key, benchValue) }); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func benchReadModifyWrite(b *testing.B, s store.Store) {
	ctx := context.Background()
	benchFill(b, s, 20)
	i := 0
	for b.Loop() {
		i++
		if _, err := s.Txn(ctx, func(tx store.Tx) error {
			if _, err := tx.List("acct/1/r/sg/", store.ListOptions{}); err != nil {
				return err
			}
			if _, err := tx.Get(benchKey(7)); err != nil {
				return err
			}
			for j := range 3 {
				if err := tx.Put(fmt.Sprintf("acct/1/r/rule/%08d/%d", i, j), benchValue); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
}

func benchGet(b *testing.B, s store.Store) {
	ctx := context.Background()
	benchFill(b, s, 1000)
	i := 0
	for b.Loop() {
		if _, err := s.Get(ctx, benchKey(i%1000)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func benchListPage(b *testing.B, s store.Store) {
	ctx := context.Background()
	benchFill(b, s, 1000)
	for b.Loop() {
		p, err := s.List(ctx, "acct/1/r/sg/", store.ListOptions{StartAfter: benchKey(500), Limit: 100})
		if err != nil || len(p.KVs) != 100 {
			b.Fatal(len(p.KVs), err)
		}
	}
}

// benchFill writes keys 0 to n-1, store.MaxTxnWrites per transaction.
func benchFill(b *testing.B, s store.Store, n int) {
	b.Helper()
	for start := 0; start < n; start += store.MaxTxnWrites {
		_, err := s.Txn(context.Background(), func(tx store.Tx) error {
			for i := start; i < min(n, start+store.MaxTxnWrites); i++ {
				if err := tx.Put(benchKey(i), benchValue); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
