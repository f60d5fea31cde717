package storetest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"palisade.dev/palisade/internal/store"
)

func testRevisionSharedByTxn(t *testing.T, e *env) {
	s := e.open(t, Config{})
	base := revision(t, s)
	r1 := put(t, s, "x", "1")
	rev := txn(t, s, func(tx store.Tx) error {
		for _, k := range []string{"a", "b", "c"} {
			if err := tx.Put(k, []byte(k)); err != nil {
				return err
			}
		}
		return tx.Delete("x")
	})
	if r1 != base+1 || rev != r1+1 || revision(t, s) != rev {
		t.Fatalf("revisions: base %d, first txn %d, second %d, store %d; want consecutive", base, r1, rev, revision(t, s))
	}
	for _, kv := range list(t, s, "", store.ListOptions{}).KVs {
		if kv.ModRevision != rev || kv.CreateRevision != rev {
			t.Errorf("%s written at %d/%d, txn committed at %d", kv.Key, kv.CreateRevision, kv.ModRevision, rev)
		}
	}
}

// codedError stands for the typed errors callers return from a txn.
type codedError struct{ code string }

func (e *codedError) Error() string { return e.code }

func testTxnErrorWritesNothing(t *testing.T, e *env) {
	s := e.open(t, Config{})
	put(t, s, "keep", "v")
	before := revision(t, s)
	want := &codedError{"Test.Coded"}
	_, err := s.Txn(context.Background(), func(tx store.Tx) error {
		if err := tx.Put("new", []byte("x")); err != nil {
			return err
		}
		if err := tx.Delete("keep"); err != nil {
			return err
		}
		return want
	})
	var got *codedError
	if err != want || !errors.As(err, &got) { //nolint:errorlint // identity is the point
		t.Fatalf("txn error %v (%T), want the function's own error", err, err)
	}
	wantMissing(t, s, "new")
	get(t, s, "keep")
	if revision(t, s) != before {
		t.Fatalf("revision moved from %d to %d", before, revision(t, s))
	}
}

func testTxnWithoutChange(t *testing.T, e *env) {
	s := e.open(t, Config{})
	r := put(t, s, "k", "v")
	got := txn(t, s, func(tx store.Tx) error {
		_, err := tx.Get("k")
		return err
	})
	if got != r {
		t.Fatalf("read-only txn returned %d, want current %d", got, r)
	}
	if got := del(t, s, "missing"); got != r || revision(t, s) != r {
		t.Fatalf("deleting a missing key: txn %d, store %d, want %d", got, revision(t, s), r)
	}
	ch := watch(t, s, "", r)
	wantQuiet(t, ch)
}

func testTxnReadsOwnWrites(t *testing.T, e *env) {
	s := e.open(t, Config{})
	r0 := put(t, s, "old", "o")
	txn(t, s, func(tx store.Tx) error {
		if _, err := tx.Get("new"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("get new before put: %v", err)
		}
		must(t, tx.Put("new", []byte("n")))
		must(t, tx.Put("old", []byte("o2")))
		kv, err := tx.Get("new")
		if err != nil || string(kv.Value) != "n" || kv.CreateRevision != r0+1 {
			t.Errorf("get new after put: %+v, %v", kv, err)
		}
		kv, err = tx.Get("old")
		if err != nil || string(kv.Value) != "o2" || kv.CreateRevision != r0 || kv.ModRevision != r0+1 {
			t.Errorf("get old after put: %+v, %v", kv, err)
		}
		must(t, tx.Delete("old"))
		if _, err := tx.Get("old"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("get old after delete: %v", err)
		}
		return nil
	})
	wantMissing(t, s, "old")
	if kv := get(t, s, "new"); string(kv.Value) != "n" {
		t.Fatalf("new = %q", kv.Value)
	}
}

