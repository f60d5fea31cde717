package bolt

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/mem"
)

// boltTx is the ID of bbolt's last committed transaction.
func boltTx(s *Store) int {
	var id int
	_ = s.db.View(func(tx *bbolt.Tx) error { id = tx.ID(); return nil })
	return id
}

// TestCommitsGatherInMemory: with the log on, a commit does not commit
// bbolt: memMaxRevs revisions go to it in one write transaction, and a
// reader sees every revision all the same.
func TestCommitsGatherInMemory(t *testing.T) {
	noTimedCheckpoints(t)
	s := openForTest(t, filepath.Join(t.TempDir(), "palisade.db"))
	defer s.Close()
	before := boltTx(s)
	for i := range memMaxRevs {
		put(t, s, fmt.Sprintf("k%03d", i), "v")
	}
	if got := boltTx(s); got != before {
		t.Fatalf("%d commits took %d bbolt transactions, want none yet", memMaxRevs, got-before)
	}
	page, err := s.List(context.Background(), "k", store.ListOptions{})
	if err != nil || len(page.KVs) != memMaxRevs {
		t.Fatalf("list: %d keys, %v", len(page.KVs), err)
	}
	put(t, s, "k999", "v") // the revisions in memory are full: flushed first
	if got := boltTx(s); got != before+1 {
		t.Fatalf("%d commits took %d bbolt transactions, want 1", memMaxRevs+1, got-before)
	}
}

