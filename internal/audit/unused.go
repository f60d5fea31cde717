package audit

import (
	"fmt"
	"time"
)

// PAL.4: a rule that never matched since the hit counters began, or not
// in the last Config.UnusedFor. It reads Input.Hits (the data plane's
// per-rule counters); without them (nil) it says nothing, since every rule
// would look unused.
func unusedRules(a *auditor) []Finding {
	if a.in.Hits == nil {
		return nil
	}
	var out []Finding
	for _, g := range a.in.Snapshot.Groups {
		for _, r := range g.Rules {
			h := a.in.Hits[r.ID]
			what := fmt.Sprintf("%s rule %s", r.Direction, r.TrafficText())
			switch {
			case h.LastHit.IsZero():
				out = append(out, Finding{Control: "PAL.4", Severity: Low, Group: g.ID, Rule: r.ID,
					Message: what + " never matched a flow since the hit counters began: is it still needed?"})
			case a.in.Config.UnusedFor > 0 && a.in.Now.Sub(h.LastHit) > a.in.Config.UnusedFor:
				out = append(out, Finding{Control: "PAL.4", Severity: Low, Group: g.ID, Rule: r.ID,
					Message: fmt.Sprintf("%s matched no flow in the last %s (last hit %s)", what, a.in.Config.UnusedFor,
						h.LastHit.UTC().Format(time.RFC3339))})
			}
		}
	}
	return out
}
