package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"palisade.dev/palisade/internal/store"
)

// testView: a view reads at the current revision, returns it, refuses
// writes (and leaves the store as it was), returns fn's own error, and
// rejects a nil function, a done context and a closed store.
func testView(t *testing.T, e *env) {
	s := e.open(t, Config{})
	put(t, s, "v/a", "1")
	r := put(t, s, "v/b", "2")
	ctx := context.Background()

	rev, err := s.View(ctx, func(tx store.Tx) error {
		kv, err := tx.Get("v/a")
		if err != nil || string(kv.Value) != "1" {
			t.Errorf("get v/a in a view: %+v, %v", kv, err)
		}
		page, err := tx.List("v/", store.ListOptions{})
		if err != nil || len(page.KVs) != 2 || page.Revision != r {
			t.Errorf("list v/ in a view: %d keys at %d, %v; want 2 at %d", len(page.KVs), page.Revision, err, r)
		}
		if _, err := tx.Get("v/missing"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("get a missing key in a view: %v", err)
		}
		if err := tx.Put("v/c", []byte("3")); !errors.Is(err, store.ErrInvalidArgument) {
			t.Errorf("put in a view: %v, want ErrInvalidArgument", err)
		}
		if err := tx.Delete("v/a"); !errors.Is(err, store.ErrInvalidArgument) {
			t.Errorf("delete in a view: %v, want ErrInvalidArgument", err)
		}
		return nil
	})
	if err != nil || rev != r {
		t.Fatalf("view: revision %d, %v; want %d", rev, err, r)
	}
	wantMissing(t, s, "v/c")
	get(t, s, "v/a")
	if got := revision(t, s); got != r {
		t.Fatalf("a view moved the revision from %d to %d", r, got)
	}

	want := &codedError{"Test.Coded"}
	if _, err := s.View(ctx, func(store.Tx) error { return want }); err != want { //nolint:errorlint // identity is the point
		t.Errorf("view error %v, want the function's own error", err)
	}
	if _, err := s.View(ctx, nil); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("nil view function: %v", err)
	}
	var kept store.Tx
	if _, err := s.View(ctx, func(tx store.Tx) error { kept = tx; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := kept.Get("v/a"); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("a view's Tx used after its function returned: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	ran := false
	if _, err := s.View(cancelled, func(store.Tx) error { ran = true; return nil }); !errors.Is(err, context.Canceled) || ran {
		t.Errorf("view with a cancelled context: %v (ran: %v)", err, ran)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.View(ctx, func(store.Tx) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("view after close: %v", err)
	}
}

// testViewIsSnapshot: every read of one view sees the same revision, while
// writers commit beside it.
func testViewIsSnapshot(t *testing.T, e *env) {
	s := e.open(t, Config{})
	r := put(t, s, "snap/a", "before")
	ctx := context.Background()
	started, wrote := make(chan struct{}), make(chan int64)
	go func() {
		<-started
		rev, err := s.Txn(ctx, func(tx store.Tx) error {
			if err := tx.Put("snap/a", []byte("after")); err != nil {
				return err
			}
			return tx.Put("snap/b", []byte("new"))
		})
		if err != nil {
			t.Errorf("write beside a view: %v", err)
		}
		wrote <- rev
	}()
	var committed int64 // the write's revision, once it is seen
	first := true
	rev, err := s.View(ctx, func(tx store.Tx) error {
		if first {
			first = false
			close(started)
			// On bolt and etcd the write commits while the view is open;
			// mem serializes the two, and there it commits after the view.
			select {
			case committed = <-wrote:
			case <-time.After(time.Second):
			}
		}
		kv, err := tx.Get("snap/a")
		if err != nil {
			return err
		}
		if string(kv.Value) != "before" {
			t.Errorf("view read %q, written after it began", kv.Value)
		}
		if _, err := tx.Get("snap/b"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("view sees snap/b, written after it began: %v", err)
		}
		return nil
	})
	if err != nil || rev != r {
		t.Fatalf("view: %d, %v; want %d", rev, err, r)
	}
	if committed == 0 {
		committed = <-wrote
	}
	if committed != r+1 {
		t.Fatalf("the write committed at %d, want %d", committed, r+1)
	}
	if kv := get(t, s, "snap/a"); string(kv.Value) != "after" {
		t.Fatalf("after the view, snap/a = %q", kv.Value)
	}
}
