package bolt

import (
	"fmt"
	"reflect"
	"testing"

	"palisade.dev/palisade/internal/store"
)

// sampleEvents covers every shape of event.
func sampleEvents() []store.Event {
	prev := store.KeyValue{Key: "a/1", Value: []byte(`{"x":1}`), CreateRevision: 3, ModRevision: 5}
	return []store.Event{
		{Type: store.EventPut, KV: store.KeyValue{Key: "a/0", Value: []byte{}, CreateRevision: 7, ModRevision: 7}},
		{Type: store.EventPut, KV: store.KeyValue{Key: "a/1", Value: []byte(`{"x":2}`), CreateRevision: 3, ModRevision: 7}, PrevKV: &prev},
		{Type: store.EventDelete, KV: store.KeyValue{Key: "a/2", ModRevision: 7}, PrevKV: &store.KeyValue{Key: "a/2", Value: []byte("v"), CreateRevision: 1, ModRevision: 1}},
	}
}

func TestEntryRoundTrip(t *testing.T) {
	want := sampleEvents()
	got, err := decodeEntry(7, encodeEntry(want), "")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %s\nwant %s", fmt.Sprint(got), fmt.Sprint(want))
	}
}

// A prefix keeps the events under it; the others are stepped over, still
// checked: a damaged entry fails whatever the prefix.
func TestEntryPrefix(t *testing.T) {
	all := sampleEvents()
	data := encodeEntry(all)
	for prefix, want := range map[string][]store.Event{"a/1": all[1:2], "a/": all, "b/": nil} {
		got, err := decodeEntry(7, data, prefix)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("prefix %q: got %v (%v), want %v", prefix, got, err, want)
		}
	}
	for cut := 1; cut < len(data); cut++ {
		if _, err := decodeEntry(7, data[:cut], "b/"); err == nil {
			t.Fatalf("entry cut at %d of %d decoded without error", cut, len(data))
		}
	}
}

// FuzzDecodeEntry feeds damaged log entries to the decoder: errors, never
// panics, and whatever decodes re-encodes to the same bytes.
func FuzzDecodeEntry(f *testing.F) {
	good := encodeEntry(sampleEvents())
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{entryVersion, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		events, err := decodeEntry(7, data, "")
		if err != nil {
			return
		}
		if again, err := decodeEntry(7, encodeEntry(events), ""); err != nil || !reflect.DeepEqual(again, events) {
			t.Fatalf("re-encoding changed %v into %v (%v)", events, again, err)
		}
	})
}

func TestDecodeRecordRejectsShort(t *testing.T) {
	if _, err := decodeRecord([]byte("k"), []byte{1, 2, 3}); err == nil {
		t.Fatal("short record accepted")
	}
}
