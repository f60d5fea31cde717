package storetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"palisade.dev/palisade/internal/store"
)

func testWatchReplayFromStart(t *testing.T, e *env) {
	s := e.open(t, Config{})
	base := revision(t, s)
	r1 := put(t, s, "a/1", "1")
	r2 := put(t, s, "a/1", "2")
	r3 := txn(t, s, func(tx store.Tx) error {
		must(t, tx.Put("b/1", []byte("y")))
		return tx.Put("a/2", []byte("x"))
	})
	r4 := del(t, s, "a/1")
	want := [][]string{
		{describe(putEvent("a/1", "1", r1, r1, nil))},
		{describe(putEvent("a/1", "2", r1, r2, kvp("a/1", "1", r1, r1)))},
		{describe(putEvent("a/2", "x", r3, r3, nil)), describe(putEvent("b/1", "y", r3, r3, nil))},
		{describe(deleteEvent("a/1", r4, kvp("a/1", "2", r1, r2)))},
	}
	ch := watch(t, s, "", base)
	resps := collect(t, ch, len(want))
	wantRevisions(t, revisions(resps), []int64{r1, r2, r3, r4})
	for i, r := range resps {
		if got := describeAll(r); !slices.Equal(got, want[i]) {
			t.Errorf("revision %d: events %q, want %q", r.Revision, got, want[i])
		}
	}
	wantQuiet(t, ch)
}

// describeAll describes a response's events, checking their revision.
func describeAll(r store.WatchResponse) []string {
	var out []string
	for _, e := range r.Events {
		d := describe(e)
		if e.Revision() != r.Revision {
			d += " (wrong revision)"
		}
		out = append(out, d)
	}
	return out
}

func putEvent(key, value string, create, mod int64, prev *store.KeyValue) store.Event {
	kv := store.KeyValue{Key: key, Value: []byte(value), CreateRevision: create, ModRevision: mod}
	return store.Event{Type: store.EventPut, KV: kv, PrevKV: prev}
}

func deleteEvent(key string, mod int64, prev *store.KeyValue) store.Event {
	return store.Event{Type: store.EventDelete, KV: store.KeyValue{Key: key, ModRevision: mod}, PrevKV: prev}
}

func kvp(key, value string, create, mod int64) *store.KeyValue {
	return &store.KeyValue{Key: key, Value: []byte(value), CreateRevision: create, ModRevision: mod}
}

func testWatchFromMiddle(t *testing.T, e *env) {
	s := e.open(t, Config{})
	revs := writeN(t, s, "k/", 10)
	ch := watch(t, s, "", revs[4])
	wantRevisions(t, revisions(collect(t, ch, 5)), revs[5:])
	wantQuiet(t, ch)
	ahead := watch(t, s, "", revs[9]+3) // a future revision waits for it
	writeN(t, s, "later/", 5)
	wantRevisions(t, revisions(collect(t, ahead, 2)), span(revs[9]+3, revs[9]+5))
}

// testWatchLiveAfterReplay opens a watch while a writer is busy: the
// responses must be exactly the writer's revisions after the start, across
// the switch from replay to live.
func testWatchLiveAfterReplay(t *testing.T, e *env) {
	const before, during = 10, 60
	s := e.open(t, Config{})
	revs := writeN(t, s, "w/", before)
	from := revs[before/2]
	started := make(chan struct{})
	var mu sync.Mutex
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range during {
			if i == 5 {
				close(started)
			}
			rev, err := s.Txn(context.Background(), func(tx store.Tx) error { return tx.Put("live", []byte{byte(i)}) })
			if err != nil {
				t.Errorf("write: %v", err)
				return
			}
			mu.Lock()
			revs = append(revs, rev)
			mu.Unlock()
		}
	})
	<-started
	ch := watch(t, s, "", from)
	got := collect(t, ch, before-before/2-1+during)
	wg.Wait()
	wantRevisions(t, revisions(got), revs[before/2+1:])
	wantQuiet(t, ch)
}

