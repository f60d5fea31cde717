package bolt

import (
	"bytes"
	"context"
	"fmt"

	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/internal/core"
)

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key string) (store.KeyValue, error) {
	if err := core.CheckKey(key); err != nil {
		return store.KeyValue{}, err
	}
	var kv store.KeyValue
	var ok bool
	err := s.read(ctx, func(b memBase, _ int64) error {
		var err error
		kv, ok, err = b.Get(key)
		return err
	})
	if err == nil && !ok {
		err = fmt.Errorf("get %q: %w", key, store.ErrNotFound)
	}
	return kv, err
}

// List implements store.Store: an empty transaction's view.
func (s *Store) List(ctx context.Context, prefix string, opts store.ListOptions) (store.Page, error) {
	var page store.Page
	err := s.read(ctx, func(b memBase, rev int64) error {
		var err error
		page, err = core.NewOverlay(b, rev).List(prefix, opts)
		return err
	})
	return page, err
}

// View implements store.Store: fn runs once, in a bbolt read transaction
// of the caller's goroutine, beside the committer.
func (s *Store) View(ctx context.Context, fn func(store.Tx) error) (int64, error) {
	if fn == nil {
		return 0, fmt.Errorf("nil view function: %w", store.ErrInvalidArgument)
	}
	var rev int64
	err := s.read(ctx, func(b memBase, r int64) error {
		rev = r
		tx := core.NewView(b, r)
		defer tx.End()
		return fn(tx)
	})
	if err != nil {
		return 0, err
	}
	return rev, nil
}

// Revision implements store.Store.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, store.ErrClosed
	}
	return s.rev.Load(), nil
}

// read runs fn in a read transaction, with the revision it reads at.
func (s *Store) read(ctx context.Context, fn func(b memBase, rev int64) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.view(func(b buckets, mem *memRevs) error {
		base, rev, err := readBase(b, mem)
		if err != nil {
			return err
		}
		return fn(base, rev)
	})
}

// Get implements core.Base.
func (b buckets) Get(key string) (store.KeyValue, bool, error) {
	rec := b.kv.Get([]byte(key))
	if rec == nil {
		return store.KeyValue{}, false, nil
	}
	kv, err := decodeRecord([]byte(key), rec)
	return kv, err == nil, err
}

// Scan implements core.Base.
func (b buckets) Scan(prefix, after string, fn func(store.KeyValue) bool) error {
	p := []byte(prefix)
	c := b.kv.Cursor()
	for k, v := c.Seek([]byte(max(prefix, after))); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if string(k) <= after {
			continue
		}
		kv, err := decodeRecord(k, v)
		if err != nil {
			return fmt.Errorf("scan %q: %w", prefix, err)
		}
		if !fn(kv) {
			return nil
		}
	}
	return nil
}
