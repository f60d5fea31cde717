package agent

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policy"
	"palisade.dev/palisade/internal/store/mem"
)

// TestHitCountersPublishAndTakeUp: counters are published under the
// host's hits key, only when they changed, and an agent that starts again
// adds to what its host published before.
func TestHitCountersPublishAndTakeUp(t *testing.T) {
	st := mem.New(mem.Options{})
	t.Cleanup(func() { st.Close() })
	scope := model.Scope{Account: "123456789012", Region: "us-east-1"}
	v := &obsView{scope: scope}
	g := model.GroupID("sg-0123456789abcdef0")
	rules := []policy.RuleRef{{Rule: "sgr-0000000000000000a", Group: g}, {Rule: "sgr-0000000000000000a", Group: g}}
	first := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
	read := func() model.GroupHits {
		t.Helper()
		kv, err := st.Get(context.Background(), model.HitsKey("h1", scope, g))
		if err != nil {
			t.Fatal(err)
		}
		var h model.GroupHits
		if err := json.Unmarshal(kv.Value, &h); err != nil {
			t.Fatal(err)
		}
		return h
	}

	h := newHitCounters(st, "h1", time.Second, slog.New(slog.DiscardHandler))
	h.firstPacket(v, rules, first)
	h.traffic(v, rules, counts{packets: 10, bytes: 1000})
	h.publish(first)
	if got := read()["sgr-0000000000000000a"]; got.Packets != 10 || got.Bytes != 1000 || !got.LastHit.Equal(first) {
		t.Fatalf("published %+v (a rule listed twice counts once)", got)
	}
	rev := func() int64 {
		kv, _ := st.Get(context.Background(), model.HitsKey("h1", scope, g))
		return kv.ModRevision
	}
	before := rev()
	h.publish(first.Add(2 * time.Second))
	if rev() != before {
		t.Error("unchanged counters were written again")
	}

	again := newHitCounters(st, "h1", time.Second, slog.New(slog.DiscardHandler))
	again.traffic(v, rules, counts{packets: 5, bytes: 500})
	again.publish(first.Add(time.Minute))
	if got := read()["sgr-0000000000000000a"]; got.Packets != 15 || got.Bytes != 1500 || !got.LastHit.Equal(first) {
		t.Errorf("after a restart: %+v, want the earlier counters plus the new", got)
	}
}
