package bench

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policy"
)

// The universes random rules and flows draw from are small, so that flows
// hit the edges of rules (first and last port, prefix boundaries, ICMP
// type without code) often.
var (
	rulePorts = []uint16{1, 22, 53, 80, 443, 1000, 1001, 1005, 1010, 3389, 8080, 65535}
	flowPorts = []uint16{1, 2, 21, 22, 23, 53, 79, 80, 81, 443, 999, 1000, 1001, 1004, 1005, 1006,
		1010, 1011, 3389, 8080, 40000, 65534, 65535}
	// ICMP types: errors (which quote a packet) and queries; -1 is "any".
	icmp4Types = []int32{0, 3, 5, 8, 11, 13, 42}
	icmp6Types = []int32{1, 2, 3, 4, 128, 129, 139, 200}
	icmpCodes  = []int32{0, 1, 3, 4}
	// otherProtos are protocol numbers without ports that conntrack tracks
	// generically (by address pair): ESP, and numbers without a tracker.
	otherProtos = []model.Proto{50, 99, 253}
	v4Bits      = []int{0, 8, 16, 20, 23, 24, 25, 28, 30, 31, 32, 32}
	v6Bits      = []int{0, 16, 48, 56, 63, 64, 96, 120, 127, 128, 128}
)

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// ruleGen draws random rules over a world's addresses.
type ruleGen struct {
	rng    *rand.Rand
	addrs4 []netip.Addr // addresses CIDRs are cut around (every endpoint's, and a few more)
	addrs6 []netip.Addr
	groups []model.GroupID
	lists  []model.PrefixListID // [0] IPv4, [1] IPv6
	seq    int                  // rule IDs
}

// prefix returns a random prefix of the family around one of the world's
// addresses, so that it contains some endpoints and not others.
func (g *ruleGen) prefix(v6 bool) netip.Prefix {
	if v6 {
		return netip.PrefixFrom(pick(g.rng, g.addrs6), pick(g.rng, v6Bits)).Masked()
	}
	return netip.PrefixFrom(pick(g.rng, g.addrs4), pick(g.rng, v4Bits)).Masked()
}

// spec draws the protocol and ports of a permission.
func (g *ruleGen) spec() model.PermissionSpec {
	var s model.PermissionSpec
	switch r := g.rng.IntN(100); {
	case r < 30:
		s.Protocol = "tcp"
	case r < 48:
		s.Protocol = "udp"
	case r < 62:
		s.Protocol = "icmp"
	case r < 74:
		s.Protocol = "icmpv6"
	case r < 84:
		s.Protocol = "-1"
	default:
		s.Protocol = fmt.Sprint(pick(g.rng, []int{50, 99, 253, 132, 4}))
	}
	switch s.Protocol {
	case "tcp", "udp":
		from := int32(pick(g.rng, rulePorts))
		to := from
		switch r := g.rng.IntN(10); {
		case r < 3:
			to = min(65535, from+int32(g.rng.IntN(6)))
		case r < 4:
			from, to = 0, 65535
		case r < 5:
			to = int32(pick(g.rng, rulePorts))
			from, to = min(from, to), max(from, to)
		}
		s.FromPort, s.ToPort = &from, &to
	case "icmp", "icmpv6":
		types := icmp4Types
		if s.Protocol == "icmpv6" {
			types = icmp6Types
		}
		typ, code := pick(g.rng, types), pick(g.rng, icmpCodes)
		switch r := g.rng.IntN(10); {
		case r < 2:
			typ, code = -1, -1
		case r < 5:
			code = -1
		}
		s.FromPort, s.ToPort = &typ, &code
	}
	return s
}

// rule draws one rule of direction d, with a CIDR, prefix-list or group
// peer.
func (g *ruleGen) rule(d model.Direction) model.Rule {
	s := g.spec()
	switch r := g.rng.IntN(100); {
	case r < 30:
		s.Groups = []model.GroupSourceSpec{{GroupID: string(pick(g.rng, g.groups))}}
	case r < 38:
		s.PrefixLists = []model.SourceSpec{{Value: string(pick(g.rng, g.lists))}}
	case r < 72:
		s.IPv4 = []model.SourceSpec{{Value: g.prefix(false).String()}}
	default:
		s.IPv6 = []model.SourceSpec{{Value: g.prefix(true).String()}}
	}
	rs, err := s.Rules(d, benchAccount, false)
	if err != nil {
		panic(fmt.Sprintf("random rule %+v: %v", s, err)) // the generator draws only valid values
	}
	g.seq++
	rs[0].ID = model.RuleID(fmt.Sprintf("sgr-%017x", g.seq))
	return rs[0]
}

// allOut is an egress rule to every protocol of prefix p.
func (g *ruleGen) allOut(p string) model.Rule {
	peer := model.CIDRPeer(netip.MustParsePrefix(p))
	g.seq++
	return model.Rule{ID: model.RuleID(fmt.Sprintf("sgr-%017x", g.seq)), Direction: model.Egress,
		Protocol: model.AllProtocols, Peer: peer}
}

// group draws a group of up to maxRules rules (no two the same).
func (g *ruleGen) group(id model.GroupID, vpc model.VpcID, maxRules int) model.SecurityGroup {
	sg := model.SecurityGroup{Scope: benchScope, ID: id, VPC: vpc, Name: string(id)}
	seen := map[model.RuleKey]bool{}
	// Most groups keep AWS's default egress (everything, per family), so
	// that many flows get as far as the receiver's ingress rules.
	for _, all := range []string{"0.0.0.0/0", "::/0"} {
		if g.rng.IntN(10) < 6 {
			r := g.allOut(all)
			seen[r.Key()] = true
			sg.Rules = append(sg.Rules, r)
		}
	}
	for range g.rng.IntN(maxRules + 1) {
		d := model.Ingress
		if g.rng.IntN(5) < 2 {
			d = model.Egress
		}
		r := g.rule(d)
		if !seen[r.Key()] {
			seen[r.Key()] = true
			sg.Rules = append(sg.Rules, r)
		}
	}
	return sg
}

// prefixList draws a prefix list of one to three entries.
func (g *ruleGen) prefixList(id model.PrefixListID, v6 bool) model.PrefixList {
	pl := model.PrefixList{Scope: benchScope, ID: id, Name: string(id), IPv6: v6, MaxEntries: 3}
	for range 1 + g.rng.IntN(3) {
		p := g.prefix(v6)
		if !slices.ContainsFunc(pl.Entries, func(e model.PrefixListEntry) bool { return e.CIDR == p }) {
			pl.Entries = append(pl.Entries, model.PrefixListEntry{CIDR: p})
		}
	}
	return pl
}

// someGroups draws one to three distinct groups.
func (g *ruleGen) someGroups() []model.GroupID {
	n := 1 + g.rng.IntN(3)
	perm := g.rng.Perm(len(g.groups))[:n]
	out := make([]model.GroupID, n)
	for i, k := range perm {
		out[i] = g.groups[k]
	}
	return out
}

// snapshot draws a new policy for the world's interfaces: every group's
// rules, both prefix lists, and the groups of every interface.
func (g *ruleGen) snapshot(vpc model.VpcID, enis []model.ENI) policy.Snapshot {
	var s policy.Snapshot
	for _, id := range g.groups {
		s.Groups = append(s.Groups, g.group(id, vpc, 12))
	}
	s.PrefixLists = []model.PrefixList{g.prefixList(g.lists[0], false), g.prefixList(g.lists[1], true)}
	for _, e := range enis {
		e.Groups = g.someGroups()
		s.ENIs = append(s.ENIs, e)
	}
	return s
}
