package core

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"palisade.dev/palisade/internal/store"
)

// testLog is a change log of one key per revision that keeps the last
// keep revisions. during, when set, runs once inside a ReadLog, after the
// read has taken its snapshot: the commits it makes are those that land
// while a watcher reads.
type testLog struct {
	mu     sync.Mutex
	keys   []string // keys[i] was written at revision i+1
	keep   int
	hub    *Hub
	during func()
}

func (l *testLog) commit(key string) {
	l.mu.Lock()
	l.keys = append(l.keys, key)
	rev := int64(len(l.keys))
	l.mu.Unlock()
	l.hub.Notify(rev, []store.Event{{Type: store.EventPut, KV: store.KeyValue{Key: key, ModRevision: rev}}})
}

func (l *testLog) ReadLog(prefix string, after int64, limit int) ([]store.WatchResponse, int64, error) {
	l.mu.Lock()
	keys := l.keys
	during := l.during
	l.during = nil
	l.mu.Unlock()
	last := int64(len(keys))
	if oldest := max(last-int64(l.keep)+1, 1); after+1 < oldest {
		return nil, 0, &store.CompactedError{Requested: after + 1, Oldest: oldest}
	}
	var resps []store.WatchResponse
	for rev := after + 1; rev <= last && rev <= after+int64(limit); rev++ {
		if k := keys[rev-1]; strings.HasPrefix(k, prefix) {
			resps = append(resps, store.WatchResponse{Revision: rev,
				Events: []store.Event{{Type: store.EventPut, KV: store.KeyValue{Key: k, ModRevision: rev}}}})
		}
	}
	if during != nil {
		during()
	}
	return resps, min(last, after+int64(limit)), nil
}

// TestWatcherReadingMovesPastQuietCommits: commits that land while a
// watcher reads, none under its prefix until the last, and then more than
// the log keeps: the watcher must not be left behind the compaction by
// them (it gets the last commit, no *store.CompactedError). A mem store
// failed the conformance case IdleWatcherOutlivesCompaction this way once,
// when the commits landed between the watcher's delivery and its parking.
func TestWatcherReadingMovesPastQuietCommits(t *testing.T) {
	const keep = 5
	l := &testLog{keep: keep, hub: NewHub(0)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := l.hub.Watch(ctx, l, "a/", 0)
	l.during = func() {
		for range 10 * keep {
			l.commit("k/")
		}
		l.commit("a/1")
	}
	l.commit("a/0")
	want := []int64{1, 10*keep + 2}
	for _, rev := range want {
		select {
		case r := <-ch:
			if r.Err != nil || r.Revision != rev {
				t.Fatalf("got revision %d (error %v), want %d", r.Revision, r.Err, rev)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no response for revision %d", rev)
		}
	}
	select {
	case r := <-ch:
		t.Fatalf("unexpected response: revision %d (error %v)", r.Revision, r.Err)
	case <-time.After(100 * time.Millisecond):
	}
}
