package bolt

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"palisade.dev/palisade/internal/store"
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
