// Package mem is an in-memory store.Store for fast tests of other packages.
// It keeps everything, change log included, in memory: nothing survives
// Close, and there is no reopening.
package mem

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/internal/core"
)

// DefaultLogRetention is the number of recent revisions whose events the
// change log keeps when Options.LogRetention is 0.
const DefaultLogRetention = 100_000

// Options configures a Store. The zero value is ready to use.
type Options struct {
	// LogRetention is the number of recent revisions kept in the change
	// log; older ones are compacted automatically. 0 means the default.
	LogRetention int64
}

// Store is an in-memory store.Store.
type Store struct {
	retention int64
	hub       *core.Hub
	wmu       sync.Mutex // serializes writers: Txn and Compact
	leases    core.Leases
	leased    map[string]int64 // key -> its lease; guarded by wmu

	mu      sync.RWMutex // guards the fields below
	kvs     map[string]store.KeyValue
	keys    []string // the keys of kvs, sorted
	log     []entry  // revisions compact+1 … rev, ascending
	compact int64    // last compacted revision
	closed  bool

	rev atomic.Int64 // last committed revision
}

// entry is one revision of the change log.
type entry struct {
	rev    int64
	events []store.Event
}

var _ store.Store = (*Store)(nil)

// New returns an empty store.
func New(opts Options) *Store {
	if opts.LogRetention <= 0 {
		opts.LogRetention = DefaultLogRetention
	}
	return &Store{retention: opts.LogRetention, hub: core.NewHub(0), kvs: map[string]store.KeyValue{}, leased: map[string]int64{}}
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key string) (store.KeyValue, error) {
	if err := ctx.Err(); err != nil {
		return store.KeyValue{}, err
	}
	if err := core.CheckKey(key); err != nil {
		return store.KeyValue{}, err
	}
	kv, ok, err := base{s: s}.Get(key)
	if err != nil {
		return store.KeyValue{}, err
	}
	if !ok {
		return store.KeyValue{}, fmt.Errorf("get %q: %w", key, store.ErrNotFound)
	}
	return kv, nil
}

// List implements store.Store: an empty transaction's view.
func (s *Store) List(ctx context.Context, prefix string, opts store.ListOptions) (store.Page, error) {
	if err := ctx.Err(); err != nil {
		return store.Page{}, err
	}
	s.mu.RLock() // one lock for the revision and the keys
	defer s.mu.RUnlock()
	return core.NewOverlay(base{s: s, held: true}, s.rev.Load()).List(prefix, opts)
}

// Revision implements store.Store.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	if err := s.checkOpen(ctx); err != nil {
		return 0, err
	}
	return s.rev.Load(), nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.leases.Close()
	s.hub.Close()
	return nil
}

// checkOpen fails once ctx is done or the store is closed.
func (s *Store) checkOpen(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	return nil
}

// base is the committed state, as core.Overlay reads it.
type base struct {
	s    *Store
	held bool // the caller holds s.mu for reading
}

// rlock read-locks the store unless the caller holds it, and returns the
// matching unlock.
func (b base) rlock() func() {
	if b.held {
		return func() {}
	}
	b.s.mu.RLock()
	return b.s.mu.RUnlock
}

// Get implements core.Base.
func (b base) Get(key string) (store.KeyValue, bool, error) {
	defer b.rlock()()
	if b.s.closed {
		return store.KeyValue{}, false, store.ErrClosed
	}
	kv, ok := b.s.kvs[key]
	kv.Value = core.CloneValue(kv.Value)
	return kv, ok, nil
}

// Scan implements core.Base.
func (b base) Scan(prefix, after string, fn func(store.KeyValue) bool) error {
	defer b.rlock()()
	if b.s.closed {
		return store.ErrClosed
	}
	i, _ := slices.BinarySearch(b.s.keys, max(prefix, after))
	for _, k := range b.s.keys[i:] {
		if len(k) < len(prefix) || k[:len(prefix)] != prefix {
			return nil
		}
		kv := b.s.kvs[k]
		kv.Value = core.CloneValue(kv.Value)
		if k > after && !fn(kv) {
			return nil
		}
	}
	return nil
}
