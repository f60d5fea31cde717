package core

import (
	"fmt"
	"maps"
	"slices"

	"palisade.dev/palisade/internal/store"
)

// Changes returns the events the transaction commits, sorted by key, all at
// revision readRev+1, computed against the Base. A delete of a key that does
// not exist is no change; no changes means nothing to commit.
func (o *Overlay) Changes() ([]store.Event, error) {
	var events []store.Event
	for _, key := range slices.Sorted(maps.Keys(o.writes)) {
		prev, existed, err := o.base.Get(key)
		if err != nil {
			return nil, fmt.Errorf("get %q: %w", key, err)
		}
		if ev, ok := o.event(key, prev, existed); ok {
			events = append(events, ev)
		}
	}
	return events, nil
}

// event is the change of one written key, if any.
func (o *Overlay) event(key string, prev store.KeyValue, existed bool) (store.Event, bool) {
	p := o.writes[key]
	rev := o.readRev + 1
	var prevKV *store.KeyValue
	if existed {
		prevKV = &prev
	}
	if p.deleted {
		ev := store.Event{Type: store.EventDelete, KV: store.KeyValue{Key: key, ModRevision: rev}, PrevKV: prevKV}
		return ev, existed
	}
	return store.Event{Type: store.EventPut, KV: o.pendingKV(key, p, prev, existed), PrevKV: prevKV}, true
}
