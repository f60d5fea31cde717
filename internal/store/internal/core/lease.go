package core

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"palisade.dev/palisade/internal/store"
)

// CheckTTL rejects a lease TTL under store.MinLeaseTTL and rounds it up to
// whole seconds, as etcd counts them.
func CheckTTL(ttl time.Duration) (time.Duration, error) {
	if ttl < store.MinLeaseTTL {
		return 0, fmt.Errorf("lease ttl %v, at least %v: %w", ttl, store.MinLeaseTTL, store.ErrInvalidArgument)
	}
	return (ttl + time.Second - 1) / time.Second * time.Second, nil
}

// LeaseOps are what a one-process backend does for its leases: put a key
// under a lease, and delete a lease's keys.
type LeaseOps interface {
	LeasePut(ctx context.Context, id int64, key string, value []byte) (int64, error)
	LeaseDelete(ctx context.Context, id int64) error
}

// Leases are the leases of a one-process backend (mem, bolt): each lives
// until it is revoked or the store closes; nothing needs keeping alive.
// The zero value is ready to use.
type Leases struct {
	mu     sync.Mutex
	next   int64
	live   map[int64]*LocalLease
	closed bool
}

// Grant starts a lease whose operations go to ops.
func (ls *Leases) Grant(ctx context.Context, ttl time.Duration, ops LeaseOps) (store.Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, err := CheckTTL(ttl); err != nil {
		return nil, err
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.closed {
		return nil, store.ErrClosed
	}
	if ls.live == nil {
		ls.live = map[int64]*LocalLease{}
	}
	ls.next++
	l := &LocalLease{id: ls.next, ls: ls, ops: ops, done: make(chan struct{})}
	ls.live[l.id] = l
	return l, nil
}

// Live reports whether lease id has not ended.
func (ls *Leases) Live(id int64) bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.live[id] != nil
}

// end ends lease id; it reports whether it was live.
func (ls *Leases) end(id int64) bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	l := ls.live[id]
	if l == nil {
		return false
	}
	delete(ls.live, id)
	close(l.done)
	return true
}

// Close ends every lease without deleting keys: the store is closing.
func (ls *Leases) Close() {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.closed = true
	for id, l := range ls.live {
		delete(ls.live, id)
		close(l.done)
	}
}

// LocalLease is a lease of Leases.
type LocalLease struct {
	id   int64
	ls   *Leases
	ops  LeaseOps
	done chan struct{}
}

var _ store.Lease = (*LocalLease)(nil)

// ID implements store.Lease.
func (l *LocalLease) ID() int64 { return l.id }

// Done implements store.Lease.
func (l *LocalLease) Done() <-chan struct{} { return l.done }

// Put implements store.Lease; the backend checks that the lease is live
// where it serializes writes.
func (l *LocalLease) Put(ctx context.Context, key string, value []byte) (int64, error) {
	if err := CheckKey(key); err != nil {
		return 0, err
	}
	if len(key)+len(value) > store.MaxTxnBytes {
		return 0, fmt.Errorf("%d bytes written, limit %d: %w", len(key)+len(value), store.MaxTxnBytes, store.ErrTxnTooLarge)
	}
	return l.ops.LeasePut(ctx, l.id, key, value)
}

// Revoke implements store.Lease: the lease ends first, so that no Put
// joins it while its keys are deleted.
func (l *LocalLease) Revoke(ctx context.Context) error {
	if !l.ls.end(l.id) {
		return nil
	}
	return l.ops.LeaseDelete(ctx, l.id)
}

// LeaseEnded is the error of a Put under an ended lease.
func LeaseEnded(id int64) error { return fmt.Errorf("lease %d: %w", id, store.ErrLeaseEnded) }

// DeleteEvents are the events of deleting, at revision rev, those of keys
// that exist in base, sorted by key: how a backend deletes a lease's keys,
// which may be more than one transaction may write.
func DeleteEvents(base Base, keys []string, rev int64) ([]store.Event, error) {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	var events []store.Event
	for _, k := range slices.Compact(keys) {
		prev, ok, err := base.Get(k)
		if err != nil {
			return nil, fmt.Errorf("get %q: %w", k, err)
		}
		if ok {
			events = append(events, store.Event{Type: store.EventDelete, KV: store.KeyValue{Key: k, ModRevision: rev}, PrevKV: &prev})
		}
	}
	return events, nil
}
