package bolt

import (
	"context"

	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/internal/core"
)

// Watch implements store.Store.
func (s *Store) Watch(ctx context.Context, prefix string, fromRev int64) (<-chan store.WatchResponse, error) {
	if err := core.CheckRevision(fromRev); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	err := s.view(func(b buckets, mem *memRevs) error { return s.checkHeld(b, mem, fromRev) })
	if err != nil {
		return nil, err
	}
	return s.hub.Watch(ctx, s, prefix, fromRev), nil
}

// checkHeld fails with a *store.CompactedError if the log no longer holds
// revision after+1: compacted in bbolt, or due to be at the next flush
// (commits compact to the retention as they flush).
func (s *Store) checkHeld(b buckets, mem *memRevs, after int64) error {
	compact, err := b.compacted()
	if err != nil {
		return err
	}
	_, rev, err := readBase(b, mem)
	if err != nil {
		return err
	}
	compact = max(compact, rev-s.retention)
	if after < compact {
		return &store.CompactedError{Requested: after, Oldest: compact + 1}
	}
	return nil
}

// ReadLog implements core.Log: bbolt's log, then the revisions in memory
// that bbolt does not hold.
func (s *Store) ReadLog(prefix string, after int64, limit int) ([]store.WatchResponse, int64, error) {
	var resps []store.WatchResponse
	last := after
	err := s.view(func(b buckets, mem *memRevs) error {
		if err := s.checkHeld(b, mem, after); err != nil {
			return err
		}
		held, err := b.revision()
		if err != nil {
			return err
		}
		n := 0
		take := func(rev int64, entry []byte) error {
			events, err := decodeEntry(rev, entry, prefix)
			if err != nil {
				return err
			}
			if len(events) > 0 {
				resps = append(resps, store.WatchResponse{Revision: rev, Events: events})
			}
			last, n = rev, n+1
			return nil
		}
		c := b.log.Cursor()
		for k, v := c.Seek(revKey(after + 1)); k != nil && n < limit; k, v = c.Next() {
			rev, err := decodeUint(k)
			if err != nil {
				return err
			}
			if err := take(int64(rev), v); err != nil {
				return err
			}
		}
		for _, r := range mem.after(max(held, last)) {
			if n >= limit {
				break
			}
			if err := take(r.rev, r.entry); err != nil {
				return err
			}
		}
		return nil
	})
	return resps, last, err
}
