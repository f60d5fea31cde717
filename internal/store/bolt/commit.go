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

// runBatch runs the batch's functions one after the other, each seeing the
// writes of those before it, and makes them durable with one fsync (of the
// write-ahead log, or of bbolt's file when the log is off). It returns
// each one's result, the new revision and the events of each revision
// written. On error nothing is committed, and no result stands: even a
// failed or read-only function may have read writes that were then lost.
//
// With the log on, the revisions go to memory once logged (mem.go) and
// bbolt takes them later. A batch that puts keys in a lease or revokes
// one goes to bbolt at once, after the revisions in memory: leases live in
// bbolt only.
func (s *Store) runBatch(batch []*request) ([]result, int64, [][]store.Event, error) {
	results := make([]result, len(batch))
	if s.broken != nil {
		return results, 0, nil, s.broken
	}
	if s.wal != nil && !leased(batch) {
		rev, changes, err := s.runBatchInMemory(batch, results)
		return results, rev, changes, err
	}
	if err := s.flush(); err != nil {
		return results, 0, nil, err
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
	res, events, err := s.changesOf(b, b, req, rev)
	if err != nil || len(events) == 0 {
		return res, nil, nil, err
	}
	entry, err := apply(b, rev+1, events)
	if err != nil {
		return result{}, nil, nil, err
	}
	if err := b.attach(req.lease, events); err != nil {
		return result{}, nil, nil, err
	}
	return res, events, entry, nil
}

// changesOf runs one function at revision rev over base and returns its
// result and events, those of revision rev+1 (none: rev stays the
// revision). An error is the storage's, not fn's.
func (s *Store) changesOf(base core.Base, b buckets, req *request, rev int64) (result, []store.Event, error) {
	if err := req.ctx.Err(); err != nil {
		return result{err: err}, nil, nil
	}
	if req.lease != 0 && !s.leases.Live(req.lease) {
		return result{err: core.LeaseEnded(req.lease)}, nil, nil
	}
	events, fnErr, err := s.changes(base, b, req, rev)
	if err != nil {
		return result{}, nil, err
	}
	if fnErr != nil {
		return result{err: fnErr}, nil, nil
	}
	if len(events) == 0 {
		return result{rev: rev}, nil, nil
	}
	return result{rev: rev + 1}, events, nil
}

// changes are the events of req at revision rev+1: those of its fn, run
// over base, or of revoking a lease. fnErr is fn's own error; err the
// storage's.
func (s *Store) changes(base core.Base, b buckets, req *request, rev int64) (events []store.Event, fnErr, err error) {
	if req.revoke != 0 {
		keys, err := b.leasedKeys(func(id int64) bool { return id == req.revoke })
		if err != nil {
			return nil, nil, err
		}
		events, err := core.DeleteEvents(base, keys, rev+1)
		return events, nil, err
	}
	tx := core.NewOverlay(base, rev)
	if r := req.lend(tx); r.err != nil {
		return nil, r.err, nil
	}
	events, err = tx.Changes()
	return events, nil, err
}

// leased reports whether a request of batch puts keys in a lease or
// revokes one.
func leased(batch []*request) bool {
	for _, req := range batch {
		if req.lease != 0 || req.revoke != 0 {
			return true
		}
	}
	return false
}

// runBatchInMemory runs the batch over bbolt's state and the revisions in
// memory, logs its revisions and adds them to those in memory (mem.go).
// bbolt takes the batch at once, after the revisions in memory, if the
// log cannot hold it (then a checkpoint makes it durable) or if it writes
// a leased key (the write ends the key's lease, and leases live in bbolt).
func (s *Store) runBatchInMemory(batch []*request, results []result) (rev int64, changes [][]store.Event, err error) {
	if len(s.mem.Load().revs) >= memMaxRevs {
		if err := s.flush(); err != nil {
			return 0, nil, err
		}
	}
	mem := s.mem.Load()
	rtx, err := s.db.Begin(false)
	if err != nil {
		return 0, nil, fmt.Errorf("begin read: %w", err)
	}
	defer func() { _ = rtx.Rollback() }()
	b := bucketsOf(rtx)
	base, start, err := readBase(b, mem)
	if err != nil {
		return 0, nil, err
	}
	rev = start
	var added []memRev
	var recs []walRecord
	for i, req := range batch {
		var events []store.Event
		if results[i], events, err = s.changesOf(base, b, req, rev); err != nil {
			return 0, nil, err
		}
		if len(events) > 0 {
			rev++
			r := memRev{rev: rev, events: events, entry: encodeEntry(events)}
			added = append(added, r)
			base.revs = append(base.revs, r) // what the next function reads
			changes = append(changes, events)
			recs = append(recs, walRecord{rev: rev, entry: r.entry})
		}
	}
	if rev == start {
		return rev, nil, nil // nothing written
	}
	from, n, err := s.logAhead(recs, rtx)
	if err != nil {
		return 0, nil, err
	}
	if n == 0 || writesLeased(b, added) {
		if err := s.flush(); err != nil {
			return 0, nil, err
		}
		if err := s.commitRevs(added); err != nil {
			if n > 0 {
				s.retractFailed(from, n)
			}
			return 0, nil, err
		}
		return rev, changes, s.afterCommit(n > 0)
	}
	// The log may have been checkpointed (and the revisions in memory
	// flushed) on the way: add to what is in memory now.
	cur := s.mem.Load()
	s.mem.Store(&memRevs{revs: append(cur.revs, added...)})
	return rev, changes, s.afterCommit(true)
}

// writesLeased reports whether revs write a key that is in a lease.
func writesLeased(b buckets, revs []memRev) bool {
	if k, _ := b.lease.Cursor().First(); k == nil {
		return false // no leased key: the common case costs nothing
	}
	for _, r := range revs {
		for _, e := range r.events {
			if b.lease.Get([]byte(e.KV.Key)) != nil {
				return true
			}
		}
	}
	return false
}

// apply writes one revision: its keys and its log entry, which it returns.
func apply(b buckets, rev int64, events []store.Event) ([]byte, error) {
	entry := encodeEntry(events)
	return entry, write(b, rev, events, entry)
}

// write writes one revision whose log entry is encoded.
func write(b buckets, rev int64, events []store.Event, entry []byte) error {
	for _, e := range events {
		var err error
		if e.Type == store.EventDelete {
			err = b.kv.Delete([]byte(e.KV.Key))
		} else {
			err = b.kv.Put([]byte(e.KV.Key), encodeRecord(e.KV))
		}
		if err != nil {
			return fmt.Errorf("write %q: %w", e.KV.Key, err)
		}
	}
	if err := b.log.Put(revKey(rev), entry); err != nil {
		return fmt.Errorf("write log entry %d: %w", rev, err)
	}
	return nil
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