func testTxnListMergesWrites(t *testing.T, e *env) {
	s := e.open(t, Config{})
	for _, k := range []string{"l/b", "l/d", "l/f"} {
		put(t, s, k, "base")
	}
	rev := revision(t, s)
	txn(t, s, func(tx store.Tx) error {
		must(t, tx.Put("l/a", []byte("new")))
		must(t, tx.Put("l/d", []byte("changed")))
		must(t, tx.Delete("l/b"))
		must(t, tx.Put("l/e", []byte("new")))
		must(t, tx.Put("l/g", []byte("new")))
		must(t, tx.Delete("l/zz"))
		must(t, tx.Put("m/a", []byte("outside")))
		all := []string{"l/a", "l/d", "l/e", "l/f", "l/g"}
		p, err := tx.List("l/", store.ListOptions{})
		if err != nil || !slices.Equal(keys(p.KVs), all) || p.Revision != rev {
			t.Errorf("list in txn: %v at %d, %v; want %v at %d", keys(p.KVs), p.Revision, err, all, rev)
		}
		for _, limit := range []int{1, 2, 3, 5} {
			if got := txnPaginate(t, tx, "l/", limit); !slices.Equal(got, all) {
				t.Errorf("paged by %d in txn: %v", limit, got)
			}
		}
		return nil
	})
}

// txnPaginate lists prefix page by page inside a transaction.
func txnPaginate(t *testing.T, tx store.Tx, prefix string, limit int) []string {
	var got []string
	opts := store.ListOptions{Limit: limit}
	for range 100 {
		p, err := tx.List(prefix, opts)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		got = append(got, keys(p.KVs)...)
		if !p.More {
			break
		}
		opts = p.Next(opts)
	}
	return got
}

func testTxnUsedAfterReturn(t *testing.T, e *env) {
	s := e.open(t, Config{})
	var kept store.Tx
	txn(t, s, func(tx store.Tx) error { kept = tx; return nil })
	if err := kept.Put("k", []byte("v")); !errors.Is(err, store.ErrInvalidArgument) {
		t.Fatalf("put on a finished transaction: %v", err)
	}
	if _, err := kept.Get("k"); !errors.Is(err, store.ErrInvalidArgument) {
		t.Fatalf("get on a finished transaction: %v", err)
	}
	if _, err := kept.List("", store.ListOptions{}); !errors.Is(err, store.ErrInvalidArgument) {
		t.Fatalf("list on a finished transaction: %v", err)
	}
	wantMissing(t, s, "k")
}

