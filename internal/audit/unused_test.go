package audit

import (
	"slices"
	"testing"
	"time"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policy"
)

// TestUnusedRules: PAL.4 reports the rules the hit counters never saw,
// and with UnusedFor those not seen lately; without counters it is silent.
func TestUnusedRules(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	used := in("tcp", "203.0.113.0/24", 22, 22)
	stale := in("tcp", "203.0.113.0/24", 2222, 2222)
	never := in("tcp", "203.0.113.0/24", 8080, 8080)
	g := group(gid(7), "app", used, stale, never)
	s := policy.Snapshot{Groups: []model.SecurityGroup{g}, ENIs: []model.ENI{iface(eniID(1), gs(gid(7)), addr("10.0.0.5"))}}
	hits := model.GroupHits{
		used.ID:  {Packets: 10, Bytes: 900, LastHit: now.Add(-time.Hour)},
		stale.ID: {Packets: 3, Bytes: 200, LastHit: now.Add(-40 * 24 * time.Hour)},
	}
	pal4 := func(in Input) []string {
		var out []string
		for _, f := range Run(in) {
			if f.Control == "PAL.4" {
				out = append(out, want(f.Control, f.Severity, f.Group, f.Rule))
			}
		}
		return out
	}
	if got := pal4(Input{Snapshot: s}); len(got) != 0 {
		t.Errorf("without hit counters: %v", got)
	}
	if got, w := pal4(Input{Snapshot: s, Hits: hits, Now: now}), []string{want("PAL.4", Low, gid(7), never.ID)}; !slices.Equal(got, w) {
		t.Errorf("never matched: %v, want %v", got, w)
	}
	in := Input{Snapshot: s, Hits: hits, Now: now, Config: Config{UnusedFor: 30 * 24 * time.Hour}}
	got, w := pal4(in), []string{want("PAL.4", Low, gid(7), stale.ID), want("PAL.4", Low, gid(7), never.ID)}
	slices.Sort(got)
	slices.Sort(w)
	if !slices.Equal(got, w) {
		t.Errorf("unused for 30 days: %v, want %v", got, w)
	}
}
