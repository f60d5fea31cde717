package bolt

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	bbolt "go.etcd.io/bbolt"

	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/internal/core"
)

// Revisions in memory.
//
// With the write-ahead log on, a revision is durable once its record is
// synced in the log; bbolt needs it only for reading, and for the next
// checkpoint. So a commit stops there: its revision joins the revisions in
// memory (memRevs), which every read sees over bbolt's committed state, and
// bbolt takes them later, many in one write transaction (flush): when
// memMaxRevs have gathered, before a checkpoint, before a write that takes
// the other way (a lease's, or one the log cannot hold), and at Close. A
// bbolt commit, which rewrites the pages of every bucket it touches and
// writes each one, is then paid once per flush instead of once per
// revision.
//
// A memRevs value is never changed once published (Store.mem): a write
// publishes a new one, a flush an empty one. A reader takes the published
// value first and opens its bbolt read transaction after; it then uses
// only the revisions newer than the one bbolt holds (a flush may have come
// between the two), so that it reads one revision's state, whichever way
// the two interleave.

// memMaxRevs is how many revisions wait in memory, at most, before a flush.
// Reads look them up one by one (newest first), so it bounds their cost
// too.
const memMaxRevs = 64

// memRev is one revision in memory: its events, sorted by key as
// core.Overlay.Changes returns them, and its log entry.
type memRev struct {
	rev    int64
	events []store.Event
	entry  []byte
}

// memRevs are the revisions after bbolt's last commit, in order. The
// writer may append to revs in place: no reader looks past len(revs) of
// the value it took.
type memRevs struct {
	revs []memRev
}

// after returns the revisions newer than rev.
func (m *memRevs) after(rev int64) []memRev {
	if m == nil || len(m.revs) == 0 || rev >= m.revs[len(m.revs)-1].rev {
		return nil
	}
	if i := rev - m.revs[0].rev + 1; i > 0 {
		return m.revs[i:]
	}
	return m.revs
}

// memBase is the state a transaction reads: bbolt's committed state and,
// over it, the revisions in memory that bbolt does not hold yet.
type memBase struct {
	buckets
	revs []memRev
}

var _ core.Base = memBase{}

// readBase is the state a reader sees: mem (taken before tx began) over
// bbolt's state in tx, and the revision of that state.
func readBase(b buckets, mem *memRevs) (memBase, int64, error) {
	rev, err := b.revision()
	if err != nil {
		return memBase{}, 0, err
	}
	revs := mem.after(rev)
	if len(revs) > 0 {
		rev = revs[len(revs)-1].rev
	}
	return memBase{buckets: b, revs: revs}, rev, nil
}

// event returns the newest event of key among the revisions in memory.
func (m memBase) event(key string) (store.Event, bool) {
	for i := len(m.revs) - 1; i >= 0; i-- {
		evs := m.revs[i].events
		if j, ok := slices.BinarySearchFunc(evs, key, func(e store.Event, k string) int { return strings.Compare(e.KV.Key, k) }); ok {
			return evs[j], true
		}
	}
	return store.Event{}, false
}

// Get implements core.Base.
func (m memBase) Get(key string) (store.KeyValue, bool, error) {
	if e, ok := m.event(key); ok {
		if e.Type == store.EventDelete {
			return store.KeyValue{}, false, nil
		}
		return cloneKV(e.KV), true, nil
	}
	return m.buckets.Get(key)
}

// Scan implements core.Base: bbolt's keys and the newest events of the
// revisions in memory, merged in key order.
func (m memBase) Scan(prefix, after string, fn func(store.KeyValue) bool) error {
	if len(m.revs) == 0 {
		return m.buckets.Scan(prefix, after, fn)
	}
	newest := map[string]store.Event{}
	for _, r := range m.revs {
		for _, e := range r.events {
			if strings.HasPrefix(e.KV.Key, prefix) && e.KV.Key > after {
				newest[e.KV.Key] = e
			}
		}
	}
	if len(newest) == 0 {
		return m.buckets.Scan(prefix, after, fn)
	}
	keys := slices.Sorted(maps.Keys(newest))
	stopped := false
	// emit passes on key's newest event (a delete passes nothing) and
	// reports whether to go on.
	emit := func(key string) bool {
		e := newest[key]
		if e.Type == store.EventDelete {
			return true
		}
		if !fn(cloneKV(e.KV)) {
			stopped = true
		}
		return !stopped
	}
	err := m.buckets.Scan(prefix, after, func(kv store.KeyValue) bool {
		for len(keys) > 0 && keys[0] < kv.Key {
			if !emit(keys[0]) {
				return false
			}
			keys = keys[1:]
		}
		if len(keys) > 0 && keys[0] == kv.Key {
			keys = keys[1:]
			return emit(kv.Key)
		}
		if !fn(kv) {
			stopped = true
		}
		return !stopped
	})
	if err != nil || stopped {
		return err
	}
	for _, k := range keys {
		if !emit(k) {
			break
		}
	}
	return nil
}

func cloneKV(kv store.KeyValue) store.KeyValue {
	kv.Value = core.CloneValue(kv.Value)
	return kv
}

// errFlush marks a flush that failed: the revisions stay in memory (reads
// go on seeing them, and they are in the log), and the next flush tries
// again.
var errFlush = errors.New("flush revisions to the store file")

// flush commits the revisions in memory to bbolt, in one write transaction
// (unsynced, as every commit while the log is on: the log holds them until
// the next checkpoint). The caller holds s.writer.
func (s *Store) flush() error {
	mem := s.mem.Load()
	if mem == nil || len(mem.revs) == 0 {
		return nil
	}
	if err := s.commitRevs(mem.revs); err != nil {
		return fmt.Errorf("%w: %w", errFlush, err)
	}
	s.mem.Store(&memRevs{})
	return nil
}

// commitRevs commits revs to bbolt in one write transaction: their keys,
// log entries and revision; a key they write without a lease leaves its
// lease, if it had one.
func (s *Store) commitRevs(revs []memRev) error {
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := bucketsOf(tx)
		for _, r := range revs {
			if err := write(b, r.rev, r.events, r.entry); err != nil {
				return err
			}
			if err := b.attach(0, r.events); err != nil {
				return err
			}
		}
		return s.finishBatch(b, revs[len(revs)-1].rev)
	})
	if err != nil {
		return commitError(err)
	}
	return nil
}
