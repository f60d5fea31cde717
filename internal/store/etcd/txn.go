package etcd

import (
	"context"
	"errors"
	"fmt"
	"slices"

	clientv3 "go.etcd.io/etcd/client/v3"

	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/internal/core"
)

// maxCompareRanges caps the key ranges one commit compares (each costs
// two etcd comparisons).
const maxCompareRanges = 48

// Txn implements store.Store: fn runs on a snapshot, and the commit checks
// that nothing fn read has changed since (see the package doc); on a
// conflict fn runs again.
func (s *Store) Txn(ctx context.Context, fn func(store.Tx) error) (int64, error) {
	if fn == nil {
		return 0, fmt.Errorf("nil transaction function: %w", store.ErrInvalidArgument)
	}
	for {
		if err := s.begin(ctx); err != nil {
			return 0, err
		}
		rev, done, err := s.attempt(ctx, fn)
		if done || err != nil {
			return rev, err
		}
	}
}

// View implements store.Store: fn reads at one revision; it runs again at
// a newer one if that revision is compacted under it.
func (s *Store) View(ctx context.Context, fn func(store.Tx) error) (int64, error) {
	if fn == nil {
		return 0, fmt.Errorf("nil view function: %w", store.ErrInvalidArgument)
	}
	for {
		if err := s.begin(ctx); err != nil {
			return 0, err
		}
		r, _, err := s.runAt(ctx, fn, core.NewView)
		if r == nil {
			return 0, err
		}
		if r.compacted {
			continue
		}
		if err != nil {
			return 0, err
		}
		return r.rev, nil
	}
}

// runAt runs fn once on a transaction made by start over a reader at the
// current revision, and returns the reader and the ended transaction with
// fn's error; a nil reader means the revision could not be read.
func (s *Store) runAt(ctx context.Context, fn func(store.Tx) error, start func(core.Base, int64) *core.Overlay) (*reader, *core.Overlay, error) {
	readRev, err := s.Revision(ctx)
	if err != nil {
		return nil, nil, err
	}
	r := &reader{s: s, ctx: ctx, rev: readRev, cache: map[string]cached{}}
	tx := start(r, readRev)
	defer tx.End()
	return r, tx, fn(tx)
}

// attempt runs fn once and tries to commit; done is false on a conflict.
func (s *Store) attempt(ctx context.Context, fn func(store.Tx) error) (rev int64, done bool, err error) {
	r, tx, err := s.runAt(ctx, fn, core.NewOverlay)
	if r == nil {
		return 0, true, err
	}
	readRev := r.rev
	if r.compacted {
		return 0, false, nil // the snapshot was compacted under fn: run again
	}
	if err != nil {
		return 0, true, err
	}
	if err := r.prefetch(tx.WrittenKeys()); err != nil {
		if r.compacted {
			return 0, false, nil
		}
		return 0, true, fmt.Errorf("txn: %w", err)
	}
	events, err := tx.Changes()
	if err != nil {
		if r.compacted {
			return 0, false, nil
		}
		return 0, true, fmt.Errorf("txn: %w", err)
	}
	if len(events) == 0 {
		return readRev, true, nil
	}
	var ops []clientv3.Op
	for _, e := range events {
		if e.Type == store.EventDelete {
			ops = append(ops, clientv3.OpDelete(s.data+e.KV.Key), clientv3.OpPut(s.tomb+e.KV.Key, ""))
		} else {
			ops = append(ops, clientv3.OpPut(s.data+e.KV.Key, string(e.KV.Value)))
		}
	}
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(s.guard), "<", readRev+1)}
	for _, rg := range mergeRanges(r.ranges, maxCompareRanges) {
		for _, ns := range []string{s.data, s.tomb} {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(ns+rg.from).WithRange(s.rangeEnd(ns, rg.end)), "<", readRev+1))
		}
	}
	resp, err := call(ctx, s, func(c context.Context) (*clientv3.TxnResponse, error) {
		return s.cli.Txn(c).If(cmps...).Then(ops...).Commit()
	})
	if err != nil {
		return 0, true, fmt.Errorf("txn commit: %w", err)
	}
	if !resp.Succeeded {
		return 0, false, nil
	}
	rev = resp.Header.Revision
	if err := s.autoCompact(ctx, rev); err != nil {
		return rev, true, nil // committed; compaction is retried at the next commit
	}
	return rev, true, nil
}

// keyRange is the user-space key range [from, end); end "" is unbounded.
type keyRange struct{ from, end string }

// reader is a transaction's view of etcd at one revision: it implements
// core.Base, records the ranges read and keeps what it read, so that a key
// is fetched once per attempt.
type reader struct {
	s         *Store
	ctx       context.Context
	rev       int64
	ranges    []keyRange
	cache     map[string]cached
	compacted bool // a read found rev compacted
}

// cached is one key as read at the reader's revision.
type cached struct {
	kv store.KeyValue
	ok bool
}

