package etcd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/internal/core"
)

// Watch implements store.Store on etcd's watch. store.Compact(r) compacts
// etcd at r, which keeps r's puts but not its deletes: the contract lets a
// watch resume after r, and etcd accepts a watch from r itself. So the etcd
// watch starts at fromRev, one revision early, for etcd to refuse exactly
// the fromRev the contract refuses; the events of fromRev are dropped.
//
// The etcd client buffers what the reader has not taken yet and resumes
// its watch on another member when one fails; if the watch itself ends
// (no leader, a member cut off), it is restarted after the last revision
// delivered.
func (s *Store) Watch(ctx context.Context, prefix string, fromRev int64) (<-chan store.WatchResponse, error) {
	if err := core.CheckRevision(fromRev); err != nil {
		return nil, err
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if err := s.checkCompacted(ctx, fromRev); err != nil {
		return nil, err
	}
	out := make(chan store.WatchResponse, core.WatchBuffer)
	go s.follow(ctx, prefix, fromRev, out)
	return out, nil
}

// checkCompacted returns a *store.CompactedError if the events after
// fromRev are no longer all held.
func (s *Store) checkCompacted(ctx context.Context, fromRev int64) error {
	start := max(fromRev, 1)
	_, err := call(ctx, s, func(c context.Context) (*clientv3.GetResponse, error) {
		return s.cli.Get(c, s.guard, clientv3.WithRev(start), clientv3.WithCountOnly())
	})
	switch {
	case err == nil, errors.Is(err, store.ErrFutureRevision):
		return nil
	case !errors.Is(err, store.ErrCompacted):
		return err
	}
	oldest, err := s.compactRevision(ctx)
	if err != nil {
		return err
	}
	return &store.CompactedError{Requested: fromRev, Oldest: oldest + 1}
}

// compactRevision asks etcd for its compaction revision: a watch from
// revision 1 is refused with it.
func (s *Store) compactRevision(ctx context.Context) (int64, error) {
	wctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	for resp := range s.cli.Watch(wctx, s.guard, clientv3.WithRev(1)) {
		if resp.CompactRevision != 0 {
			return resp.CompactRevision, nil
		}
		if err := resp.Err(); err != nil {
			return 0, s.mapErr(ctx, err)
		}
	}
	return 0, s.mapErr(ctx, wctx.Err())
}

// follow feeds out from etcd watches until ctx is done, the store closes or
// the log no longer holds what the watch needs.
func (s *Store) follow(ctx context.Context, prefix string, after int64, out chan<- store.WatchResponse) {
	defer close(out)
	finish := func(err error) {
		select {
		case out <- store.WatchResponse{Revision: after, Err: err}:
		case <-ctx.Done():
		}
	}
	for {
		err := s.watchOnce(ctx, prefix, &after, out)
		switch {
		case ctx.Err() != nil:
			return
		case s.isClosed():
			finish(store.ErrClosed)
			return
		case err != nil:
			finish(err)
			return
		}
		select { // the watch broke: restart it after a pause
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return
		case <-s.closing:
			finish(store.ErrClosed)
			return
		}
	}
}

// watchOnce runs one etcd watch from *after, advancing it as responses are
// delivered. It returns nil when the watch broke and may be restarted, and
// the error that ends the watch otherwise.
func (s *Store) watchOnce(ctx context.Context, prefix string, after *int64, out chan<- store.WatchResponse) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	from := *after
	key := s.data + prefix
	ch := s.cli.Watch(wctx, key, clientv3.WithRange(s.rangeEnd(s.data, prefixEnd(prefix))),
		clientv3.WithRev(max(from, 1)), clientv3.WithPrevKV())
	for {
		var wr clientv3.WatchResponse
		var ok bool
		select {
		case wr, ok = <-ch:
		case <-ctx.Done():
			return nil
		case <-s.closing:
			return nil
		}
		if !ok {
			return nil
		}
		if wr.CompactRevision != 0 {
			return &store.CompactedError{Requested: *after, Oldest: wr.CompactRevision + 1}
		}
		if wr.Err() != nil || wr.Canceled {
			return nil
		}
		for _, resp := range s.group(wr.Events, *after) {
			select {
			case out <- resp:
				*after = resp.Revision
			case <-ctx.Done():
				return nil
			case <-s.closing:
				return nil
			}
		}
	}
}