// TestReadsSeeOneRevision: readers running beside commits and flushes see
// the state of one revision: each commit adds a key and sets "count" to the
// number of keys, and no read may find them apart.
func TestReadsSeeOneRevision(t *testing.T) {
	s := openForTest(t, filepath.Join(t.TempDir(), "palisade.db"))
	defer s.Close()
	ctx := context.Background()
	const writes = 5 * memMaxRevs
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				_, err := s.View(ctx, func(tx store.Tx) error {
					kv, err := tx.Get("count")
					if errors.Is(err, store.ErrNotFound) {
						return nil
					}
					if err != nil {
						return err
					}
					n, _ := strconv.Atoi(string(kv.Value))
					page, err := tx.List("key/", store.ListOptions{})
					if err != nil {
						return err
					}
					if len(page.KVs) != n {
						return fmt.Errorf("count %d at revision %d, %d keys", n, page.Revision, len(page.KVs))
					}
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := 1; i <= writes; i++ {
		_, err := s.Txn(ctx, func(tx store.Tx) error {
			if err := tx.Put(fmt.Sprintf("key/%04d", i), []byte("v")); err != nil {
				return err
			}
			return tx.Put("count", []byte(strconv.Itoa(i)))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestLeasedKeysAndMemory: while a key is leased, other writes still
// gather in memory; a write of the leased key goes to bbolt at once and
// ends its lease, as on the other backends.
func TestLeasedKeysAndMemory(t *testing.T) {
	noTimedCheckpoints(t)
	s := openForTest(t, filepath.Join(t.TempDir(), "palisade.db"))
	defer s.Close()
	ctx := context.Background()
	l, err := s.Grant(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Put(ctx, "alive", []byte("1")); err != nil {
		t.Fatal(err)
	}
	before := boltTx(s)
	for i := range 10 {
		put(t, s, fmt.Sprintf("other%d", i), "v")
	}
	if got := boltTx(s); got != before {
		t.Fatalf("writes of unleased keys took %d bbolt transactions", got-before)
	}
	put(t, s, "alive", "2")
	if got := boltTx(s); got == before {
		t.Fatal("a write of a leased key stayed in memory")
	}
	if err := l.Revoke(ctx); err != nil {
		t.Fatal(err)
	}
	kv, err := s.Get(ctx, "alive")
	if err != nil || string(kv.Value) != "2" {
		t.Fatalf("the key written without its lease after the revoke: %+v, %v", kv, err)
	}
	if _, err := s.Get(ctx, "other9"); err != nil {
		t.Fatal(err)
	}
}

// TestMatchesTheMemoryBackend runs one random sequence of writes, reads,
// flushes and reopenings against this store and the mem backend, which
// never flushes: every read must come out the same, whichever part of the
// state bbolt holds and whichever part is in memory (keys of both, keys
// deleted in memory that bbolt still has, pages that cross the two).
func TestMatchesTheMemoryBackend(t *testing.T) {
	noTimedCheckpoints(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "palisade.db")
	b := openForTest(t, path)
	defer func() { b.Close() }()
	// A live watcher of bolt, started again after each reopening from
	// the last revision it had.
	var evB []store.Event
	var lastB int64
	var watched sync.Mutex // evB and lastB
	watch := func() (stop func()) {
		wctx, cancel := context.WithCancel(ctx)
		watched.Lock()
		from := lastB
		watched.Unlock()
		ch, err := b.Watch(wctx, "", from)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for resp := range ch {
				if resp.Err == nil {
					watched.Lock()
					evB = append(evB, resp.Events...)
					lastB = resp.Revision
					watched.Unlock()
				}
			}
		}()
		return func() { cancel(); <-done }
	}
	stopWatch := watch()
	ref := mem.New(mem.Options{})
	defer ref.Close()
	rng := rand.New(rand.NewPCG(7, 8))
	key := func() string { return fmt.Sprintf("%s/k%02d", []string{"a", "b"}[rng.IntN(2)], rng.IntN(30)) }
	same := func(step int, what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("step %d, %s:\n bolt %+v\n mem  %+v", step, what, got, want)
		}
	}
	for step := range 3000 {
		switch n := rng.IntN(100); {
		case n < 45:
			var ops []func(store.Tx) error
			for range 1 + rng.IntN(3) {
				k, v := key(), []byte(fmt.Sprint(step))
				if rng.IntN(3) == 0 {
					ops = append(ops, func(tx store.Tx) error { return tx.Delete(k) })
				} else {
					ops = append(ops, func(tx store.Tx) error { return tx.Put(k, v) })
				}
			}
			fn := func(tx store.Tx) error {
				for _, op := range ops {
					if err := op(tx); err != nil {
						return err
					}
				}
				return nil
			}
			rb, errB := b.Txn(ctx, fn)
			rm, errM := ref.Txn(ctx, fn)
			same(step, "txn", fmt.Sprint(rb, errB), fmt.Sprint(rm, errM))
		case n < 70:
			prefix := []string{"", "a/", "b/", "a/k1"}[rng.IntN(4)]
			opts := store.ListOptions{Limit: rng.IntN(12)}
			if rng.IntN(2) == 0 {
				opts.StartAfter = key()
			}
			pb, errB := b.List(ctx, prefix, opts)
			pm, errM := ref.List(ctx, prefix, opts)
			same(step, fmt.Sprintf("list %q %+v", prefix, opts), fmt.Sprint(pb, errB), fmt.Sprint(pm, errM))
		case n < 90:
			k := key()
			kb, errB := b.Get(ctx, k)
			km, errM := ref.Get(ctx, k)
			same(step, "get "+k, fmt.Sprint(kb, errors.Is(errB, store.ErrNotFound)), fmt.Sprint(km, errors.Is(errM, store.ErrNotFound)))
		case n < 96:
			b.writer.Lock()
			err := b.flush()
			b.writer.Unlock()
			if err != nil {
				t.Fatal(err)
			}
		case n < 98:
			b.writer.Lock()
			err := b.checkpoint()
			b.writer.Unlock()
			if err != nil {
				t.Fatal(err)
			}
		default:
			stopWatch()
			if rng.IntN(2) == 0 {
				crash(t, b)
			} else if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			b = openForTest(t, path)
			stopWatch = watch()
		}
	}
	rev, _ := ref.Revision(ctx)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		watched.Lock()
		caught := lastB
		watched.Unlock()
		if caught >= rev || time.Now().After(deadline) {
			break
		}
	}
	stopWatch()
	wm, err := ref.Watch(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var evM []store.Event
	for last := int64(0); last < rev; {
		resp := <-wm
		evM = append(evM, resp.Events...)
		last = resp.Revision
	}
	if len(evB) != len(evM) {
		t.Fatalf("the change log: %d events watched on bolt, %d on mem", len(evB), len(evM))
	}
	for i := range evB {
		same(i, "event of the change log", evB[i], evM[i])
	}
}
