package bolt_test

import (
	"context"
	"fmt"
	"testing"

	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/storetest"
)

// benchStore opens a store in a fresh directory.
func benchStore(b *testing.B) store.Store {
	b.Helper()
	s, err := open(b.TempDir(), storetest.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// value is a security-group-sized JSON document.
var value = make([]byte, 512)

// BenchmarkTxnPut is one writer: one fsynced commit per transaction.
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

// BenchmarkTxnPutParallel is 16 writers: group commit shares the fsyncs.
func BenchmarkTxnPutParallel(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	b.SetParallelism(8)
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

// BenchmarkGet reads one key among 1000.
func BenchmarkGet(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	fill(b, s, 1000)
	i := 0
	for b.Loop() {
		if _, err := s.Get(ctx, fmt.Sprintf("acct/1/r/sg/%08d", i%1000)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkListPage reads a page of 100 keys among 1000.
func BenchmarkListPage(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	fill(b, s, 1000)
	for b.Loop() {
		p, err := s.List(ctx, "acct/1/r/sg/", store.ListOptions{StartAfter: "acct/1/r/sg/00000500", Limit: 100})
		if err != nil || len(p.KVs) != 100 {
			b.Fatal(len(p.KVs), err)
		}
	}
}

// fill writes n keys, store.MaxTxnWrites per transaction.
func fill(b *testing.B, s store.Store, n int) {
	b.Helper()
	for start := 0; start < n; start += store.MaxTxnWrites {
		_, err := s.Txn(context.Background(), func(tx store.Tx) error {
			for i := start; i < min(n, start+store.MaxTxnWrites); i++ {
				if err := tx.Put(fmt.Sprintf("acct/1/r/sg/%08d", i), value); err != nil {
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
