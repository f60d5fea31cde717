package mem

import (
	"context"
	"fmt"
	"sort"

	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/internal/core"
)

// Watch implements store.Store.
func (s *Store) Watch(ctx context.Context, prefix string, fromRev int64) (<-chan store.WatchResponse, error) {
	if err := core.CheckRevision(fromRev); err != nil {
		return nil, err
	}
	if err := s.checkOpen(ctx); err != nil {
		return nil, err
	}
	s.mu.RLock()
	compact := s.compact
	s.mu.RUnlock()
	if fromRev < compact {
		return nil, &store.CompactedError{Requested: fromRev, Oldest: compact + 1}
	}
	return s.hub.Watch(ctx, s, prefix, fromRev), nil
}

// ReadLog implements core.Log.
func (s *Store) ReadLog(prefix string, after int64, max int) ([]store.WatchResponse, int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, after, store.ErrClosed
	}
	if after < s.compact {
		return nil, after, &store.CompactedError{Requested: after, Oldest: s.compact + 1}
	}
	i := sort.Search(len(s.log), func(i int) bool { return s.log[i].rev > after })
	var resps []store.WatchResponse
	last := after
	for _, e := range s.log[i:min(len(s.log), i+max)] {
		last = e.rev
		if evs := core.FilterEvents(e.events, prefix); len(evs) > 0 {
			resps = append(resps, store.WatchResponse{Revision: e.rev, Events: cloneEvents(evs)})
		}
	}
	return resps, last, nil
}

// Compact implements store.Store.
func (s *Store) Compact(ctx context.Context, rev int64) error {
	if err := core.CheckRevision(rev); err != nil {
		return err
	}
	if err := s.checkOpen(ctx); err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if cur := s.rev.Load(); rev > cur {
		return fmt.Errorf("compact %d, current revision %d: %w", rev, cur, store.ErrFutureRevision)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trim(rev)
	return nil
}

// trim drops the log up to and including rev. The caller holds mu.
func (s *Store) trim(rev int64) {
	if rev <= s.compact {
		return
	}
	n := sort.Search(len(s.log), func(i int) bool { return s.log[i].rev > rev })
	clear(s.log[:n]) // release the events; append reallocates the rest in time
	s.log = s.log[n:]
	s.compact = rev
}

// cloneEvents copies events, so that watchers never share values with the
// store or with each other.
func cloneEvents(evs []store.Event) []store.Event {
	out := make([]store.Event, len(evs))
	for i, e := range evs {
		out[i] = e
		out[i].KV.Value = cloneOrNil(e.KV.Value)
		if e.PrevKV != nil {
			prev := *e.PrevKV
			prev.Value = core.CloneValue(prev.Value)
			out[i].PrevKV = &prev
		}
	}
	return out
}

// cloneOrNil copies v, keeping nil (a delete's value) nil.
func cloneOrNil(v []byte) []byte {
	if v == nil {
		return nil
	}
	return core.CloneValue(v)
}
