package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"palisade.dev/palisade/internal/model"
)

// naiveAllows is the reference evaluator: it walks every rule of every group
// of the interface, the slow obvious way, sharing no code with the index.
func naiveAllows(s Snapshot, eni *model.ENI, d model.Direction, f Flow) []model.RuleID {
	var out []model.RuleID
	for _, gid := range eni.Groups {
		for _, g := range s.Groups {
			if g.ID != gid {
				continue
			}
			for _, r := range g.Rules {
				if r.Direction == d && naiveProto(r, f) && naivePeer(s, r.Peer, f.Peer) {
					out = append(out, r.ID)
				}
			}
		}
	}
	return out
}

func naiveProto(r model.Rule, f Flow) bool {
	if r.Protocol.IsAll() {
		return true
	}
	n, _ := r.Protocol.Number()
	switch {
	case n != f.Proto:
		return false
	case n == model.ProtoTCP || n == model.ProtoUDP:
		return r.Ports.From <= f.Port && f.Port <= r.Ports.To
	case n == model.ProtoICMP || n == model.ProtoICMPv6:
		return r.ICMP.Matches(uint8(f.Port>>8), uint8(f.Port))
	}
	return true
}

func naivePeer(s Snapshot, p model.Peer, a netip.Addr) bool {
	switch p.Kind {
	case model.PeerCIDR:
		return p.Prefix.Contains(a)
	case model.PeerPrefixList:
		for _, pl := range s.PrefixLists {
			if pl.ID == p.PrefixList {
				for _, e := range pl.Entries {
					if e.CIDR.Contains(a) {
						return true
					}
				}
			}
		}
	case model.PeerGroup:
		for _, e := range s.ENIs {
			if slices.Contains(e.Groups, p.Group) && e.HasAddr(a) {
				return true
			}
		}
	}
	return false
}

// randomPolicy draws a small world where collisions are likely: few
// addresses, few ports, overlapping prefixes of every length.
type randomPolicy struct {
	rng   *rand.Rand
	ports []int32
}

func (w randomPolicy) addr() netip.Addr {
	if w.rng.IntN(4) == 0 {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(w.rng.IntN(8))})
	}
	return netip.AddrFrom4([4]byte{10, 0, byte(w.rng.IntN(4)), byte(w.rng.IntN(16))})
}

func (w randomPolicy) prefix() netip.Prefix {
	a := w.addr()
	if a.Is4() {
		return netip.PrefixFrom(a, []int{0, 8, 16, 22, 24, 28, 30, 32}[w.rng.IntN(8)]).Masked()
	}
	return netip.PrefixFrom(a, []int{0, 32, 64, 125, 127, 128}[w.rng.IntN(6)]).Masked()
}

func (w randomPolicy) port() int32 { return w.ports[w.rng.IntN(len(w.ports))] }

func (w randomPolicy) rule(groups []model.GroupID, lists []model.PrefixListID) model.Rule {
	d := model.Direction(1 + w.rng.IntN(2))
	var ports []int32
	proto := []string{"tcp", "udp", "icmp", "icmpv6", "-1", "50", "6"}[w.rng.IntN(7)]
	switch proto {
	case "tcp", "udp", "6":
		a, b := w.port(), w.port()
		ports = []int32{min(a, b), max(a, b)}
	case "icmp", "icmpv6":
		t, c := int32(w.rng.IntN(4))-1, int32(w.rng.IntN(3))-1
		if t == -1 {
			c = -1
		}
		ports = []int32{t, c}
	}
	var peer string
	switch w.rng.IntN(6) {
	case 0:
		peer = string(groups[w.rng.IntN(len(groups))])
	case 1:
		peer = string(lists[w.rng.IntN(len(lists))])
	default:
		peer = w.prefix().String()
	}
	return rule(d, proto, peer, ports...)
}

func (w randomPolicy) flow() Flow {
	a := w.addr()
	switch w.rng.IntN(5) {
	case 0, 1:
		return TCP(a, uint16(w.port()+int32(w.rng.IntN(3))-1))
	case 2:
		return UDP(a, uint16(w.port()))
	case 3:
		return ICMP(a, uint8(w.rng.IntN(3)), uint8(w.rng.IntN(2)))
	}
	return Flow{model.Proto(50 + w.rng.IntN(2)), a, 0}
}

