package bolt

import (
	"context"
	"errors"
	"fmt"
	"time"

	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/internal/core"
)

// maxBatch caps the transactions committed together: it bounds the wait of
// the first one and the work lost if the commit fails.
const maxBatch = 64

// errAborted answers a function that panicked or exited its goroutine; its
// caller never sees it, being busy unwinding.
var errAborted = errors.New("transaction function did not return")

// request is one Txn waiting for the committer. The committer owns the
// bbolt transaction but lends it, through turn, to the caller's goroutine,
// which runs fn there: a panic or a t.Fatal in fn unwinds the caller, with
// its own stack, and the committer carries on.
type request struct {
	ctx  context.Context
	fn   func(store.Tx) error
	turn chan *core.Overlay // committer → caller: run fn now
	ran  chan ranResult     // caller → committer: fn is done
	done chan result        // committer → caller: the outcome; buffered
	// lease: the keys fn puts join this lease (0: none). revoke: no fn,
	// the committer deletes the keys of this lease.
	lease, revoke int64
	// inline: the caller commits the request itself (commitInline) and
	// runs fn directly; turn, ran and done are unused.
	inline bool
}

// ranResult is how fn ended.
type ranResult struct {
	err      error
	returned bool // false: fn panicked or called runtime.Goexit
}

// result is the outcome of one request.
type result struct {
	rev int64
	err error
}

// Txn implements store.Store. fn runs exactly once, in the caller's
// goroutine, but must still have no side effects (other backends retry).
// fn must not call the Store. Once fn has started, Txn waits for the
// outcome even if ctx is cancelled: a cancelled Txn never leaves the caller
// unsure whether it committed.
func (s *Store) Txn(ctx context.Context, fn func(store.Tx) error) (int64, error) {
	if fn == nil {
		return 0, fmt.Errorf("nil transaction function: %w", store.ErrInvalidArgument)
	}
	return s.submit(&request{ctx: ctx, fn: fn})
}

// submit commits req. When no commit is running and none is waiting, the
// caller commits req itself, in its own goroutine: a lone writer pays no
// hand-off between goroutines. Otherwise req joins the committer's next
// batch.
func (s *Store) submit(req *request) (int64, error) {
	ctx := req.ctx
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if s.queued.Load() == 0 && s.writer.TryLock() {
		return s.commitInline(req)
	}
	s.queued.Add(1)
	defer s.queued.Add(-1)
	req.turn, req.ran, req.done = make(chan *core.Overlay), make(chan ranResult), make(chan result, 1)
	select {
	case s.reqs <- req:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-s.closing:
		return 0, store.ErrClosed
	}
	select {
	case tx := <-req.turn:
		req.run(tx)
	case res := <-req.done: // skipped: ctx cancelled or the batch failed
		return res.rev, res.err
	}
	res := <-req.done
	return res.rev, res.err
}

// commitInline commits req as a batch of its own, in the caller's
// goroutine, which holds s.writer: fn runs here, and a panic in it rolls
// the bbolt transaction back and goes on up the caller's stack.
func (s *Store) commitInline(req *request) (int64, error) {
	defer s.writer.Unlock()
	select {
	case <-s.closing:
		return 0, store.ErrClosed
	default:
	}
	req.inline = true
	res := s.commit([]*request{req})[0]
	return res.rev, res.err
}

// run runs fn on tx and reports how it ended, even if it panics.
func (req *request) run(tx *core.Overlay) {
	var r ranResult
	defer func() {
		tx.End()
		req.ran <- r
	}()
	r.err = req.fn(tx)
	r.returned = true
}

// lend has the caller run fn on tx and waits for it; an inline request's
// caller is this goroutine, which runs fn at once.
func (req *request) lend(tx *core.Overlay) ranResult {
	if req.inline {
		defer tx.End()
		return ranResult{err: req.fn(tx), returned: true}
	}
	req.turn <- tx
	r := <-req.ran
	if !r.returned {
		r.err = errAborted
	}
	return r
}

// commitLoop is the committer: it takes the waiting requests as one batch
// and commits them together, until Close. It holds s.writer while it
// commits, so an inline commit never runs beside it.
func (s *Store) commitLoop() {
	defer close(s.loopDone)
	for {
		select {
		case req := <-s.reqs:
			s.writer.Lock()
			batch := s.gather(req)
			results := s.commit(batch)
			s.writer.Unlock()
			for i, req := range batch {
				req.done <- results[i]
			}
		case <-s.closing:
			return
		}
	}
}

// gather adds to first the requests already waiting, up to maxBatch. It
// never waits: a lone writer pays no batching delay.
func (s *Store) gather(first *request) []*request {
	batch := []*request{first}
	for len(batch) < maxBatch {
		select {
		case req := <-s.reqs:
			batch = append(batch, req)
		default:
			return batch
		}
	}
	return batch
}

// Grant implements store.Store. The leases live until revoked or the store
// closes; the next Open deletes the keys of those that were not revoked.
func (s *Store) Grant(ctx context.Context, ttl time.Duration) (store.Lease, error) {
	select {
	case <-s.closing:
		return nil, store.ErrClosed
	default:
	}
	return s.leases.Grant(ctx, ttl, s)
}

// LeasePut implements core.LeaseOps.
func (s *Store) LeasePut(ctx context.Context, id int64, key string, value []byte) (int64, error) {
	return s.submit(&request{ctx: ctx, lease: id, fn: func(tx store.Tx) error { return tx.Put(key, value) }})
}

// LeaseDelete implements core.LeaseOps: one revision deletes the lease's
// keys, however many.
func (s *Store) LeaseDelete(ctx context.Context, id int64) error {
	_, err := s.submit(&request{ctx: ctx, revoke: id})
	return err
}
