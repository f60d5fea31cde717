package etcd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/internal/core"
)

// Grant implements store.Store with an etcd lease, kept alive by the
// client (clientv3 KeepAlive, a third of the TTL apart) until Revoke or
// Close. A process that dies, or cannot reach etcd for the TTL, loses the
// lease: etcd deletes its keys, one delete event each, without tombstones
// (see store.Lease).
func (s *Store) Grant(ctx context.Context, ttl time.Duration) (store.Lease, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	ttl, err := core.CheckTTL(ttl)
	if err != nil {
		return nil, err
	}
	resp, err := call(ctx, s, func(c context.Context) (*clientv3.LeaseGrantResponse, error) {
		return s.cli.Grant(c, int64(ttl/time.Second))
	})
	if err != nil {
		return nil, fmt.Errorf("grant lease: %w", err)
	}
	kctx, cancel := context.WithCancel(context.Background())
	ch, err := s.cli.KeepAlive(kctx, resp.ID)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("keep lease %x alive: %w", resp.ID, s.mapErr(ctx, err))
	}
	l := &lease{s: s, id: resp.ID, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for range ch { // closed when the lease ends, is not renewed in time, or the client closes
		}
	}()
	return l, nil
}

// lease is a store.Lease on an etcd lease.
type lease struct {
	s    *Store
	id   clientv3.LeaseID
	stop context.CancelFunc // ends the keep-alive
	done chan struct{}
}

var _ store.Lease = (*lease)(nil)

// ID implements store.Lease.
func (l *lease) ID() int64 { return int64(l.id) }

// Done implements store.Lease.
func (l *lease) Done() <-chan struct{} { return l.done }

// ended reports whether the lease is known to have ended.
func (l *lease) ended() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// Put implements store.Lease.
func (l *lease) Put(ctx context.Context, key string, value []byte) (int64, error) {
	if err := l.s.begin(ctx); err != nil {
		return 0, err
	}
	if err := core.CheckKey(key); err != nil {
		return 0, err
	}
	if len(key)+len(value) > store.MaxTxnBytes {
		return 0, fmt.Errorf("%d bytes written, limit %d: %w", len(key)+len(value), store.MaxTxnBytes, store.ErrTxnTooLarge)
	}
	if l.ended() {
		return 0, core.LeaseEnded(l.ID())
	}
	resp, err := call(ctx, l.s, func(c context.Context) (*clientv3.PutResponse, error) {
		return l.s.cli.Put(c, l.s.data+key, string(value), clientv3.WithLease(l.id))
	})
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return 0, core.LeaseEnded(l.ID())
	}
	if err != nil {
		return 0, fmt.Errorf("put %q under lease %x: %w", key, l.id, err)
	}
	return resp.Header.Revision, nil
}

// Revoke implements store.Lease.
func (l *lease) Revoke(ctx context.Context) error {
	if err := l.s.begin(ctx); err != nil {
		return err
	}
	l.stop()
	_, err := call(ctx, l.s, func(c context.Context) (*clientv3.LeaseRevokeResponse, error) {
		return l.s.cli.Revoke(c, l.id)
	})
	if err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return fmt.Errorf("revoke lease %x: %w", l.id, err)
	}
	return nil
}
