package bolt

import (
	"errors"
	"fmt"
	"syscall"

	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/internal/core"
)

// commit runs a batch and returns each request's result. The caller holds
// s.writer.
func (s *Store) commit(batch []*request) []result {
	results, rev, changes, err := s.runBatch(batch)
	if err != nil {
		s.log.Error("commit failed", "transactions", len(batch), "err", err)
		for i := range results {
			results[i] = result{err: err}
		}
	} else if rev > s.rev.Load() {
		s.rev.Store(rev)
		s.hub.Notify(rev, changes...)
	}
	return results
}

// runBatch runs the batch's functions one after the other in one bbolt
// write transaction, each seeing the writes of those before it, and commits
// them with one fsync (of the write-ahead log, or of bbolt's file when the
// log is off). It returns each one's result, the new revision and
// the events of each revision written. On error nothing is committed, and
// no result stands: even a failed or read-only function may have read
// writes that were then lost.
func (s *Store) runBatch(batch []*request) ([]result, int64, [][]store.Event, error) {
	results := make([]result, len(batch))
	if s.broken != nil {
		return results, 0, nil, s.broken
	}
	// No s.mu here: Close takes s.writer before closing the file.
	btx, err := s.db.Begin(true)
	if err != nil {
		return results, 0, nil, fmt.Errorf("begin write: %w", err)
	}
	defer func() { _ = btx.Rollback() }() // no-op after Commit
	b := bucketsOf(btx)
	start, err := b.revision()
	if err != nil {
		return results, 0, nil, err
	}
	rev := start
	var changes [][]store.Event
	var recs []walRecord
	for i, req := range batch {
		var events []store.Event
		var entry []byte
		if results[i], events, entry, err = s.runOne(b, req, rev); err != nil {
			return results, 0, nil, err
		}
		if len(events) > 0 {
			rev++
			changes = append(changes, events)
			recs = append(recs, walRecord{rev: rev, lease: req.lease, entry: entry})
		}
	}
	if rev == start {
		return results, rev, nil, nil // nothing written: roll back, no fsync
	}
	if err := s.finishBatch(b, rev); err != nil {
		return results, 0, nil, err
	}
	from, n, err := s.logAhead(recs, btx)
	if err != nil {
		return results, 0, nil, err
	}
	if err := btx.Commit(); err != nil {
		if n > 0 {
			s.retractFailed(from, n)
		}
		return results, 0, nil, commitError(err)
	}
	if err := s.afterCommit(n > 0); err != nil {
		// Committed, but not durable (and the store takes no more
		// writes): the callers must not take it for done.
		return results, 0, nil, err
	}
	return results, rev, changes, nil
}

// runOne runs one function at revision rev and applies its writes as
// revision rev+1; it returns them and their log entry (none: rev stays the
// revision). An error is the storage's, not fn's.
func (s *Store) runOne(b buckets, req *request, rev int64) (result, []store.Event, []byte, error) {
	if err := req.ctx.Err(); err != nil {
		return result{err: err}, nil, nil, nil
	}
	if req.lease != 0 && !s.leases.Live(req.lease) {
		return result{err: core.LeaseEnded(req.lease)}, nil, nil, nil
	}
	events, fnErr, err := s.changes(b, req, rev)
	if err != nil {
		return result{}, nil, nil, err
	}
	if fnErr != nil {
		return result{err: fnErr}, nil, nil, nil
	}
	if len(events) == 0 {
		return result{rev: rev}, nil, nil, nil
	}
	entry, err := apply(b, rev+1, events)
	if err != nil {
		return result{}, nil, nil, err
	}
	if err := b.attach(req.lease, events); err != nil {
		return result{}, nil, nil, err
	}
	return result{rev: rev + 1}, events, entry, nil
}

// changes are the events of req at revision rev+1: those of its fn, or of
// revoking a lease. fnErr is fn's own error; err the storage's.
func (s *Store) changes(b buckets, req *request, rev int64) (events []store.Event, fnErr, err error) {
	if req.revoke != 0 {
		keys, err := b.leasedKeys(func(id int64) bool { return id == req.revoke })
		if err != nil {
			return nil, nil, err
		}
		events, err := core.DeleteEvents(b, keys, rev+1)
		return events, nil, err
	}
	tx := core.NewOverlay(b, rev)
	if r := req.lend(tx); r.err != nil {
		return nil, r.err, nil
	}
	events, err = tx.Changes()
	return events, nil, err
}

// apply writes one revision: its keys and its log entry, which it returns.
func apply(b buckets, rev int64, events []store.Event) ([]byte, error) {
	for _, e := range events {
		var err error
		if e.Type == store.EventDelete {
			err = b.kv.Delete([]byte(e.KV.Key))
		} else {
			err = b.kv.Put([]byte(e.KV.Key), encodeRecord(e.KV))
		}
		if err != nil {
			return nil, fmt.Errorf("write %q: %w", e.KV.Key, err)
		}
	}
	entry := encodeEntry(events)
	if err := b.log.Put(revKey(rev), entry); err != nil {
		return nil, fmt.Errorf("write log entry %d: %w", rev, err)
	}
	return entry, nil
}

// finishBatch records the new revision and compacts the log to retention.
func (s *Store) finishBatch(b buckets, rev int64) error {
	if err := b.setMetaInt(metaRev, rev); err != nil {
		return err
	}
	_, err := compactLog(b, rev-s.retention, autoCompactStep)
	return err
}

// commitError wraps the error of a failed commit; a full disk is also
// store.ErrNoSpace. bbolt rolls the transaction back: the file still holds
// the last commit, and the next commit may succeed once space is freed.
func commitError(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("commit: %w: %w", store.ErrNoSpace, err)
	}
	return fmt.Errorf("commit: %w", err)
}
