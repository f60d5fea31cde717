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
	err := s.view(func(b buckets) error { return checkHeld(b, fromRev) })
	if err != nil {
		return nil, err
	}
	return s.hub.Watch(ctx, s, prefix, fromRev), nil
}

// checkHeld fails with a *store.CompactedError if the log no longer holds
// revision after+1.
func checkHeld(b buckets, after int64) error {
	compact, err := b.compacted()
	if err != nil {
		return err
	}
	if after < compact {
		return &store.CompactedError{Requested: after, Oldest: compact + 1}
	}
	return nil
}

// ReadLog implements core.Log.
func (s *Store) ReadLog(prefix string, after int64, max int) ([]store.WatchResponse, int64, error) {
	var resps []store.WatchResponse
	last := after
	err := s.view(func(b buckets) error {
		if err := checkHeld(b, after); err != nil {
			return err
		}
		c := b.log.Cursor()
		n := 0
		for k, v := c.Seek(revKey(after + 1)); k != nil && n < max; k, v = c.Next() {
			rev, err := decodeUint(k)
			if err != nil {
				return err
			}
			events, err := decodeEntry(int64(rev), v, prefix)
			if err != nil {
				return err
			}
			if len(events) > 0 {
				resps = append(resps, store.WatchResponse{Revision: int64(rev), Events: events})
			}
			last, n = int64(rev), n+1
		}
		return nil
	})
	return resps, last, err
}
