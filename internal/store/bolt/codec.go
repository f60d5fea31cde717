package bolt

import (
	"encoding/binary"
	"fmt"
	"strings"

	"palisade.dev/palisade/internal/store"
)

// A log entry is one revision's events:
//
//	entry  = version:1 count:uvarint event*
//	event  = type:1 key:bytes [create:uvarint value:bytes] (put only) hasPrev:1 [prev]
//	prev   = create:uvarint mod:uvarint value:bytes
//	bytes  = len:uvarint data
//
// The revision itself is the entry's key, and every event's ModRevision.
const entryVersion = 1

// encodeEntry encodes the events of one revision.
func encodeEntry(events []store.Event) []byte {
	size := 1 + binary.MaxVarintLen64
	for _, e := range events {
		size += 2 + 4*binary.MaxVarintLen64 + len(e.KV.Key) + len(e.KV.Value)
		if e.PrevKV != nil {
			size += 3*binary.MaxVarintLen64 + len(e.PrevKV.Value)
		}
	}
	b := make([]byte, 0, size) // an upper bound: values are kilobytes, doubling copies them
	b = append(b, entryVersion)
	b = binary.AppendUvarint(b, uint64(len(events)))
	for _, e := range events {
		b = appendEvent(b, e)
	}
	return b
}

func appendEvent(b []byte, e store.Event) []byte {
	b = append(b, byte(e.Type))
	b = appendBytes(b, []byte(e.KV.Key))
	if e.Type == store.EventPut {
		b = binary.AppendUvarint(b, uint64(e.KV.CreateRevision))
		b = appendBytes(b, e.KV.Value)
	}
	if e.PrevKV == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	b = binary.AppendUvarint(b, uint64(e.PrevKV.CreateRevision))
	b = binary.AppendUvarint(b, uint64(e.PrevKV.ModRevision))
	return appendBytes(b, e.PrevKV.Value)
}

func appendBytes(b, data []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(data))), data...)
}

// decodeEntry decodes the events of revision rev whose key starts with
// prefix, copying out of data. The others are checked but not copied: a
// watcher of one prefix pays nothing for the values of another (every
// commit wakes every watcher).
func decodeEntry(rev int64, data []byte, prefix string) ([]store.Event, error) {
	d := decoder{data: data}
	if v := d.byte(); v != entryVersion && d.err == nil {
		return nil, fmt.Errorf("log entry %d version %d: %w", rev, v, errCorrupt)
	}
	n := d.uvarint()
	if n > uint64(len(data)) { // each event takes at least one byte
		return nil, fmt.Errorf("log entry %d of %d events: %w", rev, n, errCorrupt)
	}
	var events []store.Event
	for i := uint64(0); i < n && d.err == nil; i++ {
		if e, ok := d.event(rev, prefix); ok {
			events = append(events, e)
		}
	}
	if d.err != nil {
		return nil, fmt.Errorf("log entry %d: %w", rev, d.err)
	}
	return events, nil
}

// decoder reads an entry; the first error sticks and zero values follow.
type decoder struct {
	data []byte
	err  error
}

// event decodes the next event, or only steps over it (ok false) if its
// key does not start with prefix.
func (d *decoder) event(rev int64, prefix string) (e store.Event, ok bool) {
	e.Type = store.EventType(d.byte())
	key := d.view()
	if ok = d.err == nil && strings.HasPrefix(string(key), prefix); !ok {
		d.skipEvent(e.Type)
		return store.Event{}, false
	}
	e.KV = store.KeyValue{Key: string(key), ModRevision: rev}
	switch e.Type {
	case store.EventPut:
		e.KV.CreateRevision = int64(d.uvarint())
		e.KV.Value = d.bytes()
	case store.EventDelete:
	default:
		d.fail()
	}
	if d.byte() == 1 {
		prev := store.KeyValue{Key: e.KV.Key, CreateRevision: int64(d.uvarint()), ModRevision: int64(d.uvarint())}
		prev.Value = d.bytes()
		e.PrevKV = &prev
	}
	return e, true
}

// skipEvent steps over the rest of an event of type t, checking its shape.
func (d *decoder) skipEvent(t store.EventType) {
	switch t {
	case store.EventPut:
		d.uvarint()
		d.view()
	case store.EventDelete:
	default:
		d.fail()
	}
	if d.byte() == 1 {
		d.uvarint()
		d.uvarint()
		d.view()
	}
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.data) == 0 {
		d.fail()
		return 0
	}
	c := d.data[0]
	d.data = d.data[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	n, size := binary.Uvarint(d.data)
	if size <= 0 {
		d.fail()
		return 0
	}
	d.data = d.data[size:]
	return n
}

// bytes returns a copy, never nil.
func (d *decoder) bytes() []byte {
	v := d.view()
	return append(make([]byte, 0, len(v)), v...)
}

// view returns the next length-prefixed bytes, in data (not a copy).
func (d *decoder) view() []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.data)) {
		d.fail()
		return nil
	}
	b := d.data[:n:n]
	d.data = d.data[n:]
	return b
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
}
