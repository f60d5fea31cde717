package mem

import (
	"context"
	"fmt"
	"slices"
	"time"

	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/internal/core"
)

// Txn implements store.Store. Transactions run one at a time, so fn runs
// exactly once, in the caller's goroutine; it must not call the Store's
// Txn or Compact.
func (s *Store) Txn(ctx context.Context, fn func(store.Tx) error) (int64, error) {
	if fn == nil {
		return 0, fmt.Errorf("nil transaction function: %w", store.ErrInvalidArgument)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.txn(ctx, 0, fn)
}

// View implements store.Store. The state changes only under wmu, so
// holding it is the snapshot: a view waits for the running transaction.
func (s *Store) View(ctx context.Context, fn func(store.Tx) error) (int64, error) {
	if fn == nil {
		return 0, fmt.Errorf("nil view function: %w", store.ErrInvalidArgument)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.checkOpen(ctx); err != nil {
		return 0, err
	}
	rev := s.rev.Load()
	tx := core.NewView(base{s: s}, rev)
	defer tx.End()
	if err := fn(tx); err != nil {
		return 0, err
	}
	return rev, nil
}

// txn runs fn and commits its writes, attaching the keys it puts to lease
// (0: none, and the keys it writes leave their leases). The caller holds
// wmu.
func (s *Store) txn(ctx context.Context, lease int64, fn func(store.Tx) error) (int64, error) {
	if err := s.checkOpen(ctx); err != nil {
		return 0, err
	}
	rev := s.rev.Load()
	tx := core.NewOverlay(base{s: s}, rev)
	defer tx.End()
	if err := fn(tx); err != nil {
		return 0, err
	}
	events, err := tx.Changes()
	if err != nil {
		return 0, fmt.Errorf("txn: %w", err)
	}
	if len(events) == 0 {
		return rev, nil
	}
	s.attach(lease, events)
	s.apply(rev+1, events)
	s.hub.Notify(rev+1, events)
	return rev + 1, nil
}

// apply commits one revision's events, with its log entry.
func (s *Store) apply(rev int64, events []store.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range events {
		if e.Type == store.EventDelete {
			s.remove(e.KV.Key)
		} else {
			s.insert(e.KV)
		}
	}
	s.log = append(s.log, entry{rev: rev, events: events})
	s.rev.Store(rev)
	s.trim(rev - s.retention)
}

// insert stores kv, keeping keys sorted.
func (s *Store) insert(kv store.KeyValue) {
	if _, ok := s.kvs[kv.Key]; !ok {
		i, _ := slices.BinarySearch(s.keys, kv.Key)
		s.keys = slices.Insert(s.keys, i, kv.Key)
	}
	s.kvs[kv.Key] = kv
}

// remove deletes key.
func (s *Store) remove(key string) {
	delete(s.kvs, key)
	if i, ok := slices.BinarySearch(s.keys, key); ok {
		s.keys = slices.Delete(s.keys, i, i+1)
	}
}

// attach records which keys of events belong to lease. The caller holds
// wmu.
func (s *Store) attach(lease int64, events []store.Event) {
	for _, e := range events {
		if lease != 0 && e.Type == store.EventPut {
			s.leased[e.KV.Key] = lease
		} else {
			delete(s.leased, e.KV.Key)
		}
	}
}

// Grant implements store.Store.
func (s *Store) Grant(ctx context.Context, ttl time.Duration) (store.Lease, error) {
	if err := s.checkOpen(ctx); err != nil {
		return nil, err
	}
	return s.leases.Grant(ctx, ttl, s)
}

// LeasePut implements core.LeaseOps.
func (s *Store) LeasePut(ctx context.Context, id int64, key string, value []byte) (int64, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if !s.leases.Live(id) {
		return 0, core.LeaseEnded(id)
	}
	return s.txn(ctx, id, func(tx store.Tx) error { return tx.Put(key, value) })
}

// LeaseDelete implements core.LeaseOps: one revision deletes the lease's
// keys, however many.
func (s *Store) LeaseDelete(ctx context.Context, id int64) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.checkOpen(ctx); err != nil {
		return err
	}
	var keys []string
	for k, l := range s.leased {
		if l == id {
			keys = append(keys, k)
		}
	}
	rev := s.rev.Load()
	events, err := core.DeleteEvents(base{s: s}, keys, rev+1)
	if err != nil || len(events) == 0 {
		return err
	}
	s.attach(0, events)
	s.apply(rev+1, events)
	s.hub.Notify(rev+1, events)
	return nil
}
