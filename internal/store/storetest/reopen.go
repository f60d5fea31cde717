package storetest

import (
	"context"
	"testing"

	"palisade.dev/palisade/internal/store"
)

// reopen closes s and opens its dir again.
func (e *env) reopen(t *testing.T, s store.Store, cfg Config) store.Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return e.open(t, cfg)
}

func testReopenKeepsData(t *testing.T, e *env) {
	e.needPersistent(t)
	s := e.open(t, Config{})
	put(t, s, "a", "1")
	rb := put(t, s, "b", "2")
	del(t, s, "a")
	rc := put(t, s, "c", "3")
	rc2 := put(t, s, "c", "4")
	rev := revision(t, s)
	s = e.reopen(t, s, Config{})
	if got := revision(t, s); got != rev {
		t.Fatalf("revision %d after reopen, was %d", got, rev)
	}
	wantMissing(t, s, "a")
	if kv := get(t, s, "b"); string(kv.Value) != "2" || kv.CreateRevision != rb || kv.ModRevision != rb {
		t.Errorf("b after reopen: %+v", kv)
	}
	if kv := get(t, s, "c"); string(kv.Value) != "4" || kv.CreateRevision != rc || kv.ModRevision != rc2 {
		t.Errorf("c after reopen: %+v", kv)
	}
	if r := put(t, s, "d", "5"); r != rev+1 {
		t.Errorf("first txn after reopen at %d, want %d", r, rev+1)
	}
}

func testReopenResumesWatch(t *testing.T, e *env) {
	e.needPersistent(t)
	s := e.open(t, Config{})
	base := revision(t, s)
	revs := writeN(t, s, "k/", 10)
	seen := collect(t, watch(t, s, "", base), 5)
	resumeFrom := seen[len(seen)-1].Revision
	s = e.reopen(t, s, Config{})
	revs = append(revs, writeN(t, s, "n/", 5)...)
	wantRevisions(t, revisions(collect(t, watch(t, s, "", resumeFrom), 10)), revs[5:])
}

func testReopenKeepsCompaction(t *testing.T, e *env) {
	e.needPersistent(t)
	s := e.open(t, Config{})
	revs := writeN(t, s, "k/", 10)
	if err := s.Compact(context.Background(), revs[5]); err != nil {
		t.Fatalf("compact: %v", err)
	}
	s = e.reopen(t, s, Config{})
	_, err := s.Watch(context.Background(), "", revs[2])
	wantCompacted(t, err, revs[2], revs[5]+1)
	wantRevisions(t, revisions(collect(t, watch(t, s, "", revs[5]), 4)), revs[6:])
	s = e.reopen(t, s, Config{LogRetention: 2}) // a lower retention applies at the next commit
	r := put(t, s, "x", "y")
	_, err = s.Watch(context.Background(), "", revs[7])
	wantCompacted(t, err, revs[7], r-1)
}
