package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"palisade.dev/palisade/internal/store"
)

// waitFor bounds every wait of the suite.
const waitFor = 10 * time.Second

// env is one case's place: the dir its stores live in.
type env struct {
	f   Factory
	dir string
}

// open opens the case's store, closed when the case ends.
func (e *env) open(t *testing.T, cfg Config) store.Store {
	t.Helper()
	s, err := e.f.Open(e.dir, cfg)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// needPersistent skips a case the backend cannot run.
func (e *env) needPersistent(t *testing.T) {
	t.Helper()
	if !e.f.Persistent {
		t.Skip("backend does not persist across reopen")
	}
}

// txn runs fn and fails the test on error.
func txn(t testing.TB, s store.Store, fn func(store.Tx) error) int64 {
	t.Helper()
	rev, err := s.Txn(context.Background(), fn)
	if err != nil {
		t.Fatalf("txn: %v", err)
	}
	return rev
}

// put writes key=value in its own transaction.
func put(t testing.TB, s store.Store, key, value string) int64 {
	t.Helper()
	return txn(t, s, func(tx store.Tx) error { return tx.Put(key, []byte(value)) })
}

// del deletes key in its own transaction.
func del(t testing.TB, s store.Store, key string) int64 {
	t.Helper()
	return txn(t, s, func(tx store.Tx) error { return tx.Delete(key) })
}

// get reads key, which must exist.
func get(t testing.TB, s store.Store, key string) store.KeyValue {
	t.Helper()
	kv, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	return kv
}

// wantMissing checks that key does not exist.
func wantMissing(t testing.TB, s store.Store, key string) {
	t.Helper()
	if kv, err := s.Get(context.Background(), key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get %q = %+v, %v; want ErrNotFound", key, kv, err)
	}
}

// revision returns the store's revision.
func revision(t testing.TB, s store.Store) int64 {
	t.Helper()
	rev, err := s.Revision(context.Background())
	if err != nil {
		t.Fatalf("revision: %v", err)
	}
	return rev
}

// list reads one page.
func list(t testing.TB, s store.Store, prefix string, opts store.ListOptions) store.Page {
	t.Helper()
	p, err := s.List(context.Background(), prefix, opts)
	if err != nil {
		t.Fatalf("list %q: %v", prefix, err)
	}
	return p
}

// keys returns the keys of kvs.
func keys(kvs []store.KeyValue) []string {
	out := make([]string, len(kvs))
	for i, kv := range kvs {
		out[i] = kv.Key
	}
	return out
}

// watch opens a watch that ends with the case.
func watch(t *testing.T, s store.Store, prefix string, from int64) <-chan store.WatchResponse {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch, err := s.Watch(ctx, prefix, from)
	if err != nil {
		t.Fatalf("watch %q from %d: %v", prefix, from, err)
	}
	return ch
}

// collect receives n responses, none of them final.
func collect(t testing.TB, ch <-chan store.WatchResponse, n int) []store.WatchResponse {
	t.Helper()
	var out []store.WatchResponse
	timeout := time.After(waitFor)
	for len(out) < n {
		select {
		case r, ok := <-ch:
			if !ok {
				t.Fatalf("watch closed after %d of %d responses", len(out), n)
			}
			if r.Err != nil {
				t.Fatalf("watch ended after %d of %d responses: %v", len(out), n, r.Err)
			}
			out = append(out, r)
		case <-timeout:
			t.Fatalf("watch: %d of %d responses after %v", len(out), n, waitFor)
		}
	}
	return out
}

// final receives until the final response and the close of ch, and returns
// the responses before it and the final error (nil: closed without one).
func final(t testing.TB, ch <-chan store.WatchResponse) ([]store.WatchResponse, error) {
	t.Helper()
	var out []store.WatchResponse
	timeout := time.After(waitFor)
	for {
		select {
		case r, ok := <-ch:
			if !ok {
				return out, nil
			}
			if r.Err != nil {
				wantClosed(t, ch)
				return out, r.Err
			}
			out = append(out, r)
		case <-timeout:
			t.Fatalf("watch still open after %v", waitFor)
		}
	}
}

// wantClosed checks that ch closes with nothing more on it.
func wantClosed(t testing.TB, ch <-chan store.WatchResponse) {
	t.Helper()
	select {
	case r, ok := <-ch:
		if ok {
			t.Fatalf("response after the final one: %+v", r)
		}
	case <-time.After(waitFor):
		t.Fatalf("watch not closed after %v", waitFor)
	}
}

// wantQuiet checks that nothing arrives on ch for a short while.
func wantQuiet(t testing.TB, ch <-chan store.WatchResponse) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("unexpected response: %+v", r)
	case <-time.After(50 * time.Millisecond):
	}
}

// revisions returns the revisions of resps.
func revisions(resps []store.WatchResponse) []int64 {
	out := make([]int64, len(resps))
	for i, r := range resps {
		out[i] = r.Revision
	}
	return out
}

// span returns the revisions from+1 … to.
func span(from, to int64) []int64 {
	var out []int64
	for r := from + 1; r <= to; r++ {
		out = append(out, r)
	}
	return out
}

// wantRevisions compares revision lists.
func wantRevisions(t testing.TB, got, want []int64) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("revisions %v, want %v", got, want)
	}
}

// describe renders an event for messages and comparisons.
func describe(e store.Event) string {
	s := fmt.Sprintf("%v %s=%q@%d/%d", e.Type, e.KV.Key, e.KV.Value, e.KV.CreateRevision, e.KV.ModRevision)
	if e.PrevKV != nil {
		s += fmt.Sprintf(" prev=%q@%d/%d", e.PrevKV.Value, e.PrevKV.CreateRevision, e.PrevKV.ModRevision)
	}
	return s
}

// writeN puts n keys prefix0000…, one transaction each, and returns their
// revisions.
func writeN(t testing.TB, s store.Store, prefix string, n int) []int64 {
	t.Helper()
	revs := make([]int64, n)
	for i := range revs {
		revs[i] = put(t, s, fmt.Sprintf("%s%04d", prefix, i), fmt.Sprint(i))
	}
	return revs
}
