// Package bolt is the embedded store.Store, on a bbolt file and its
// write-ahead log: the default backend of a one-machine Palisade.
//
// Every acknowledged transaction is on disk, and Txn returns only after it
// is: its revisions are appended to the write-ahead log and synced (one
// fdatasync of a preallocated file), and kept in memory, where every read
// sees them over bbolt's state, until bbolt takes a few dozen of them in
// one unsynced commit (mem.go); checkpoints sync the bbolt file now and
// then, and Open replays what followed the last one (wal.go and
// checkpoint.go say how this survives a power loss). Should the log be
// unavailable, bbolt commits and syncs each transaction itself. To keep commits affordable under concurrent writers, transactions
// are group-committed: one committer goroutine takes all waiting
// transactions as a batch and commits them in one bbolt write transaction
// and one fsync. Each function runs once,
// in its caller's goroutine (the committer lends it the bbolt transaction),
// after the functions before it in the batch, whose writes it sees: the
// batch is a serial order, so transactions are serializable without retry.
// A writer that finds no commit running and none waiting commits alone, in
// its own goroutine, without the committer: one request, no hand-off.
// Views (Store.View) are bbolt read transactions in the caller's goroutine,
// beside the writer.
//
// The file holds four buckets: kv (the keys), log (one entry per revision,
// the events of that revision, for Watch; the write-ahead log's records are
// these entries), meta (format, revision, compaction point) and lease.
package bolt

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"

	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/internal/core"
)

// Defaults of Options.
const (
	DefaultLogRetention = 100_000
	DefaultLockTimeout  = 5 * time.Second
)

// Options configures a Store. The zero value is ready to use.
type Options struct {
	// LogRetention is the number of recent revisions kept in the change
	// log; older ones are compacted automatically. 0 means
	// DefaultLogRetention.
	LogRetention int64
	// LockTimeout bounds the wait for the file lock another process holds.
	// 0 means DefaultLockTimeout.
	LockTimeout time.Duration
	// Logger receives the store's rare messages (open, compaction, failed
	// commits). nil discards them.
	Logger *slog.Logger
}

