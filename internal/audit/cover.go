package audit

import (
	"fmt"
	"net/netip"
	"slices"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policy"
)

// PAL.1 and PAL.2: rules that allow nothing the others do not.
//
//   - PAL.1 (low): a rule shadowed by another rule of the same group: the
//     other rule's protocol, ports (or ICMP types) and peer each contain
//     the rule's. A group reference is contained only in a reference to
//     the same group, a prefix list in a CIDR containing all its entries.
//   - PAL.2 (low): a rule redundant on every interface it applies to: on
//     each interface that carries its group, the other rules of the
//     interface's groups together allow everything it allows (rules whose
//     protocol and ports contain the rule's, with addresses that together
//     cover its peer, as resolved now: prefix lists to their entries,
//     groups to their members). The same rule in another group does not
//     count (every group gets the same default egress, and each group
//     stands for itself); of two different rules that cover each other (a
//     CIDR and a prefix list holding just it), only the later one is
//     reported, so that removing every rule reported keeps the policy.
//     A rule PAL.1 reports is not reported again.
func shadowedAndRedundant(a *auditor) []Finding {
	var out []Finding
	shadowed := map[model.RuleID]bool{}
	lists := map[model.PrefixListID][]netip.Prefix{}
	for _, pl := range a.in.Snapshot.PrefixLists {
		for _, e := range pl.Entries {
			lists[pl.ID] = append(lists[pl.ID], e.CIDR)
		}
	}
	for _, g := range a.in.Snapshot.Groups {
		for i, r := range g.Rules {
			for j, o := range g.Rules {
				if i != j && r.Direction == o.Direction && staticCovers(o, r, lists) {
					shadowed[r.ID] = true
					out = append(out, Finding{Control: "PAL.1", Severity: Low, Group: g.ID, Rule: r.ID,
						Message: fmt.Sprintf("%s is shadowed by %s (%s) of the same group: it allows nothing more; remove it", ruleText(r), o.ID, ruleText(o))})
					break
				}
			}
		}
	}
	return append(out, a.redundant(shadowed)...)
}

// staticCovers reports whether rule o allows everything rule r allows,
// whatever the members of groups are.
func staticCovers(o, r model.Rule, lists map[model.PrefixListID][]netip.Prefix) bool {
	if !protoCovers(o, r) || !spanCovers(o, r) {
		return false
	}
	switch {
	case r.Peer.Kind == model.PeerGroup || o.Peer.Kind == model.PeerGroup:
		return r.Peer == o.Peer
	case r.Peer.Kind == model.PeerPrefixList && o.Peer.Kind == model.PeerPrefixList:
		return r.Peer == o.Peer
	case o.Peer.Kind == model.PeerPrefixList:
		return false // a list can change: it does not shadow a CIDR
	case r.Peer.Kind == model.PeerPrefixList:
		entries := lists[r.Peer.PrefixList]
		if len(entries) == 0 {
			return false
		}
		for _, p := range entries {
			if !contains(o.Peer.Prefix, p) {
				return false
			}
		}
		return true
	}
	return contains(o.Peer.Prefix, r.Peer.Prefix)
}

func protoCovers(o, r model.Rule) bool {
	if o.Protocol.IsAll() {
		return true
	}
	n, ok := r.Protocol.Number()
	return ok && o.Protocol.Is(n)
}

func spanCovers(o, r model.Rule) bool {
	os, rs := o.Span(), r.Span()
	return os.From <= rs.From && rs.To <= os.To
}

func contains(o, p netip.Prefix) bool {
	return o.Addr().Is4() == p.Addr().Is4() && o.Bits() <= p.Bits() && o.Contains(p.Addr())
}

