package store

import (
	"context"
	"time"
)

// Store is an ordered key-value store with revisions, transactions and watch.
// All methods are safe for concurrent use. Values returned to the caller are
// the caller's to keep and modify.
type Store interface {
	// Get returns the current value of key, or an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) (KeyValue, error)

	// List returns the keys starting with prefix ("" for all), sorted by key,
	// one page at a time (see ListOptions). Each page is read at one
	// revision, reported in Page.Revision; successive pages are separate
	// reads. A consistent view of a whole prefix is one List without Limit,
	// or a List inside Txn.
	List(ctx context.Context, prefix string, opts ListOptions) (Page, error)

	// Txn runs fn as one serializable read-modify-write transaction and
	// returns the revision it committed at (the current revision if fn
	// changed nothing; 0 with an error). fn may run more than once and
	// must have no side effects beyond its Tx calls, and must not call the
	// Store's Txn, Compact or Close (writers are serialized: it would wait
	// for itself); the Tx is valid only during fn. If fn returns an error, nothing is
	// written and that very error is returned unchanged, so callers can
	// return typed errors from inside and match them with errors.As. If fn
	// panics, nothing is written and the panic continues in the caller.
	// Once Txn returns nil, the write is durable.
	Txn(ctx context.Context, fn func(tx Tx) error) (rev int64, err error)

	// View runs fn over a consistent snapshot: every read of its Tx sees
	// the store at one revision, which View returns (0 with an error). The
	// Tx is read-only: Put and Delete fail with an error wrapping
	// ErrInvalidArgument. On bolt and etcd, View and writers do not wait for
	// each other (mem serializes them); fn may run more than once (etcd runs it again when the
	// snapshot is compacted under it) and must have no side effects beyond
	// its reads. fn's own error is returned unchanged, as by Txn.
	View(ctx context.Context, fn func(tx Tx) error) (rev int64, err error)

	// Watch delivers, in revision order and one WatchResponse per revision,
	// every change under prefix with a revision greater than fromRev:
	// first those replayed from the persisted change log, then live ones,
	// with no gap and no duplicate between the two. fromRev 0 replays the
	// whole log. If the log no longer holds revision fromRev+1, Watch (or,
	// when compaction happens later, the channel) returns a
	// *CompactedError. A slow reader never blocks writers and never misses
	// an event: the watch reads ahead from the persisted log at its own
	// pace, and only a reader that falls behind compaction is ended, with
	// a *CompactedError. The channel closes when ctx is done (without a
	// final response) or after a final response whose Err is set.
	Watch(ctx context.Context, prefix string, fromRev int64) (<-chan WatchResponse, error)

	// Revision returns the revision of the last committed transaction.
	Revision(ctx context.Context) (int64, error)

	// Compact discards the change log up to and including rev; watches from
	// an older revision then fail with a *CompactedError. Compacting at or
	// below the current compaction point is a no-op; above the current
	// revision, an error wrapping ErrFutureRevision. Backends also compact
	// on their own, keeping a configured number of recent revisions.
	Compact(ctx context.Context, rev int64) error

	// Grant starts a lease of ttl (whole seconds, at least MinLeaseTTL):
	// keys put through it (Lease.Put) live as long as it does. The store
	// keeps the lease alive until Revoke, or until the store is closed or
	// its process dies; then the lease ends and its keys are deleted, each
	// a normal delete for watchers. When the lease ends without Revoke
	// depends on the backend: etcd deletes the keys once ttl has passed
	// without a keep-alive (a dead or cut-off process); bolt, whose file one
	// process holds at a time, deletes the keys of earlier processes' leases
	// when it opens; mem loses everything at Close anyway.
	Grant(ctx context.Context, ttl time.Duration) (Lease, error)

	// Close releases the store. Transactions that have not started fail
	// with ErrClosed; open watches receive a final response with ErrClosed
	// (a watch's goroutine ends once that is read or its ctx is done).
	Close() error
}

// Lease is a lease of Store.Grant: a set of keys that go when it ends.
//
// A Tx's Put or Delete of a leased key detaches the key from its lease, as
// on etcd: the key then stays until deleted. A lease's end is a delete that
// transactions do not guard against: a transaction that read a leased key
// may still commit after the lease ended (on etcd, lease deletes leave no
// tombstone). Use leased keys for liveness, not for data that others
// derive writes from in a read-modify-write.
type Lease interface {
	// ID is the lease's number (etcd's lease ID; on mem and bolt a number
	// of this process).
	ID() int64
	// Put sets key to a copy of value under the lease and returns the
	// revision of the write. After the lease ended it fails with an error
	// wrapping ErrLeaseEnded. The limits of one transaction apply.
	Put(ctx context.Context, key string, value []byte) (rev int64, err error)
	// Revoke ends the lease and deletes its keys in one revision. Revoking
	// an ended lease is a no-op.
	Revoke(ctx context.Context) error
	// Done is closed once the lease has ended: revoked, its store closed,
	// or (etcd) not kept alive within its TTL, when etcd unreachable or the
	// cluster lost it. Its keys are then deleted or about to be; a holder
	// that must stay alive grants a new lease and puts its keys again.
	Done() <-chan struct{}
}

// MinLeaseTTL is the shortest lease Grant gives: etcd counts TTLs in
// seconds.
const MinLeaseTTL = time.Second

// Tx is the view of a transaction in progress: its reads see the store as of
// the transaction's start plus its own writes. A Tx is not safe for
// concurrent use and is valid only during the function given to Txn.
type Tx interface {
	// Get is Store.Get inside the transaction.
	Get(key string) (KeyValue, error)
	// List is Store.List inside the transaction; Page.Revision is the
	// revision the transaction read at.
	List(prefix string, opts ListOptions) (Page, error)
	// Put sets key to a copy of value.
	Put(key string, value []byte) error
	// Delete removes key; deleting a missing key is not an error and,
	// alone, changes nothing.
	Delete(key string) error
}

// KeyValue is one key as stored.
type KeyValue struct {
	Key            string
	Value          []byte // never nil for a stored key
	CreateRevision int64  // revision that created the key (since its last delete)
	ModRevision    int64  // revision that last wrote the key
}

// ListOptions pages a List. The zero value lists everything.
type ListOptions struct {
	// StartAfter returns only keys greater than it: pass the last key of
	// the previous page. "" starts at the prefix.
	StartAfter string
	// Limit caps the keys returned; 0 means no limit.
	Limit int
}

// Page is one page of a List.
type Page struct {
	KVs      []KeyValue
	More     bool  // keys remain after the last one of KVs
	Revision int64 // revision the page was read at
}

// Next returns the options for the page after p, keeping the limit.
func (p Page) Next(opts ListOptions) ListOptions {
	if len(p.KVs) > 0 {
		opts.StartAfter = p.KVs[len(p.KVs)-1].Key
	}
	return opts
}

// Limits every backend enforces, so that what works on bolt also works on
// etcd (whose defaults are 128 operations and 1.5 MiB per request).
const (
	MaxKeyBytes  = 4096    // bytes in one key
	MaxTxnWrites = 128     // distinct keys written by one transaction
	MaxTxnBytes  = 1 << 20 // bytes of keys plus values written by one transaction
)
