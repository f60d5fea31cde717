package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/etcd"
	"palisade.dev/palisade/internal/testutil"
)

// chain appends to a chain of keys: it reads "n" and writes n+1 and
// "c/<n+1>". Lost or doubled updates show as a chain that is not exactly
// c/1 … c/n.
func chain(tx store.Tx) error {
	n := 0
	kv, err := tx.Get("n")
	switch {
	case err == nil:
		if n, err = strconv.Atoi(string(kv.Value)); err != nil {
			return err
		}
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	n++
	if err := tx.Put("n", []byte(strconv.Itoa(n))); err != nil {
		return err
	}
	return tx.Put(fmt.Sprintf("c/%06d", n), []byte(strconv.Itoa(n)))
}

// writer appends to the chain until stop is closed, retrying what etcd
// could not answer, and returns the revisions acknowledged.
func writer(t *testing.T, s store.Store, stop <-chan struct{}) <-chan []int64 {
	out := make(chan []int64, 1)
	go func() {
		var acked []int64
		defer func() { out <- acked }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			rev, err := s.Txn(ctx, chain)
			cancel()
			switch {
			case err == nil:
				acked = append(acked, rev)
			case errors.Is(err, store.ErrUnavailable):
				time.Sleep(50 * time.Millisecond) // an election: retry
			default:
				t.Errorf("chain: %v", err)
				return
			}
		}
	}()
	return out
}