func testWatchPrefix(t *testing.T, e *env) {
	s := e.open(t, Config{})
	base := revision(t, s)
	r1 := put(t, s, "sg/1", "a")
	put(t, s, "eni/1", "b")
	put(t, s, "sgx/1", "c")
	r4 := txn(t, s, func(tx store.Tx) error {
		must(t, tx.Put("eni/2", []byte("d")))
		return tx.Put("sg/2", []byte("e"))
	})
	r5 := del(t, s, "sg/1")
	resps := collect(t, watch(t, s, "sg/", base), 3)
	wantRevisions(t, revisions(resps), []int64{r1, r4, r5})
	if len(resps[1].Events) != 1 || resps[1].Events[0].KV.Key != "sg/2" {
		t.Fatalf("revision %d under sg/: %q", r4, describeAll(resps[1]))
	}
}

func testWatchCompacted(t *testing.T, e *env) {
	s := e.open(t, Config{})
	ctx := context.Background()
	revs := writeN(t, s, "k/", 10)
	if err := s.Compact(ctx, revs[4]); err != nil {
		t.Fatalf("compact: %v", err)
	}
	_, err := s.Watch(ctx, "", revs[3])
	wantCompacted(t, err, revs[3], revs[4]+1)
	wantRevisions(t, revisions(collect(t, watch(t, s, "", revs[4]), 5)), revs[5:])
	if err := s.Compact(ctx, revs[2]); err != nil {
		t.Fatalf("compact below the compaction point: %v", err)
	}
	if err := s.Compact(ctx, revs[9]); err != nil {
		t.Fatalf("compact everything: %v", err)
	}
	wantQuiet(t, watch(t, s, "", revs[9]))
	_, err = s.Watch(ctx, "k/", revs[8])
	wantCompacted(t, err, revs[8], revs[9]+1)
}

// wantCompacted checks a *store.CompactedError.
func wantCompacted(t testing.TB, err error, requested, oldest int64) {
	t.Helper()
	var ce *store.CompactedError
	if !errors.Is(err, store.ErrCompacted) || !errors.As(err, &ce) {
		t.Fatalf("got %v, want a *store.CompactedError", err)
	}
	if ce.Requested != requested || ce.Oldest != oldest {
		t.Fatalf("compacted error %+v, want requested %d, oldest %d", ce, requested, oldest)
	}
}

func testAutoCompaction(t *testing.T, e *env) {
	const keep = 5
	s := e.open(t, Config{LogRetention: keep})
	revs := writeN(t, s, "k/", 20)
	last := revs[len(revs)-1]
	_, err := s.Watch(context.Background(), "", revs[0])
	wantCompacted(t, err, revs[0], last-keep+1)
	_, err = s.Watch(context.Background(), "", last-keep-1)
	wantCompacted(t, err, last-keep-1, last-keep+1)
	wantRevisions(t, revisions(collect(t, watch(t, s, "", last-keep), keep)), span(last-keep, last))
}

// testIdleWatcherOutlivesCompaction: a watcher whose prefix sees no
// write while the log turns over many times is not behind: the next write
// under its prefix reaches it, and no *store.CompactedError.
func testIdleWatcherOutlivesCompaction(t *testing.T, e *env) {
	const keep = 5
	s := e.open(t, Config{LogRetention: keep})
	ch := watch(t, s, "a/", revision(t, s))
	// A first write under the prefix, so that the watcher is live: a
	// watch that falls behind before it ever caught up may be compacted
	// (testWatcherBehindCompaction).
	if r := put(t, s, "a/0", "x"); collect(t, ch, 1)[0].Revision != r {
		t.Fatalf("first write under the prefix: not revision %d", r)
	}
	for range 3 {
		writeN(t, s, "k/", 10*keep)
		r := put(t, s, "a/1", "x")
		resps := collect(t, ch, 1)
		if resps[0].Err != nil || resps[0].Revision != r {
			t.Fatalf("after %d writes elsewhere, got revision %d (error %v), want the write under the prefix at %d",
				10*keep, resps[0].Revision, resps[0].Err, r)
		}
	}
	wantQuiet(t, ch)
}

