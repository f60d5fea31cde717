package etcd_test

import (
	"context"
	"testing"

	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/etcd"
	"palisade.dev/palisade/internal/store/storetest"
	"palisade.dev/palisade/internal/testutil"
)

// BenchmarkStore runs the store benchmarks on a three-member etcd cluster
// (one per sub-benchmark): each commit is a quorum write.
func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store {
		c := testutil.StartEtcd(b, 3)
		s, err := etcd.Open(context.Background(), etcd.Options{Endpoints: c.Endpoints, Prefix: "/bench/"})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		return s
	})
}
