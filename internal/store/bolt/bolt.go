// Package bolt is the embedded store.Store, on a single bbolt file: the
// default backend of a one-machine Palisade.
//
// Every acknowledged transaction is on disk: bbolt fsyncs each commit
// (NoSync stays false), and Txn returns only after the commit. To keep that
// affordable under concurrent writers, transactions are group-committed: one
// committer goroutine takes all waiting transactions as a batch and commits
// them in one bbolt write transaction and one fsync. Each function runs once,
// in its caller's goroutine (the committer lends it the bbolt transaction),
// after the functions before it in the batch, whose writes it sees: the
// batch is a serial order, so transactions are serializable without retry.
// A writer that finds no commit running and none waiting commits alone, in
// its own goroutine, without the committer: one request, no hand-off.
// Views (Store.View) are bbolt read transactions in the caller's goroutine,
// beside the writer.
//
// The file holds three buckets: kv (the keys), log (one entry per revision,
// the events of that revision, for Watch) and meta (format, revision,
// compaction point).
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
	leases    core.Leases

	writer   sync.Mutex    // held by whoever runs a bbolt write transaction
	queued   atomic.Int64  // transactions handed to the committer, not yet answered
	reqs     chan *request // transactions waiting for the committer
	closing  chan struct{} // closed by Close: no new transactions
	loopDone chan struct{} // closed when the committer has stopped
	once     sync.Once

	mu     sync.RWMutex // held for reading around every use of db
	closed bool
}

var _ store.Store = (*Store)(nil)

// Open opens the store in the file at path, creating it if needed.
func Open(path string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	_, statErr := os.Stat(path)
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:      opts.LockTimeout,
		FreelistType: bbolt.FreelistMapType,
		// The free list is not written on each commit (a page less to
		// allocate, encode and write per transaction); Open rebuilds it
		// by scanning the file, as etcd does. Data and meta pages are
		// still synced in order on each commit.
		NoFreelistSync: true,
	})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	rev, err := initialize(db)
	if err == nil && errors.Is(statErr, os.ErrNotExist) {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open store %s: %w", path, err), db.Close())
	}
	s := &Store{
		db: db, retention: opts.LogRetention, log: opts.Logger, hub: core.NewHub(rev),
		reqs: make(chan *request), closing: make(chan struct{}), loopDone: make(chan struct{}),
	}
	s.rev.Store(rev)
	go s.commitLoop()
	s.log.Info("store opened", "path", path, "revision", rev)
	return s, nil
}

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
		if cerr := s.db.Close(); cerr != nil {
			err = fmt.Errorf("close store: %w", cerr)
		}
	})
	return err
}

// view runs fn in a bbolt read transaction, unless the store is closed.
func (s *Store) view(fn func(b buckets) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	return s.db.View(func(tx *bbolt.Tx) error { return fn(bucketsOf(tx)) })
}

// update runs fn in a bbolt write transaction, unless the store is closed.
func (s *Store) update(fn func(b buckets) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	return s.db.Update(func(tx *bbolt.Tx) error { return fn(bucketsOf(tx)) })
}
