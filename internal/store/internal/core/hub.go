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
// not receive events from the committer: each reads the log itself, so a
// commit costs one channel close whatever the number of watchers.
type Hub struct {
	mu     sync.Mutex
	wake   chan struct{} // closed and replaced at each commit
	closed chan struct{} // closed by Close
	once   sync.Once
}

// NewHub returns a hub with no watchers.
func NewHub() *Hub {
	return &Hub{wake: make(chan struct{}), closed: make(chan struct{})}
}

// Notify wakes every watcher: the log has new revisions.
func (h *Hub) Notify() {
	h.mu.Lock()
	defer h.mu.Unlock()
	close(h.wake)
	h.wake = make(chan struct{})
}

// waitChan returns the channel the next Notify closes.
func (h *Hub) waitChan() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.wake
}

// Close ends every watcher with a final store.ErrClosed response.
func (h *Hub) Close() { h.once.Do(func() { close(h.closed) }) }

// Watch starts a watcher reading log after revision from. The caller has
// checked the arguments.
func (h *Hub) Watch(ctx context.Context, log Log, prefix string, from int64) <-chan store.WatchResponse {
	w := &watcher{hub: h, log: log, prefix: prefix, after: from, out: make(chan store.WatchResponse, WatchBuffer)}
	go w.run(ctx)
	return w.out
}

// watcher is one Watch: it follows the log from after onwards.
type watcher struct {
	hub    *Hub
	log    Log
	prefix string
	after  int64 // last revision looked at
	out    chan store.WatchResponse
}

// run delivers the log until ctx is done or an error ends the watch. The
// wake channel is taken before reading, so a commit landing between the
// read and the wait still wakes the watcher: no gap.
func (w *watcher) run(ctx context.Context) {
	defer close(w.out)
	for {
		wake := w.hub.waitChan()
		more, err := w.catchUp(ctx)
		if err != nil {
			w.finish(ctx, err)
			return
		}
		if more {
			continue
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return
		case <-w.hub.closed:
			w.finish(ctx, store.ErrClosed)
			return
		}
	}
}

// catchUp delivers one batch of the log; more is true if the batch was not
// empty (there may be more). It stops with ctx's error once ctx is done.
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
	more, w.after = last > w.after, last
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