// testSlowWatcher writes far more than any watch buffer while a watcher
// reads nothing: writers must not wait, and the watcher then gets every
// revision.
func testSlowWatcher(t *testing.T, e *env) {
	const n = 300
	s := e.open(t, Config{})
	ch := watch(t, s, "", revision(t, s))
	done := make(chan []int64)
	go func() { done <- writeN(t, s, "k/", n) }()
	var revs []int64
	select {
	case revs = <-done:
	case <-time.After(waitFor):
		t.Fatalf("writers blocked by a watcher that does not read")
	}
	wantRevisions(t, revisions(collect(t, ch, n)), revs)
}

// testWatcherBehindCompaction lets a watcher fall behind the log's
// retention: it gets every revision it can, in order, then a
// *store.CompactedError telling where it stopped.
func testWatcherBehindCompaction(t *testing.T, e *env) {
	const n, keep = 300, 10
	s := e.open(t, Config{LogRetention: keep})
	base := revision(t, s)
	ch := watch(t, s, "", base)
	revs := writeN(t, s, "k/", n)
	last := revs[n-1]
	var got []int64
	timeout := time.After(waitFor)
	for len(got) < n {
		select {
		case r, ok := <-ch:
			if !ok {
				t.Fatalf("watch closed after %d responses, without error", len(got))
			}
			if r.Err != nil {
				wantRevisions(t, got, revs[:len(got)])
				wantBehind(t, r.Err, base+int64(len(got)), last-keep+1)
				wantClosed(t, ch)
				return
			}
			got = append(got, r.Revision)
		case <-timeout:
			t.Fatalf("%d responses after %v", len(got), waitFor)
		}
	}
	t.Logf("backend buffered all %d revisions", n) // allowed, though not bounded
	wantRevisions(t, got, revs)
}

// wantBehind checks the error of a watcher that fell behind compaction:
// compaction may have overtaken it at any point of the writes.
func wantBehind(t testing.TB, err error, requested, maxOldest int64) {
	t.Helper()
	var ce *store.CompactedError
	if !errors.As(err, &ce) {
		t.Fatalf("watch ended with %v, want a *store.CompactedError", err)
	}
	if ce.Requested != requested || ce.Oldest <= requested+1 || ce.Oldest > maxOldest {
		t.Fatalf("compacted error %+v: want requested %d, oldest in (%d, %d]", ce, requested, requested+1, maxOldest)
	}
}

func testWatchCancel(t *testing.T, e *env) {
	s := e.open(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := s.Watch(ctx, "", revision(t, s))
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	put(t, s, "k", "v")
	collect(t, ch, 1)
	cancel()
	put(t, s, "k", "w")
	if _, err := final(t, ch); err != nil {
		t.Fatalf("cancelled watch ended with %v, want a plain close", err)
	}
	if ch, err := s.Watch(ctx, "", 0); err == nil {
		if _, err := final(t, ch); err != nil {
			t.Fatalf("watch with a cancelled context ended with %v", err)
		}
	}
}

func testClose(t *testing.T, e *env) {
	s := e.open(t, Config{})
	put(t, s, "k", "v")
	ch := watch(t, s, "", revision(t, s))
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, err := final(t, ch); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("watch after close ended with %v, want ErrClosed", err)
	}
	ctx := context.Background()
	if _, err := s.Txn(ctx, func(tx store.Tx) error { return tx.Put("k", nil) }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("txn after close: %v", err)
	}
	if _, err := s.Get(ctx, "k"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("get after close: %v", err)
	}
	if _, err := s.Watch(ctx, "", 0); !errors.Is(err, store.ErrClosed) {
		t.Errorf("watch after close: %v", err)
	}
	if _, err := s.Revision(ctx); !errors.Is(err, store.ErrClosed) {
		t.Errorf("revision after close: %v", err)
	}
}
