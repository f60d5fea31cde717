package core

import (
	"fmt"
	"slices"
	"strings"

	"palisade.dev/palisade/internal/store"
)

// Base is a backend's committed state as one transaction sees it.
type Base interface {
	// Get returns key's value; ok is false if it does not exist.
	Get(key string) (kv store.KeyValue, ok bool, err error)
	// Scan calls fn with each key that starts with prefix and sorts after
	// after, in key order, until fn returns false.
	Scan(prefix, after string, fn func(store.KeyValue) bool) error
}

// Overlay is a transaction in progress: writes are buffered in memory over
// a Base, so an aborted transaction leaves the Base untouched. It
// implements store.Tx.
type Overlay struct {
	base    Base
	readRev int64
	writes  map[string]pending
	bytes   int  // keys plus values of writes, for MaxTxnBytes
	ended   bool // the transaction function has returned
	view    bool // read-only (Store.View): writes are refused
}

// pending is one buffered write.
type pending struct {
	value   []byte
	deleted bool
}

var _ store.Tx = (*Overlay)(nil)

// NewOverlay starts a transaction over base, read at revision readRev; it
// commits, if it writes, at readRev+1.
func NewOverlay(base Base, readRev int64) *Overlay {
	return &Overlay{base: base, readRev: readRev, writes: map[string]pending{}}
}

// NewView starts a read-only transaction over base at revision readRev
// (Store.View): its Put and Delete fail.
func NewView(base Base, readRev int64) *Overlay {
	return &Overlay{base: base, readRev: readRev, view: true}
}

// End marks the transaction function as returned: a Tx kept beyond it
// fails from then on instead of touching a finished backend transaction.
func (o *Overlay) End() { o.ended = true }

// check rejects use after End and bad keys.
func (o *Overlay) check(key string) error {
	if o.ended {
		return fmt.Errorf("transaction used after its function returned: %w", store.ErrInvalidArgument)
	}
	return CheckKey(key)
}

// Get implements store.Tx.
func (o *Overlay) Get(key string) (store.KeyValue, error) {
	if err := o.check(key); err != nil {
		return store.KeyValue{}, err
	}
	kv, ok, err := o.lookup(key)
	if err != nil {
		return store.KeyValue{}, err
	}
	if !ok {
		return store.KeyValue{}, fmt.Errorf("get %q: %w", key, store.ErrNotFound)
	}
	return kv, nil
}

// lookup reads key through the buffered writes.
func (o *Overlay) lookup(key string) (store.KeyValue, bool, error) {
	base, ok, err := o.base.Get(key)
	if err != nil {
		return store.KeyValue{}, false, fmt.Errorf("get %q: %w", key, err)
	}
	p, written := o.writes[key]
	if !written {
		return base, ok, nil
	}
	if p.deleted {
		return store.KeyValue{}, false, nil
	}
	return o.pendingKV(key, p, base, ok), true, nil
}

// pendingKV is what key will be once the transaction commits.
func (o *Overlay) pendingKV(key string, p pending, base store.KeyValue, existed bool) store.KeyValue {
	kv := store.KeyValue{Key: key, Value: CloneValue(p.value), CreateRevision: o.readRev + 1, ModRevision: o.readRev + 1}
	if existed {
		kv.CreateRevision = base.CreateRevision
	}
	return kv
}

// Put implements store.Tx.
func (o *Overlay) Put(key string, value []byte) error {
	return o.write(key, pending{value: CloneValue(value)})
}

// Delete implements store.Tx.
func (o *Overlay) Delete(key string) error {
	return o.write(key, pending{deleted: true})
}

// write buffers one write within the transaction limits.
func (o *Overlay) write(key string, p pending) error {
	if err := o.check(key); err != nil {
		return err
	}
	if o.view {
		return fmt.Errorf("write of %q in a read-only view: %w", key, store.ErrInvalidArgument)
	}
	old, replaced := o.writes[key]
	if !replaced && len(o.writes) >= store.MaxTxnWrites {
		return fmt.Errorf("more than %d keys written: %w", store.MaxTxnWrites, store.ErrTxnTooLarge)
	}
	size := o.bytes + len(p.value)
	if replaced {
		size -= len(old.value)
	} else {
		size += len(key)
	}
	if size > store.MaxTxnBytes {
		return fmt.Errorf("%d bytes written, limit %d: %w", size, store.MaxTxnBytes, store.ErrTxnTooLarge)
	}
	o.writes[key], o.bytes = p, size
	return nil
}

// pendingKeys returns the written keys under prefix after after, sorted.
func (o *Overlay) pendingKeys(prefix, after string) []string {
	var keys []string
	for k := range o.writes {
		if strings.HasPrefix(k, prefix) && k > after {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// WrittenKeys returns the keys the transaction has written so far, sorted,
// so that a backend can read their committed state in one batch before
// Changes.
func (o *Overlay) WrittenKeys() []string { return o.pendingKeys("", "") }