func testTxnLimits(t *testing.T, e *env) {
	s := e.open(t, Config{})
	_, err := s.Txn(context.Background(), func(tx store.Tx) error {
		for i := range store.MaxTxnWrites + 1 {
			if err := tx.Put(fmt.Sprintf("k/%d", i), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	})
	if !errors.Is(err, store.ErrTxnTooLarge) {
		t.Errorf("%d writes: %v, want ErrTxnTooLarge", store.MaxTxnWrites+1, err)
	}
	big := make([]byte, store.MaxTxnBytes/2)
	_, err = s.Txn(context.Background(), func(tx store.Tx) error {
		must(t, tx.Put("big/1", big))
		must(t, tx.Put("big/1", big)) // rewriting a key counts once
		must(t, tx.Put("big/2", big[:len(big)-100]))
		return tx.Put("big/3", big)
	})
	if !errors.Is(err, store.ErrTxnTooLarge) {
		t.Errorf("%d bytes: %v, want ErrTxnTooLarge", 3*len(big), err)
	}
	wantMissing(t, s, "big/1")
	txn(t, s, func(tx store.Tx) error { return tx.Put("big/1", big) })
}

func testTxnCancelledContext(t *testing.T, e *env) {
	s := e.open(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	_, err := s.Txn(ctx, func(tx store.Tx) error { ran = true; return tx.Put("k", nil) })
	if !errors.Is(err, context.Canceled) || ran {
		t.Fatalf("txn with a cancelled context: %v (ran %v)", err, ran)
	}
	wantMissing(t, s, "k")
}

// testTxnPanicAndGoexit checks that a function that panics, or exits its
// goroutine as t.Fatal does, unwinds its caller, writes nothing and leaves
// the store usable.
func testTxnPanicAndGoexit(t *testing.T, e *env) {
	s := e.open(t, Config{})
	rev := put(t, s, "k", "v")
	recovered := func() (v any) {
		defer func() { v = recover() }()
		_, _ = s.Txn(context.Background(), func(tx store.Tx) error {
			must(t, tx.Put("k", []byte("panic")))
			panic("boom")
		})
		return nil
	}()
	if recovered != "boom" {
		t.Fatalf("recovered %v, want the function's panic", recovered)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = s.Txn(context.Background(), func(tx store.Tx) error {
			must(t, tx.Put("k", []byte("goexit")))
			runtime.Goexit()
			return nil
		})
	}()
	<-done
	if kv := get(t, s, "k"); string(kv.Value) != "v" || revision(t, s) != rev {
		t.Fatalf("after aborted txns: %+v at revision %d", kv, revision(t, s))
	}
	put(t, s, "k", "after")
}

func testConcurrentCounter(t *testing.T, e *env) {
	const workers, each = 8, 20
	s := e.open(t, Config{})
	base := revision(t, s)
	var mu sync.Mutex
	var revs []int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				rev, err := s.Txn(context.Background(), increment)
				if err != nil {
					t.Errorf("increment: %v", err)
					return
				}
				mu.Lock()
				revs = append(revs, rev)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if got := string(get(t, s, "counter").Value); got != strconv.Itoa(workers*each) {
		t.Fatalf("counter %s after %d increments", got, workers*each)
	}
	slices.Sort(revs)
	wantRevisions(t, revs, span(base, base+workers*each))
}

// increment adds one to the counter key.
func increment(tx store.Tx) error {
	n := 0
	kv, err := tx.Get("counter")
	switch {
	case err == nil:
		if n, err = strconv.Atoi(strings.TrimSpace(string(kv.Value))); err != nil {
			return err
		}
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	return tx.Put("counter", []byte(strconv.Itoa(n+1)))
}

// must fails the test on error; for use inside transaction functions.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// testListWriteSkew runs pairs of transactions that each list a prefix and
// write depending on what they saw: serializability forbids both acting on
// the same view. Deleting from a listed range ("on/": each deletes its key
// only if both are there, so one must remain) and inserting into it
// ("slot/": each claims the slot only if it is free, so at most one key)
// must both make the other transaction run again.
func testListWriteSkew(t *testing.T, e *env) {
	const rounds = 20
	s := e.open(t, Config{})
	pair := func(fn func(me string) func(store.Tx) error) {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, me := range []string{"a", "b"} {
			wg.Go(func() {
				<-start
				if _, err := s.Txn(context.Background(), fn(me)); err != nil {
					t.Errorf("txn %s: %v", me, err)
				}
			})
		}
		close(start)
		wg.Wait()
	}
	listThen := func(prefix string, act func(tx store.Tx, n int, me string) error) func(me string) func(store.Tx) error {
		return func(me string) func(store.Tx) error {
			return func(tx store.Tx) error {
				p, err := tx.List(prefix, store.ListOptions{})
				if err != nil {
					return err
				}
				time.Sleep(time.Millisecond) // let the other one read the same view
				return act(tx, len(p.KVs), me)
			}
		}
	}
	for i := range rounds {
		txn(t, s, func(tx store.Tx) error {
			return errors.Join(tx.Put("on/a", []byte("1")), tx.Put("on/b", []byte("1")), tx.Delete("slot/a"), tx.Delete("slot/b"))
		})
		pair(listThen("on/", func(tx store.Tx, n int, me string) error {
			if n < 2 {
				return nil
			}
			return tx.Delete("on/" + me)
		}))
		if n := len(list(t, s, "on/", store.ListOptions{}).KVs); n != 1 {
			t.Fatalf("round %d: %d keys left under on/, want 1: both deleted from the same view", i, n)
		}
		pair(listThen("slot/", func(tx store.Tx, n int, me string) error {
			if n > 0 {
				return nil
			}
			return tx.Put("slot/"+me, []byte("1"))
		}))
		if n := len(list(t, s, "slot/", store.ListOptions{}).KVs); n != 1 {
			t.Fatalf("round %d: %d keys under slot/, want 1: both inserted from the same view", i, n)
		}
	}
}
