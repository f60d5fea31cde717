package service

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policy"
)

// PreviewWindow is how far back PreviewBlocked looks for flows.
const PreviewWindow = time.Hour

// maxPreviewFlows bounds the flows PreviewBlocked returns.
const maxPreviewFlows = 50

// PreviewBlocked says which flows the local agent saw accepted in the last
// PreviewWindow would no longer be admitted if the group's rules of one
// direction were rules (an edit not made yet): each is decided again, both
// sides, by the policy compiled from the account's groups with that one
// change, as the data plane would decide a new first packet of it. Tracked
// connections that are open live on after a revoke, as on AWS; the next
// connection of each flow returned would time out. observed is false when
// this server observes no flows (the preview can then say nothing of them).
func (s *Service) PreviewBlocked(ctx context.Context, c Caller, group model.GroupID, d model.Direction, rules []model.Rule) (
	blocked []model.FlowRecord, observed bool, err error) {
	if s.flows == nil {
		return nil, false, nil
	}
	var snap policy.Snapshot
	err = s.read(ctx, c, "PreviewBlocked", func(t *tx) error {
		var err error
		snap, err = t.snapshot()
		return err
	})
	if err != nil {
		return nil, true, err
	}
	i := slices.IndexFunc(snap.Groups, func(g model.SecurityGroup) bool { return g.ID == group })
	if i < 0 {
		return nil, true, model.KindGroup.NotFound(string(group))
	}
	g := snap.Groups[i]
	edited := slices.DeleteFunc(slices.Clone(g.Rules), func(r model.Rule) bool { return r.Direction == d })
	g.Rules = append(edited, rules...)
	snap.Groups[i] = g
	compiled := policy.Compile(snap)
	byAddr := map[netip.Addr]model.ENIID{}
	for _, e := range snap.ENIs {
		if e.VPC != g.VPC {
			continue
		}
		for _, a := range append(slices.Clone(e.PrivateIPs), e.IPv6s...) {
			byAddr[a] = e.ID
		}
	}
	cutoff := s.now().Add(-PreviewWindow)
	seen := map[string]bool{}
	for _, r := range s.flows.Recent(c.Account, 0) {
		if r.Region != c.Region || r.VPC != g.VPC || r.Action != "ACCEPT" || r.End.Before(cutoff) {
			continue
		}
		key := r.Src.String() + ">" + netip.AddrPortFrom(r.Dst, r.DstPort).String() + "/" + r.Proto.String()
		if seen[key] {
			continue
		}
		seen[key] = true
		from := policy.Endpoint{ENI: byAddr[r.Src], Addr: r.Src}
		to := policy.Endpoint{ENI: byAddr[r.Dst], Addr: r.Dst}
		if e := compiled.Explain(from, to, r.Proto, r.DstPort); !e.Allowed {
			blocked = append(blocked, r)
			if len(blocked) == maxPreviewFlows {
				break
			}
		}
	}
	return blocked, true, nil
}