// withDefaults fills the zero fields.
func (o Options) withDefaults() Options {
	if o.LogRetention <= 0 {
		o.LogRetention = DefaultLogRetention
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}

// Store is a store.Store on a bbolt file.
type Store struct {
	db        *bbolt.DB
	retention int64
	log       *slog.Logger
	hub       *core.Hub
	rev       atomic.Int64 // last committed revision
	// mem: the revisions logged and not yet in bbolt (mem.go); replaced,
	// never changed, under writer.
	mem    atomic.Pointer[memRevs]
	leases core.Leases

	writer   sync.Mutex    // held by whoever runs a bbolt write transaction
	queued   atomic.Int64  // transactions handed to the committer, not yet answered
	reqs     chan *request // transactions waiting for the committer
	closing  chan struct{} // closed by Close: no new transactions
	loopDone chan struct{} // closed when the committer has stopped
	once     sync.Once

	mu     sync.RWMutex // held for reading around every use of db
	closed bool

	// The write-ahead log (checkpoint.go), all under writer. wal nil:
	// off, and bbolt syncs every commit.
	wal             *wal
	pin             *bbolt.Tx // a reader at the last checkpoint
	file            *os.File  // the bbolt file, read-only: its meta pages
	inode           uint64    // the file's, which the log's header names
	mmapSize        int       // bbolt's map of the file
	sinceCheckpoint int       // bytes of records since the last checkpoint
	checkpointArmed bool      // timedCheckpoint is due
	broken          error     // no more writes: the log failed and could not be left
}

var _ store.Store = (*Store)(nil)

// Open opens the store in the file at path, creating it if needed, and
// its write-ahead log beside it (WALPath): what a crash left in the log is
// replayed first.
func Open(path string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	st, statErr := os.Stat(path)
	hdr, restored, err := restoreCheckpoint(path, WALPath(path), opts.LockTimeout)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	mmapSize := 1 << 30 // virtual: a reader never blocks a write that grows the file (the pin is one)
	if statErr == nil && int64(mmapSize) < 2*st.Size() {
		mmapSize = int((2*st.Size() + 1<<30 - 1) &^ (1<<30 - 1))
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:      opts.LockTimeout,
		FreelistType: bbolt.FreelistMapType,
		// The free list is not written on each commit (a page less to
		// allocate, encode and write per transaction); Open rebuilds it
		// by scanning the file, as etcd does.
		NoFreelistSync:  true,
		InitialMmapSize: mmapSize,
	})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// After a restore, the checkpoint's pages must stay as they are until
	// the first checkpoint of this process replaces the log's header: a
	// crash before then restores the same checkpoint again. So a reader
	// holds them, and the writes below (replay, leases) go elsewhere.
	var pin *bbolt.Tx
	if restored {
		if pin, err = db.Begin(false); err != nil {
			return nil, errors.Join(fmt.Errorf("open store %s: %w", path, err), db.Close())
		}
	}
	rev, err := initialize(db)
	if err == nil && restored {
		from := rev
		if rev, err = replay(db, WALPath(path), hdr, rev, opts.LogRetention); err == nil && rev > from {
			opts.Logger.Info("store recovered from its write-ahead log", "path", path, "revisions", rev-from, "revision", rev)
		}
	}
	if err == nil {
		rev, err = dropOldLeases(db, rev)
	}
	if err == nil && testHookRecovered != nil {
		testHookRecovered()
	}
	if err == nil && errors.Is(statErr, os.ErrNotExist) {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		if pin != nil {
			_ = pin.Rollback()
		}
		return nil, errors.Join(fmt.Errorf("open store %s: %w", path, err), db.Close())
	}
	s := &Store{
		db: db, retention: opts.LogRetention, log: opts.Logger, hub: core.NewHub(rev), mmapSize: mmapSize,
		reqs: make(chan *request), closing: make(chan struct{}), loopDone: make(chan struct{}), pin: pin,
	}
	s.rev.Store(rev)
	s.mem.Store(&memRevs{})
	s.startWAL(WALPath(path))
	if s.broken != nil {
		s.closeWAL()
		return nil, errors.Join(fmt.Errorf("open store %s: %w", path, s.broken), db.Close())
	}
	go s.commitLoop()
	s.log.Info("store opened", "path", path, "revision", rev, "write_ahead_log", s.wal != nil)
	return s, nil
}

// testHookRecovered, set by a test, runs in Open after the recovery's
// writes and before the first checkpoint: a crash there must leave the
// last checkpoint restorable.
var testHookRecovered func()

// syncDir makes a newly created file's directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}

// Close implements store.Store: it stops taking transactions, lets the
// running batch commit, ends the watches and closes the file.
func (s *Store) Close() error {
	var err error
	s.once.Do(func() {
		close(s.closing)
		<-s.loopDone
		s.writer.Lock() // an inline commit in progress ends; none starts after
		defer s.writer.Unlock()
		s.leases.Close()
		s.hub.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		s.closed = true
		werr := s.finishWAL()
		if cerr := s.db.Close(); cerr != nil || werr != nil {
			err = fmt.Errorf("close store: %w", errors.Join(werr, cerr))
		}
	})
	return err
}

// view runs fn in a bbolt read transaction, unless the store is closed,
// with the revisions in memory taken before it began (mem.go).
func (s *Store) view(fn func(b buckets, mem *memRevs) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	mem := s.mem.Load()
	return s.db.View(func(tx *bbolt.Tx) error { return fn(bucketsOf(tx), mem) })
}

// update runs fn in a bbolt write transaction, unless the store is closed,
// and makes it durable (the log does not hold it: a checkpoint does).
func (s *Store) update(fn func(b buckets) error) error {
	s.writer.Lock()
	defer s.writer.Unlock()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	if s.broken != nil {
		return s.broken
	}
	if err := s.flush(); err != nil {
		return err
	}
	if err := s.db.Update(func(tx *bbolt.Tx) error { return fn(bucketsOf(tx)) }); err != nil {
		return err
	}
	return s.afterCommit(false)
}