// group converts etcd events into one response per revision after after,
// events sorted by key.
func (s *Store) group(evs []*clientv3.Event, after int64) []store.WatchResponse {
	var resps []store.WatchResponse
	for _, ev := range evs {
		rev := ev.Kv.ModRevision
		if rev <= after {
			continue
		}
		if n := len(resps); n == 0 || resps[n-1].Revision != rev {
			resps = append(resps, store.WatchResponse{Revision: rev})
		}
		r := &resps[len(resps)-1]
		r.Events = append(r.Events, s.event(ev))
	}
	for i := range resps {
		slices.SortFunc(resps[i].Events, func(a, b store.Event) int { return strings.Compare(a.KV.Key, b.KV.Key) })
	}
	return resps
}

// event converts one etcd event.
func (s *Store) event(ev *clientv3.Event) store.Event {
	var e store.Event
	if ev.Type == mvccpb.DELETE {
		e = store.Event{Type: store.EventDelete,
			KV: store.KeyValue{Key: strings.TrimPrefix(string(ev.Kv.Key), s.data), ModRevision: ev.Kv.ModRevision}}
	} else {
		e = store.Event{Type: store.EventPut, KV: s.kv(ev.Kv.Key, ev.Kv.Value, ev.Kv.CreateRevision, ev.Kv.ModRevision)}
	}
	if p := ev.PrevKv; p != nil {
		kv := s.kv(p.Key, p.Value, p.CreateRevision, p.ModRevision)
		e.PrevKV = &kv
	}
	return e
}

// Compact implements store.Store: etcd compacts the whole cluster at rev,
// then the tombstones of keys deleted up to rev go (see the package doc).
func (s *Store) Compact(ctx context.Context, rev int64) error {
	if err := core.CheckRevision(rev); err != nil {
		return err
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	cur, err := s.Revision(ctx)
	if err != nil {
		return err
	}
	if rev > cur {
		return fmt.Errorf("compact %d, current revision %d: %w", rev, cur, store.ErrFutureRevision)
	}
	if err := s.compactEtcd(ctx, rev); err != nil {
		return err
	}
	return s.collectTombstones(ctx, rev)
}

// compactEtcd compacts etcd at rev; at or below its compaction it is a
// no-op.
func (s *Store) compactEtcd(ctx context.Context, rev int64) error {
	if rev <= 0 {
		return nil
	}
	_, err := call(ctx, s, func(c context.Context) (*clientv3.CompactResponse, error) {
		return s.cli.Compact(c, rev)
	})
	if err != nil && !errors.Is(err, store.ErrCompacted) {
		return fmt.Errorf("compact %d: %w", rev, err)
	}
	s.mu.Lock()
	s.compacted = max(s.compacted, rev)
	s.mu.Unlock()
	return nil
}

// autoCompact keeps the configured number of revisions after a commit at
// rev, compacting etcd once every hundredth of the retention (every
// revision for a retention under 100), and collects tombstones once every
// retention revisions.
func (s *Store) autoCompact(ctx context.Context, rev int64) error {
	target := rev - s.retention
	s.mu.Lock()
	done := s.compacted
	s.mu.Unlock()
	if target <= 0 || target-done < max(1, s.retention/100) {
		return nil
	}
	if err := s.compactEtcd(ctx, target); err != nil {
		return err
	}
	if target/s.retention != done/s.retention {
		return s.collectTombstones(ctx, target)
	}
	return nil
}

// gcBatch is the number of tombstones removed per etcd Txn.
const gcBatch = 100

// collectTombstones removes the tombstones of deletes at or before rev, a
// batch per etcd Txn that also bumps the guard key, so that a transaction
// that read before a batch conflicts instead of missing a delete.
func (s *Store) collectTombstones(ctx context.Context, rev int64) error {
	for {
		resp, err := call(ctx, s, func(c context.Context) (*clientv3.GetResponse, error) {
			return s.cli.Get(c, s.tomb, clientv3.WithPrefix(), clientv3.WithMaxModRev(rev),
				clientv3.WithKeysOnly(), clientv3.WithLimit(gcBatch))
		})
		if err != nil {
			return fmt.Errorf("collect tombstones: %w", err)
		}
		if len(resp.Kvs) == 0 {
			return nil
		}
		ops := []clientv3.Op{clientv3.OpPut(s.guard, "")}
		for _, kv := range resp.Kvs {
			ops = append(ops, clientv3.OpDelete(string(kv.Key)))
		}
		if _, err := call(ctx, s, func(c context.Context) (*clientv3.TxnResponse, error) {
			return s.cli.Txn(c).Then(ops...).Commit()
		}); err != nil {
			return fmt.Errorf("collect tombstones: %w", err)
		}
		if !resp.More {
			return nil
		}
	}
}
