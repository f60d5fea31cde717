package model

import "testing"

// A host's prefix holds its record, its liveness key, its wiring reports
// and its hit counters; each parser takes its own keys and no other.
func TestHostKeys(t *testing.T) {
	s := Scope{Account: "123456789012", Region: "us-east-1"}
	wired, hits := WiredKey("alpha", s, "i-0123456789abcdef0"), HitsKey("alpha", s, "sg-0123456789abcdef0")
	if h, sc, id, ok := ParseWiredKey(wired); !ok || h != "alpha" || sc != s || id != "i-0123456789abcdef0" {
		t.Errorf("ParseWiredKey(%s) = %s %v %s %v", wired, h, sc, id, ok)
	}
	if h, sc, id, ok := ParseHitsKey(hits); !ok || h != "alpha" || sc != s || id != "sg-0123456789abcdef0" {
		t.Errorf("ParseHitsKey(%s) = %s %v %s %v", hits, h, sc, id, ok)
	}
	if h, alive, ok := ParseHostKey(HostAliveKey("alpha")); !ok || !alive || h != "alpha" {
		t.Errorf("ParseHostKey(alive) = %s %v %v", h, alive, ok)
	}
	if h, alive, ok := ParseHostKey(HostKey("alpha")); !ok || alive || h != "alpha" {
		t.Errorf("ParseHostKey(host) = %s %v %v", h, alive, ok)
	}
	for key, want := range map[string]bool{
		wired: true, WiredPrefix("alpha") + "garbage": true, hits: false,
		HostKey("alpha"): false, HostAliveKey("alpha"): false, "r/123456789012/us-east-1/sg/x": false,
	} {
		if got := IsWiredKey(key); got != want {
			t.Errorf("IsWiredKey(%s) = %v, want %v", key, got, want)
		}
	}
	for _, key := range []string{hits, HostKey("alpha"), WiredPrefix("alpha") + "garbage"} {
		if _, _, _, ok := ParseWiredKey(key); ok {
			t.Errorf("ParseWiredKey(%s) took a key that is no wiring report", key)
		}
	}
}
