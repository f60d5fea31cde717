package core

import (
	"context"
	"strings"
	"sync"

	"palisade.dev/palisade/internal/store"
)

// Watch tuning. A watcher holds at most WatchBuffer undelivered responses;
// beyond that it stops reading the log until its reader catches up, so a
// slow reader costs memory bounded by the buffer and never blocks writers.
const (
	WatchBuffer  = 128 // responses buffered per watcher
	readLogBatch = 64  // revisions read from the log at a time
)

// Log is a backend's persisted change log, as watchers read it.
type Log interface {
	// ReadLog returns the responses of up to max revisions after after,
	// keeping only the events under prefix and dropping revisions left
	// without events, and the last revision it looked at (after itself
	// if there is none yet). It fails with a *store.CompactedError if the
	// log no longer holds revision after+1, with store.ErrClosed after
	// close.
	ReadLog(prefix string, after int64, max int) (resps []store.WatchResponse, last int64, err error)
}

// Hub wakes a backend's watchers when a transaction commits. Watchers do
// not receive events from the committer: each reads the log itself. A
// commit wakes only the watchers with an event under their prefix; the
// others, if they have read all before, move past it without reading.
type Hub struct {
	mu       sync.Mutex
	rev      int64 // the last revision notified
	watchers map[*watcher]struct{}
	closed   chan struct{} // closed by Close
	once     sync.Once
}

// NewHub returns a hub with no watchers for a log whose last revision is
// rev.
func NewHub(rev int64) *Hub {
	return &Hub{rev: rev, watchers: map[*watcher]struct{}{}, closed: make(chan struct{})}
}

// Notify tells the watchers that the log holds every revision up to rev,
// and the events of the revisions since the last Notify. The backend calls
// it after each commit that writes, one call at a time, in revision order.
func (h *Hub) Notify(rev int64, events ...[]store.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rev = rev
	for w := range h.watchers {
		switch {
		case touches(events, w.prefix):
			w.pending = true
			select {
			case w.signal <- struct{}{}:
			default:
			}
		case !w.pending:
			// Nothing under its prefix since it last looked: it moves on
			// without reading (when it parks, or reads again for a later
			// commit), so that compaction never leaves it behind. This
			// holds while it reads too: commits that land then are past
			// its read.
			w.idle = rev
		}
	}
}

// touches reports whether an event's key starts with prefix.
func touches(events [][]store.Event, prefix string) bool {
	for _, evs := range events {
		for _, e := range evs {
			if strings.HasPrefix(e.KV.Key, prefix) {
				return true
			}
		}
	}
	return false
}

// Close ends every watcher with a final store.ErrClosed response.
func (h *Hub) Close() { h.once.Do(func() { close(h.closed) }) }

// Watch starts a watcher reading log after revision from. The caller has
// checked the arguments.
func (h *Hub) Watch(ctx context.Context, log Log, prefix string, from int64) <-chan store.WatchResponse {
	w := &watcher{hub: h, log: log, prefix: prefix, after: from, out: make(chan store.WatchResponse, WatchBuffer),
		signal: make(chan struct{}, 1)}
	h.mu.Lock()
	h.watchers[w] = struct{}{}
	// A watch from the last revision notified or later has nothing to
	// read yet: it starts waiting, and moves on with the log from now.
	w.waiting, w.idle = from >= h.rev, from
	parked := w.waiting
	h.mu.Unlock()
	go w.run(ctx, parked)
	return w.out
}

// watcher is one Watch: it follows the log from after onwards.
type watcher struct {
	hub    *Hub
	log    Log
	prefix string
	after  int64 // last revision looked at; the watcher's own
	out    chan store.WatchResponse
	signal chan struct{} // a commit touched prefix

	// Under hub.mu:
	waiting bool  // read all up to idle, waiting for a signal
	idle    int64 // no event under prefix from the last look up to here
	pending bool  // a commit touched prefix since the watcher last looked
}

// run delivers the log until ctx is done or an error ends the watch. A
// watcher that starts parked waits before its first read.
func (w *watcher) run(ctx context.Context, parked bool) {
	defer close(w.out)
	defer w.leave()
	for {
		if !parked {
			more, err := w.catchUp(ctx)
			if err != nil {
				w.finish(ctx, err)
				return
			}
			if more || !w.park() {
				continue
			}
		}
		parked = false
		select {
		case <-w.signal:
		case <-ctx.Done():
			return
		case <-w.hub.closed:
			w.finish(ctx, store.ErrClosed)
			return
		}
		w.unpark()
	}
}

// park starts waiting, unless a commit touched the prefix since the
// watcher began reading: then it returns false and the watcher reads
// again, from past the commits notified between its last look and that
// one, which touched nothing under the prefix (the read that followed
// the last look covered the log up to it). Otherwise every commit
// notified so far that the read did not see touched nothing under the
// prefix, and the watcher is past them too.
func (w *watcher) park() bool {
	w.hub.mu.Lock()
	defer w.hub.mu.Unlock()
	if w.pending {
		w.pending = false
		w.after = max(w.after, w.idle)
		w.idle = w.hub.rev // it looks again now
		return false
	}
	w.waiting, w.idle = true, max(w.after, w.hub.rev)
	return true
}

// unpark ends waiting and moves past the revisions the hub found nothing
// in. The reads that follow see every commit notified so far.
func (w *watcher) unpark() {
	w.hub.mu.Lock()
	defer w.hub.mu.Unlock()
	w.waiting, w.pending = false, false
	w.after = max(w.after, w.idle)
	w.idle = w.hub.rev // it looks again now
	select {
	case <-w.signal:
	default:
	}
}

// leave removes the watcher from the hub.
func (w *watcher) leave() {
	w.hub.mu.Lock()
	defer w.hub.mu.Unlock()
	delete(w.hub.watchers, w)
}

// catchUp delivers one batch of the log; more is true if the batch was
// full (there may be more). It stops with ctx's error once ctx is done.
func (w *watcher) catchUp(ctx context.Context) (more bool, err error) {
	resps, last, err := w.log.ReadLog(w.prefix, w.after, readLogBatch)
	if err != nil {
		return false, err
	}
	for _, r := range resps {
		select {
		case w.out <- r:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	// Revisions only grow: a batch that looked at fewer than
	// readLogBatch of them reached the end of the log.
	more, w.after = last-w.after >= readLogBatch, last
	return more, nil
}

// finish sends the final response, unless the watch was cancelled.
func (w *watcher) finish(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	select {
	case w.out <- store.WatchResponse{Revision: w.after, Err: err}:
	case <-ctx.Done():
	}
}

// FilterEvents keeps the events whose key starts with prefix.
func FilterEvents(events []store.Event, prefix string) []store.Event {
	if prefix == "" {
		return events
	}
	kept := events[:0:0]
	for _, e := range events {
		if strings.HasPrefix(e.KV.Key, prefix) {
			kept = append(kept, e)
		}
	}
	return kept
}