// prefetch reads, in one etcd request, the keys the transaction wrote and
// has not read: Changes needs their committed state.
func (r *reader) prefetch(keys []string) error {
	var ops []clientv3.Op
	var missing []string
	for _, k := range keys {
		if _, hit := r.cache[k]; !hit {
			missing = append(missing, k)
			ops = append(ops, clientv3.OpGet(r.s.data+k, clientv3.WithRev(r.rev), clientv3.WithSerializable()))
			r.ranges = append(r.ranges, keyRange{k, k + "\x00"})
		}
	}
	if len(missing) < 2 {
		return nil // Get reads a lone key
	}
	resp, err := snapshotRead(r, func(c context.Context, local bool) (*clientv3.TxnResponse, error) {
		if !local {
			for i, k := range missing {
				ops[i] = clientv3.OpGet(r.s.data+k, clientv3.WithRev(r.rev))
			}
		}
		return r.s.cli.Txn(c).Then(ops...).Commit()
	})
	if err != nil {
		return r.fail(err)
	}
	for i, k := range missing {
		var c cached
		if kvs := resp.Responses[i].GetResponseRange().GetKvs(); len(kvs) > 0 {
			c = cached{r.s.kv(kvs[0].Key, kvs[0].Value, kvs[0].CreateRevision, kvs[0].ModRevision), true}
		}
		r.cache[k] = c
	}
	return nil
}

// at returns the options of a read at the reader's revision: served by the
// member the client talks to when local (serializable), else through the
// leader.
func (r *reader) at(local bool) []clientv3.OpOption {
	if local {
		return []clientv3.OpOption{clientv3.WithRev(r.rev), clientv3.WithSerializable()}
	}
	return []clientv3.OpOption{clientv3.WithRev(r.rev)}
}

// snapshotRead runs a read at the reader's revision. The revision's
// history does not change, so any member that has applied it answers as
// the leader would, without the leader's round trip to a quorum: the read
// is first tried serializable, on the member the client talks to, and
// again through the leader if that member has not applied the revision
// yet.
func snapshotRead[T any](r *reader, f func(c context.Context, local bool) (T, error)) (T, error) {
	v, err := call(r.ctx, r.s, func(c context.Context) (T, error) { return f(c, true) })
	if errors.Is(err, store.ErrFutureRevision) {
		return call(r.ctx, r.s, func(c context.Context) (T, error) { return f(c, false) })
	}
	return v, err
}

// fail maps a read error, noting a compacted snapshot.
func (r *reader) fail(err error) error {
	if errors.Is(err, store.ErrCompacted) {
		r.compacted = true
	}
	return err
}

// Get implements core.Base.
func (r *reader) Get(key string) (store.KeyValue, bool, error) {
	if c, hit := r.cache[key]; hit {
		c.kv.Value = core.CloneValue(c.kv.Value)
		return c.kv, c.ok, nil
	}
	r.ranges = append(r.ranges, keyRange{key, key + "\x00"})
	resp, err := snapshotRead(r, func(c context.Context, local bool) (*clientv3.GetResponse, error) {
		return r.s.cli.Get(c, r.s.data+key, r.at(local)...)
	})
	if err != nil {
		return store.KeyValue{}, false, r.fail(err)
	}
	if len(resp.Kvs) == 0 {
		r.cache[key] = cached{}
		return store.KeyValue{}, false, nil
	}
	kv := resp.Kvs[0]
	c := cached{r.s.kv(kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision), true}
	r.cache[key] = c
	c.kv.Value = core.CloneValue(c.kv.Value)
	return c.kv, true, nil
}

// scanBatch is the number of keys a Scan reads per request.
const scanBatch = 256

// Scan implements core.Base.
func (r *reader) Scan(prefix, after string, fn func(store.KeyValue) bool) error {
	from, end := listRange(prefix, after)
	if end != "" && from >= end {
		return nil
	}
	start := from
	for {
		resp, err := snapshotRead(r, func(c context.Context, local bool) (*clientv3.GetResponse, error) {
			return r.s.cli.Get(c, r.s.data+start, append(r.at(local),
				clientv3.WithRange(r.s.rangeEnd(r.s.data, end)), clientv3.WithLimit(scanBatch))...)
		})
		if err != nil {
			r.ranges = append(r.ranges, keyRange{from, end})
			return r.fail(err)
		}
		for _, kv := range resp.Kvs {
			skv := r.s.kv(kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision)
			r.cache[skv.Key] = cached{skv, true}
			skv.Value = core.CloneValue(skv.Value)
			if !fn(skv) {
				k := string(kv.Key[len(r.s.data):])
				r.ranges = append(r.ranges, keyRange{from, k + "\x00"})
				return nil
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			r.ranges = append(r.ranges, keyRange{from, end})
			return nil
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key[len(r.s.data):]) + "\x00"
	}
}

// mergeRanges sorts and joins the ranges, overlapping or not, into at
// most max ranges covering them all.
func mergeRanges(rs []keyRange, max int) []keyRange {
	if len(rs) == 0 {
		return nil
	}
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b keyRange) int {
		if a.from < b.from {
			return -1
		}
		if a.from > b.from {
			return 1
		}
		return 0
	})
	after := func(a, b string) bool { // end a is after end b
		return a == "" || (b != "" && a > b)
	}
	var out []keyRange
	for _, rg := range rs {
		if n := len(out); n > 0 && (out[n-1].end == "" || rg.from <= out[n-1].end) {
			if after(rg.end, out[n-1].end) {
				out[n-1].end = rg.end
			}
			continue
		}
		out = append(out, rg)
	}
	for len(out) > max { // join neighbours pairwise, covering the gaps
		var joined []keyRange
		for i := 0; i < len(out); i += 2 {
			if i+1 < len(out) {
				joined = append(joined, keyRange{out[i].from, out[i+1].end})
			} else {
				joined = append(joined, out[i])
			}
		}
		out = joined
	}
	return out
}