// redundant finds the PAL.2 rules.
func (a *auditor) redundant(shadowed map[model.RuleID]bool) []Finding {
	byGroup := map[model.GroupID][]*policy.Policy{}
	for _, p := range a.compiled.Policies() {
		for _, g := range p.Groups {
			byGroup[g] = append(byGroup[g], p)
		}
	}
	var out []Finding
	for _, g := range a.in.Snapshot.Groups {
		ps := byGroup[g.ID]
		if len(ps) == 0 {
			continue
		}
		for _, r := range g.Rules {
			if shadowed[r.ID] {
				continue
			}
			if a.redundantEverywhere(r, g.ID, ps) {
				out = append(out, Finding{Control: "PAL.2", Severity: Low, Group: g.ID, Rule: r.ID,
					Message: fmt.Sprintf("%s is redundant: on each of the %d interfaces with this group, other rules allow everything it allows", ruleText(r), len(ps))})
			}
		}
	}
	return out
}

func (a *auditor) redundantEverywhere(r model.Rule, g model.GroupID, ps []*policy.Policy) bool {
	for _, p := range ps {
		if !a.coveredOn(p, r, g) {
			return false
		}
	}
	return true
}

// coveredOn reports whether the other entries of p's side allow all that
// rule r (of group g) allows on p.
func (a *auditor) coveredOn(p *policy.Policy, r model.Rule, g model.GroupID) bool {
	side := p.Side(r.Direction)
	at := slices.IndexFunc(side.Entries, func(e *policy.Entry) bool { return e.Rule.ID == r.ID && e.Group == g })
	if at < 0 {
		return false
	}
	self := side.Entries[at]
	var cover []netip.Prefix
	var groups []model.GroupID
	for i, e := range side.Entries {
		if i == at || e.Rule.Key() == r.Key() || !protoCovers(e.Rule, r) || !spanCovers(e.Rule, r) {
			continue
		}
		if i > at && covers(self, e, p) {
			continue // r covers e too: only the later of the two is redundant
		}
		cover = append(cover, e.Prefixes...)
		if e.Rule.Peer.Kind == model.PeerGroup {
			groups = append(groups, e.Rule.Peer.Group)
			cover = append(cover, hosts(p.Members[e.Rule.Peer.Group])...)
		}
	}
	want := self.Prefixes
	if r.Peer.Kind == model.PeerGroup {
		if slices.Contains(groups, r.Peer.Group) {
			return true
		}
		want = hosts(p.Members[r.Peer.Group])
	}
	if len(want) == 0 {
		return false // a rule that allows no address now is not called redundant
	}
	for _, w := range want {
		if !covered(w, cover) {
			return false
		}
	}
	return true
}

// covers reports whether entry x allows all that entry y allows on p.
func covers(x, y *policy.Entry, p *policy.Policy) bool {
	if !protoCovers(x.Rule, y.Rule) || !spanCovers(x.Rule, y.Rule) {
		return false
	}
	if y.Rule.Peer.Kind == model.PeerGroup {
		if x.Rule.Peer == y.Rule.Peer {
			return true
		}
	}
	ys := y.Prefixes
	if y.Rule.Peer.Kind == model.PeerGroup {
		ys = hosts(p.Members[y.Rule.Peer.Group])
	}
	xs := x.Prefixes
	if x.Rule.Peer.Kind == model.PeerGroup {
		xs = hosts(p.Members[x.Rule.Peer.Group])
	}
	for _, w := range ys {
		if !covered(w, xs) {
			return false
		}
	}
	return len(ys) > 0
}

func hosts(addrs []netip.Addr) []netip.Prefix {
	out := make([]netip.Prefix, len(addrs))
	for i, a := range addrs {
		out[i] = netip.PrefixFrom(a, a.BitLen())
	}
	return out
}

// covered reports whether the union of cover contains every address of w.
func covered(w netip.Prefix, cover []netip.Prefix) bool {
	var parts []netip.Prefix
	for _, c := range cover {
		switch {
		case contains(c, w):
			return true
		case contains(w, c):
			parts = append(parts, c)
		}
	}
	// The parts lie inside w: sort them and walk from w's first address.
	slices.SortFunc(parts, func(x, y netip.Prefix) int { return x.Addr().Compare(y.Addr()) })
	next := w.Masked().Addr()
	for _, c := range parts {
		if next.Less(c.Masked().Addr()) {
			return false
		}
		if end := last(c); !end.Less(next) {
			if end == last(w) {
				return true
			}
			next = end.Next()
		}
	}
	return false
}

// last is the highest address of p.
func last(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
