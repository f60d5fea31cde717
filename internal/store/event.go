package store

// EventType says what a change did to its key.
type EventType uint8

// The kinds of change.
const (
	EventPut    EventType = iota + 1 // key created or overwritten
	EventDelete                      // key removed
)

// String returns "put" or "delete".
func (t EventType) String() string {
	switch t {
	case EventPut:
		return "put"
	case EventDelete:
		return "delete"
	}
	return "unknown"
}

// Event is one key's change within one revision. A transaction writing a
// key twice yields one event, with the final value.
type Event struct {
	Type EventType
	// KV is the key after the change. For a delete only Key and
	// ModRevision (the deleting revision) are set.
	KV KeyValue
	// PrevKV is the key before the change; nil if it did not exist.
	PrevKV *KeyValue
}

// Revision returns the revision of the change.
func (e Event) Revision() int64 { return e.KV.ModRevision }

// WatchResponse is one revision's events under a watch's prefix, sorted by
// key, or (Err set) the watch's final response.
type WatchResponse struct {
	Revision int64
	Events   []Event
	// Err ends the watch: a *CompactedError (resume impossible, relist and
	// watch from the relist's revision) or ErrClosed.
	Err error
}