// waitAcked lets the writer commit n more transactions (or fails).
func waitAcked(t *testing.T, s store.Store, n int) {
	t.Helper()
	start := count(t, s)
	deadline := time.Now().Add(60 * time.Second)
	for count(t, s) < start+n {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d commits in 60s", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// count returns the chain's length, retrying while etcd elects.
func count(t *testing.T, s store.Store) int {
	t.Helper()
	for range 100 {
		kv, err := s.Get(context.Background(), "n")
		if errors.Is(err, store.ErrNotFound) {
			return 0
		}
		if err == nil {
			n, _ := strconv.Atoi(string(kv.Value))
			return n
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the chain cannot be read")
	return 0
}

// checkChain checks that the chain is exactly c/1 … c/n and that the
// watch delivered, in order and once each, every acknowledged revision.
func checkChain(t *testing.T, s store.Store, acked []int64, watched []store.WatchResponse) {
	t.Helper()
	n := count(t, s)
	page, err := s.List(context.Background(), "c/", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.KVs) != n {
		t.Fatalf("chain of %d keys, counter %d: lost or doubled updates", len(page.KVs), n)
	}
	for i, kv := range page.KVs {
		if kv.Key != fmt.Sprintf("c/%06d", i+1) {
			t.Fatalf("chain key %d is %s", i+1, kv.Key)
		}
	}
	seen := map[int64]bool{}
	last := int64(0)
	for _, r := range watched {
		if r.Revision <= last {
			t.Fatalf("watch delivered revision %d after %d", r.Revision, last)
		}
		last = r.Revision
		seen[r.Revision] = true
	}
	for _, rev := range acked {
		if !seen[rev] {
			t.Fatalf("acknowledged revision %d never watched (%d acked, %d watched)", rev, len(acked), len(watched))
		}
	}
	t.Logf("%d commits acknowledged, chain of %d, %d revisions watched", len(acked), n, len(watched))
}

// collectAll gathers a watch's responses until the store has revision
// upTo, or fails.
func collectAll(t *testing.T, ch <-chan store.WatchResponse, upTo int64) []store.WatchResponse {
	t.Helper()
	var got []store.WatchResponse
	timeout := time.After(60 * time.Second)
	for len(got) == 0 || got[len(got)-1].Revision < upTo {
		select {
		case r, ok := <-ch:
			if !ok || r.Err != nil {
				t.Fatalf("watch ended: %v (after %d responses)", r.Err, len(got))
			}
			got = append(got, r)
		case <-timeout:
			t.Fatalf("watch at %d responses, waiting for revision %d", len(got), upTo)
		}
	}
	return got
}

// Through a leader change (etcdctl move-leader) and the kill -9 of the
// leader, transactions go on, none is lost or applied twice, and a watch
// delivers every committed revision in order.
func TestLeaderChangeAndMemberLoss(t *testing.T) {
	c := testutil.StartEtcd(t, 3)
	s := openAt(t, c, "/faults/")
	from, err := s.Revision(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ch, err := s.Watch(context.Background(), "", from)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	acked := writer(t, s, stop)
	waitAcked(t, s, 20)

	leader, _ := c.Leader(t)
	c.MoveLeader(t, (leader+1)%3)
	waitAcked(t, s, 20)
	if now, _ := c.Leader(t); now == leader {
		t.Fatalf("leadership did not move from member %d", leader)
	}

	leader, _ = c.Leader(t)
	c.Kill(t, leader)
	waitAcked(t, s, 20)
	close(stop)
	revs := <-acked
	if len(revs) < 60 {
		t.Fatalf("only %d commits acknowledged", len(revs))
	}
	checkChain(t, s, revs, collectAll(t, ch, revs[len(revs)-1]))
}

// With every member down, requests fail with store.ErrUnavailable within
// the request timeout, never hanging; once the members are back the same
// store works again, and a watch opened before the outage delivers every
// revision, with no gap.
func TestClusterDownAndBack(t *testing.T) {
	c := testutil.StartEtcd(t, 3)
	s, err := etcd.Open(context.Background(), etcd.Options{Endpoints: c.Endpoints, Prefix: "/down/",
		RequestTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	from, _ := s.Revision(ctx)
	ch, err := s.Watch(ctx, "", from)
	if err != nil {
		t.Fatal(err)
	}
	var acked []int64
	for range 5 {
		rev, err := s.Txn(ctx, chain)
		if err != nil {
			t.Fatal(err)
		}
		acked = append(acked, rev)
	}
	for i := range 3 {
		c.Kill(t, i)
	}
	var wg sync.WaitGroup
	for name, op := range map[string]func(context.Context) error{
		"get":      func(ctx context.Context) error { _, err := s.Get(ctx, "n"); return err },
		"list":     func(ctx context.Context) error { _, err := s.List(ctx, "c/", store.ListOptions{}); return err },
		"txn":      func(ctx context.Context) error { _, err := s.Txn(ctx, chain); return err },
		"revision": func(ctx context.Context) error { _, err := s.Revision(ctx); return err },
	} {
		wg.Go(func() {
			// The caller's own deadline is far: the store's answers first.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			start := time.Now()
			err := op(ctx)
			if !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("%s with etcd down: %v, want ErrUnavailable", name, err)
			}
			t.Logf("%s with etcd down: %v after %v", name, err, time.Since(start).Round(time.Millisecond))
		})
	}
	wg.Wait()
	for i := range 3 {
		c.Restart(t, i)
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(acked) < 10 {
		rev, err := s.Txn(ctx, chain)
		if err == nil {
			acked = append(acked, rev)
			continue
		}
		if !errors.Is(err, store.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("txn after etcd came back: %v", err)
		}
	}
	checkChain(t, s, acked, collectAll(t, ch, acked[len(acked)-1]))
}

// While leadership moves from member to member under writes, every write
// that fails fails with store.ErrUnavailable, which an API call answers
// with a retryable 503; never with an error a client would take as
// final. (etcd answers a proposal that raft dropped during the move with
// "raft proposal dropped" and no code of its own.)
func TestLeaderMovesUnderWrites(t *testing.T) {
	c := testutil.StartEtcd(t, 3)
	s := openAt(t, c, "/moves/")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	halt := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer halt() // also when the leader cannot be moved: no writer outlives the test
	var mu sync.Mutex
	var done, retryable int
	var final []error
	for w := range 8 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := s.Txn(ctx, func(tx store.Tx) error {
					return tx.Put(fmt.Sprintf("w/%d", w), []byte(strconv.Itoa(n)))
				})
				cancel()
				mu.Lock()
				switch {
				case err == nil:
					done++
				case errors.Is(err, store.ErrUnavailable):
					retryable++
				default:
					final = append(final, err)
				}
				mu.Unlock()
			}
		})
	}
	for range 16 {
		leader, _ := c.Leader(t)
		c.MoveLeader(t, (leader+1)%3)
		time.Sleep(100 * time.Millisecond)
	}
	halt()
	t.Logf("%d writes done, %d unavailable (retryable) during 16 leader moves", done, retryable)
	if len(final) > 0 {
		t.Fatalf("%d writes failed with an error that is not retryable, the first: %v", len(final), final[0])
	}
	if done == 0 {
		t.Fatal("no write went through")
	}
}
