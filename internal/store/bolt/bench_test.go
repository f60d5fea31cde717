package bolt_test

import (
	"testing"

	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/storetest"
)

// BenchmarkStore runs the store benchmarks on bolt: each commit fsyncs,
// and concurrent writers share the fsyncs (group commit).
func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store {
		s, err := open(b.TempDir(), storetest.Config{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		return s
	})
}
