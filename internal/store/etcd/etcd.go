// Package etcd is a store.Store kept in an etcd cluster (v3 API, etcd 3.4
// and later), for several Palisade processes sharing one control plane.
//
// # Layout
//
// Everything lives under Options.Prefix (default /palisade/), so a cluster
// can be shared: the store's keys under <prefix>d/, a tombstone for each
// deleted key under <prefix>t/ (see below), and <prefix>gc, the guard of
// tombstone collection.
//
// # Transactions
//
// A transaction reads at one etcd revision R (the cluster's revision when
// the attempt starts), buffers its writes (core.Overlay) and records every
// key range it read: a Get reads the range of one key, a List the range of
// the keys it looked at. The commit is one etcd Txn that writes only if,
// for every range read, no key in it has a mod revision above R:
//
//	If( ModRevision(<prefix>d/ + range) < R+1,   // nothing put since R
//	    ModRevision(<prefix>t/ + range) < R+1,   // nothing deleted since R
//	    ModRevision(<prefix>gc) < R+1 )          // no tombstone collected
//	Then( the writes )
//
// A put since R (new or overwritten key) shows as a newer mod revision in
// the data range. A delete removes its key from that range, so each delete
// also puts the key's tombstone, whose mod revision is the deleting
// revision: a key deleted since R shows in the tombstone range. A failed
// comparison re-runs the function at a newer revision. Ranges are merged
// (conservatively: a merged range covers the gaps between the ranges it
// joins) to at most maxCompareRanges, so a transaction that read many
// keys still fits etcd's limit on operations per request.
//
// Tombstones of keys deleted at or before a compacted revision are removed
// by Compact; it bumps the gc key in the same etcd Txn, so that a
// transaction that read before the removal conflicts instead of missing a
// delete.
//
// # Revisions
//
// Store revisions are etcd's revisions. On a cluster shared with other
// writers they are not consecutive; the contract allows that.
//
// # Cluster settings
//
// A transaction may write 128 keys and a tombstone for each deleted one,
// and carry 1 MiB of writes plus its comparisons: etcd members must run
// with --max-txn-ops 512 and --max-request-bytes 4194304 or more
// (scripts/etcd-cluster does).
package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/internal/core"
)

// Defaults of Options.
const (
	DefaultPrefix         = "/palisade/"
	DefaultLogRetention   = 100_000
	DefaultRequestTimeout = 3 * time.Second
	DefaultDialTimeout    = 3 * time.Second
)

// maxRequestBytes is the largest request the store sends: the members'
// --max-request-bytes must be at least this.
const maxRequestBytes = 4 << 20

// Options configures a Store.
type Options struct {
	// Endpoints are the etcd members' client URLs (http://127.0.0.1:2379).
	Endpoints []string
	// Prefix is where the store's keys live; "" means DefaultPrefix. It
	// must end with "/".
	Prefix string
	// Username and Password authenticate to etcd when Username is set.
	Username, Password string
	// TLS, when set, is used for https endpoints.
	TLS *tls.Config
	// LogRetention is the number of recent revisions whose events stay
	// watchable; older ones are compacted (cluster-wide) at commit. 0 means
	// DefaultLogRetention.
	LogRetention int64
	// RequestTimeout bounds each request to etcd: past it, the operation
	// fails with store.ErrUnavailable. 0 means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// DialTimeout bounds Open's first contact. 0 means DefaultDialTimeout.
	DialTimeout time.Duration
}

// Store is a store.Store on etcd.
type Store struct {
	cli       *clientv3.Client
	endpoints string
	data      string // prefix of the store's keys
	tomb      string // prefix of tombstones
	guard     string // the tombstone collection guard
	retention int64
	timeout   time.Duration

	closing chan struct{}
	once    sync.Once

	mu        sync.Mutex
	compacted int64 // highest revision this process compacted at
}

var _ store.Store = (*Store)(nil)

// Open connects to the etcd cluster and checks that it answers.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if len(opts.Endpoints) == 0 {
		return nil, fmt.Errorf("etcd store: no endpoints: %w", store.ErrInvalidArgument)
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if !strings.HasSuffix(opts.Prefix, "/") {
		return nil, fmt.Errorf("etcd store: prefix %q does not end with /: %w", opts.Prefix, store.ErrInvalidArgument)
	}
	if opts.LogRetention <= 0 {
		opts.LogRetention = DefaultLogRetention
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            opts.Endpoints,
		DialTimeout:          opts.DialTimeout,
		DialKeepAliveTime:    2 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		Username:             opts.Username,
		Password:             opts.Password,
		TLS:                  opts.TLS,
		Logger:               zap.NewNop(),
		// A commit carries up to 1 MiB of writes, a tombstone key per
		// delete and the keys of its comparisons: above the client's
		// default 2 MiB, below the members' --max-request-bytes.
		MaxCallSendMsgSize: maxRequestBytes,
		Context:            context.WithoutCancel(ctx),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd store: connect to %s: %w: %v", strings.Join(opts.Endpoints, ","), store.ErrUnavailable, err)
	}
	s := &Store{
		cli:       cli,
		endpoints: strings.Join(opts.Endpoints, ","),
		data:      opts.Prefix + "d/",
		tomb:      opts.Prefix + "t/",
		guard:     opts.Prefix + "gc",
		retention: opts.LogRetention,
		timeout:   opts.RequestTimeout,
		closing:   make(chan struct{}),
	}
	if _, err := s.Revision(ctx); err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("etcd store: %w", err)
	}
	return s, nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	s.once.Do(func() {
		close(s.closing)
		_ = s.cli.Close()
	})
	return nil
}