func (w randomPolicy) snapshot() Snapshot {
	var s Snapshot
	groups := []model.GroupID{gid(1), gid(2), gid(3), gid(4), gid(5)}
	lists := []model.PrefixListID{"pl-0000000000000000a", "pl-0000000000000000b"}
	for _, id := range lists {
		pl := model.PrefixList{ID: id}
		for range w.rng.IntN(3) {
			pl.Entries = append(pl.Entries, model.PrefixListEntry{CIDR: w.prefix()})
		}
		s.PrefixLists = append(s.PrefixLists, pl)
	}
	for _, g := range groups {
		var rules []model.Rule
		for range w.rng.IntN(8) {
			rules = append(rules, w.rule(groups, lists))
		}
		s.Groups = append(s.Groups, group(g, rules...))
	}
	for i := range 6 {
		var mine []model.GroupID
		for _, g := range groups {
			if w.rng.IntN(3) == 0 {
				mine = append(mine, g)
			}
		}
		e := model.ENI{ID: eniID(i), VPC: "vpc-00000001", Groups: mine}
		e.PrivateIPs = []netip.Addr{netip.AddrFrom4([4]byte{10, 0, byte(w.rng.IntN(4)), byte(w.rng.IntN(16))})}
		if w.rng.IntN(2) == 0 {
			e.IPv6s = []netip.Addr{netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(w.rng.IntN(8))})}
		}
		s.ENIs = append(s.ENIs, e)
	}
	return s
}

// TestDecideMatchesNaiveEvaluator checks the compiled index against the
// reference evaluator on random rule sets and flows: the verdict must agree,
// Decide's rules must be allowing rules, and Explain must find exactly the
// reference's set.
func TestDecideMatchesNaiveEvaluator(t *testing.T) {
	worlds, flowsPer := 300, 400
	if testing.Short() {
		worlds = 50
	}
	checked, allowed := 0, 0
	for seed := range worlds {
		w := randomPolicy{rng: rand.New(rand.NewPCG(uint64(seed), 7)), ports: []int32{0, 22, 80, 443, 1000, 1001, 65534, 65535}}
		s := w.snapshot()
		c := Compile(s)
		for i := range s.ENIs {
			eni := &s.ENIs[i]
			p := c.Policy(eni.ID)
			for range flowsPer / len(s.ENIs) {
				f, d := w.flow(), model.Direction(1+w.rng.IntN(2))
				want := naiveAllows(s, eni, d, f)
				v := p.Decide(d, f)
				checked++
				if v.Allowed {
					allowed++
				}
				if v.Allowed != (len(want) > 0) || !subset(v.Rules, want) {
					t.Fatalf("seed %d %s %s %s from %s: Decide = %v %v, reference = %v\n%s", seed, eni.ID, d, f, f.Peer, v.Allowed, v.Rules, want, dump(s))
				}
				if got := entryIDs(p.Side(d).Explain(f, p.memberFunc())); !sameSet(got, want) {
					t.Fatalf("seed %d: Explain = %v, reference = %v", seed, got, want)
				}
			}
		}
	}
	if allowed == 0 || allowed == checked {
		t.Fatalf("the random flows are all %v: the test cannot tell anything apart", allowed > 0)
	}
	t.Logf("%d flows checked, %d allowed", checked, allowed)
}

func dump(s Snapshot) string {
	out := ""
	for _, g := range s.Groups {
		for _, r := range g.Rules {
			out += fmt.Sprintf("%s %s %s %s\n", g.ID, r.ID, r.Direction, r.Describe())
		}
	}
	for _, e := range s.ENIs {
		out += fmt.Sprintf("%s %v %v %v\n", e.ID, e.Groups, e.PrivateIPs, e.IPv6s)
	}
	return out
}

// FuzzDecide runs the same differential check from fuzzed seeds.
func FuzzDecide(f *testing.F) {
	f.Add(uint64(1), uint64(2))
	f.Fuzz(func(t *testing.T, a, b uint64) {
		w := randomPolicy{rng: rand.New(rand.NewPCG(a, b)), ports: []int32{0, 1, 22, 80, 65534, 65535}}
		s := w.snapshot()
		c := Compile(s)
		for i := range s.ENIs {
			for range 20 {
				f, d := w.flow(), model.Direction(1+w.rng.IntN(2))
				want := naiveAllows(s, &s.ENIs[i], d, f)
				if v := c.Policy(s.ENIs[i].ID).Decide(d, f); v.Allowed != (len(want) > 0) {
					t.Fatalf("%s %s: Decide = %v, reference %v", d, f, v.Allowed, want)
				}
			}
		}
	})
}
