package bolt

import (
	"context"
	"fmt"

	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/internal/core"
)

// Compaction steps. Automatic compaction runs inside every commit and, in
// the steady state, drops as many revisions as the commit adds; the step
// only bounds the catching up after LogRetention was lowered. An explicit
// Compact works in steps so as not to hold the write lock for long.
const (
	autoCompactStep     = 1024
	explicitCompactStep = 10_000
)

// Compact implements store.Store.
func (s *Store) Compact(ctx context.Context, rev int64) error {
	if err := core.CheckRevision(rev); err != nil {
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var done bool
		err := s.update(func(b buckets) error {
			cur, err := b.revision()
			if err != nil {
				return err
			}
			if rev > cur {
				return fmt.Errorf("compact %d, current revision %d: %w", rev, cur, store.ErrFutureRevision)
			}
			done, err = compactLog(b, rev, explicitCompactStep)
			return err
		})
		if err != nil || done {
			return err
		}
	}
}

// compactLog drops the log entries up to and including rev, at most step of
// them; done is true when nothing remains to drop. Every revision has one
// entry, so they are deleted by number.
func compactLog(b buckets, rev int64, step int64) (done bool, err error) {
	from, err := b.compacted()
	if err != nil || rev <= from {
		return true, err
	}
	to := min(rev, from+step)
	for r := from + 1; r <= to; r++ {
		if err := b.log.Delete(revKey(r)); err != nil {
			return false, fmt.Errorf("compact log entry %d: %w", r, err)
		}
	}
	return to == rev, b.setMetaInt(metaCompact, to)
}