// isClosed reports whether Close was called.
func (s *Store) isClosed() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// begin checks ctx and the store before an operation.
func (s *Store) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.isClosed() {
		return store.ErrClosed
	}
	return nil
}

// call runs one etcd request within the request timeout, mapping its error.
func call[T any](ctx context.Context, s *Store, f func(context.Context) (T, error)) (T, error) {
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	v, err := f(rctx)
	if err != nil {
		return v, s.mapErr(ctx, err)
	}
	return v, nil
}

// mapErr turns an etcd client error into the store's: the caller's own
// cancellation stays as is, a closed store is ErrClosed, and an etcd that
// does not answer in time (or has no leader) is ErrUnavailable.
func (s *Store) mapErr(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case s.isClosed():
		return store.ErrClosed
	case errors.Is(err, rpctypes.ErrCompacted):
		return fmt.Errorf("etcd: %w", store.ErrCompacted)
	case errors.Is(err, rpctypes.ErrFutureRev):
		return fmt.Errorf("etcd: %w", store.ErrFutureRevision)
	case errors.Is(err, rpctypes.ErrTooManyOps), errors.Is(err, rpctypes.ErrRequestTooLarge):
		return fmt.Errorf("etcd refused the transaction (%v; members need --max-txn-ops 512 and --max-request-bytes 4194304): %w",
			err, store.ErrTxnTooLarge)
	case errors.Is(err, rpctypes.ErrPermissionDenied):
		return fmt.Errorf("etcd refused the request, which the roles of the user the store connected as do not allow (%v): %w", err, store.ErrPermissionDenied)
	case unavailable(err):
		return fmt.Errorf("etcd at %s: %w (%v)", s.endpoints, store.ErrUnavailable, err)
	}
	return fmt.Errorf("etcd: %w", err)
}

// proposalDropped is what etcd answers, with no error code of its own,
// when raft drops a request's proposal, as it does while leadership moves
// from member to member: the request was not applied, and trying it again
// is safe.
const proposalDropped = "raft proposal dropped"

// unavailable reports an error that says etcd could not answer now.
func unavailable(err error) bool {
	if strings.Contains(rpctypes.ErrorDesc(err), proposalDropped) {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, rpctypes.ErrNoLeader) ||
		errors.Is(err, rpctypes.ErrTimeout) || errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail) ||
		errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost) || errors.Is(err, rpctypes.ErrLeaderChanged) ||
		errors.Is(err, rpctypes.ErrNotCapable) || errors.Is(err, rpctypes.ErrTooManyRequests) {
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return true
	}
	return false
}

// Revision implements store.Store.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	resp, err := call(ctx, s, func(c context.Context) (*clientv3.GetResponse, error) {
		return s.cli.Get(c, s.guard, clientv3.WithCountOnly())
	})
	if err != nil {
		return 0, err
	}
	return resp.Header.Revision, nil
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key string) (store.KeyValue, error) {
	if err := s.begin(ctx); err != nil {
		return store.KeyValue{}, err
	}
	if err := core.CheckKey(key); err != nil {
		return store.KeyValue{}, err
	}
	resp, err := call(ctx, s, func(c context.Context) (*clientv3.GetResponse, error) {
		return s.cli.Get(c, s.data+key)
	})
	if err != nil {
		return store.KeyValue{}, fmt.Errorf("get %q: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return store.KeyValue{}, fmt.Errorf("get %q: %w", key, store.ErrNotFound)
	}
	return s.kv(resp.Kvs[0].Key, resp.Kvs[0].Value, resp.Kvs[0].CreateRevision, resp.Kvs[0].ModRevision), nil
}

// List implements store.Store: one etcd range read.
func (s *Store) List(ctx context.Context, prefix string, opts store.ListOptions) (store.Page, error) {
	if err := s.begin(ctx); err != nil {
		return store.Page{}, err
	}
	if err := core.CheckListOptions(opts); err != nil {
		return store.Page{}, err
	}
	from, end := listRange(prefix, opts.StartAfter)
	var p store.Page
	if end != "" && from >= end {
		rev, err := s.Revision(ctx)
		return store.Page{Revision: rev}, err
	}
	ropts := []clientv3.OpOption{clientv3.WithRange(s.rangeEnd(s.data, end))}
	if opts.Limit > 0 {
		ropts = append(ropts, clientv3.WithLimit(int64(opts.Limit)))
	}
	resp, err := call(ctx, s, func(c context.Context) (*clientv3.GetResponse, error) {
		return s.cli.Get(c, s.data+from, ropts...)
	})
	if err != nil {
		return store.Page{}, fmt.Errorf("list %q: %w", prefix, err)
	}
	for _, kv := range resp.Kvs {
		p.KVs = append(p.KVs, s.kv(kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision))
	}
	p.More, p.Revision = resp.More, resp.Header.Revision
	return p, nil
}

// kv converts an etcd key-value under the data prefix.
func (s *Store) kv(key, value []byte, create, mod int64) store.KeyValue {
	return store.KeyValue{Key: strings.TrimPrefix(string(key), s.data), Value: core.CloneValue(value),
		CreateRevision: create, ModRevision: mod}
}

// listRange returns the user-space range [from, end) of the keys starting
// with prefix and greater than after; end "" is unbounded.
func listRange(prefix, after string) (from, end string) {
	from = prefix
	if after >= prefix {
		from = after + "\x00"
	}
	return from, prefixEnd(prefix)
}

// prefixEnd is the first key after every key starting with prefix; "" if
// there is none (unbounded).
func prefixEnd(prefix string) string {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return ""
}

// rangeEnd is the etcd end of the user-space end under ns.
func (s *Store) rangeEnd(ns, end string) string {
	if end == "" {
		return clientv3.GetPrefixRangeEnd(ns)
	}
	return ns + end
}
