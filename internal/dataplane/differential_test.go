package dataplane

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policy"
)

// TestDifferentialAgainstPath renders random policies and sends random
// first packets through the rendered expressions (vm), which must forward
// exactly the flows that policy.Compiled.Path lets reach their target:
// the data plane renders policy's decisions and re-interprets nothing.
func TestDifferentialAgainstPath(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	const policies, flows = 300, 300
	bad := 0
	for i := range policies {
		snap := randomSnapshot(rng)
		d := desired(snap, nil, hostIf)
		rs, _, err := build(d, nil)
		if err != nil {
			t.Fatalf("policy %d: %v", i, err)
		}
		m, c := newVM(rs), policy.Compile(snap)
		for range flows {
			f := randomFlow(rng, snap.ENIs)
			want := c.Path(f.src, f.dst, model.Proto(f.proto), f.port).Outcome == policy.Reaches
			got, err := m.forward(f.packet())
			if err != nil {
				t.Fatalf("policy %d, %v: %v", i, f, err)
			}
			if got != want && bad < 5 {
				bad++
				text, _ := Render(d)
				t.Errorf("policy %d, %v: forwarded %v, policy says %s\n%s", i, f, got,
					c.Path(f.src, f.dst, model.Proto(f.proto), f.port), text)
			}
		}
	}
}

const hostIf = "h1"

var (
	pool4 = []string{"0.0.0.0/0", "10.0.0.0/8", "10.0.0.0/24", "10.0.0.0/29", "10.0.0.4/30", "10.0.0.3/32",
		"10.1.0.0/16", "192.0.2.0/24", "192.0.2.128/25"}
	pool6   = []string{"::/0", "2001:db8::/32", "2001:db8::/125", "2001:db8::2/128", "2001:db8:ff::/48"}
	protos  = []string{"tcp", "udp", "icmp", "icmpv6", "-1", "50", "132"}
	flowPro = []uint8{6, 17, 1, 58, 50, 132, 6, 17}
)

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// randomRule draws a rule over small universes, so that random flows hit
// rule edges often.
func randomRule(rng *rand.Rand, groups []model.GroupID, pl model.PrefixListID) model.Rule {
	dir := model.Ingress
	if rng.IntN(2) == 0 {
		dir = model.Egress
	}
	proto := pick(rng, protos)
	var peer string
	switch r := rng.IntN(10); {
	case r < 3:
		peer = string(pick(rng, groups))
	case r < 4:
		peer = string(pl)
	case r < 7:
		peer = pick(rng, pool4)
	default:
		peer = pick(rng, pool6)
	}
	var ports []int32
	switch proto {
	case "tcp", "udp":
		lo := int32(rng.IntN(10))
		hi := lo + int32(rng.IntN(4))
		if rng.IntN(6) == 0 {
			lo, hi = 0, 65535
		}
		ports = []int32{lo, hi}
	case "icmp", "icmpv6":
		typ, code := int32(pick(rng, []int{-1, 0, 3, 8})), int32(pick(rng, []int{-1, 0, 4}))
		if typ == -1 {
			code = -1
		}
		ports = []int32{typ, code}
	}
	return mkRule(dir, proto, peer, ports...)
}

func randomSnapshot(rng *rand.Rand) policy.Snapshot {
	groups := []model.GroupID{gid(1), gid(2), gid(3), gid(4)}
	pl := model.PrefixListID("pl-00000001")
	s := policy.Snapshot{PrefixLists: []model.PrefixList{{ID: pl, MaxEntries: 3, Entries: []model.PrefixListEntry{
		{CIDR: pfx(pick(rng, pool4))}, {CIDR: pfx(pick(rng, pool4))}, {CIDR: pfx(pick(rng, pool6))},
	}}}}
	for _, g := range groups {
		var rules []model.Rule
		seen := map[model.RuleKey]bool{}
		for range rng.IntN(9) {
			r := randomRule(rng, groups, pl)
			if !seen[r.Key()] {
				seen[r.Key()] = true
				rules = append(rules, r)
			}
		}
		s.Groups = append(s.Groups, group(g, rules...))
	}
	for i := range 5 {
		e := iface(eniID(i+1), []model.GroupID{pick(rng, groups)}, addr(fmt.Sprintf("10.0.0.%d", i+1)))
		if rng.IntN(3) == 0 {
			e.Groups = append(e.Groups, pick(rng, groups))
		}
		if rng.IntN(2) == 0 {
			e.IPv6s = []netip.Addr{addr(fmt.Sprintf("2001:db8::%d", i+1))}
		}
		if rng.IntN(4) == 0 {
			e.PrivateIPs = append(e.PrivateIPs, addr(fmt.Sprintf("192.0.2.%d", 130+i)))
		}
		s.ENIs = append(s.ENIs, e)
	}
	return s
}

// flow is a random first packet between two endpoints.
type flow struct {
	src, dst policy.Endpoint
	proto    uint8
	port     uint16 // as policy sees it: dport, ICMP type<<8|code, or 0
	th       [4]byte
}

func (f flow) String() string {
	return fmt.Sprintf("%s %s → %s %s proto %d port %d th %x", f.src.ENI, f.src.Addr, f.dst.ENI, f.dst.Addr, f.proto, f.port, f.th)
}

func (f flow) packet() packet {
	iif, oif := hostIf, hostIf
	if f.src.ENI != "" {
		iif = ifName(f.src.ENI)
	}
	if f.dst.ENI != "" {
		oif = ifName(f.dst.ENI)
	}
	return newPacket(iif, oif, f.src.Addr, f.dst.Addr, f.proto, f.th)
}

func randomFlow(rng *rand.Rand, enis []model.ENI) flow {
	v6 := rng.IntN(3) == 0
	src, dst := randomEnd(rng, enis, v6), randomEnd(rng, enis, v6)
	for src.ENI != "" && src.ENI == dst.ENI {
		dst = randomEnd(rng, enis, v6)
	}
	f := flow{src: src, dst: dst, proto: pick(rng, flowPro)}
	for i := range f.th {
		f.th[i] = byte(rng.IntN(256))
	}
	switch model.Proto(f.proto) {
	case model.ProtoTCP, model.ProtoUDP:
		f.th[2], f.th[3] = 0, byte(rng.IntN(12))
		if rng.IntN(10) == 0 {
			f.th[2], f.th[3] = 0xff, 0xff
		}
		f.port = uint16(f.th[2])<<8 | uint16(f.th[3])
	case model.ProtoICMP, model.ProtoICMPv6:
		f.th[0], f.th[1] = byte(pick(rng, []int{0, 3, 8, 128})), byte(pick(rng, []int{0, 4, 9}))
		f.port = model.ICMPKey(f.th[0], f.th[1])
	}
	return f
}

// randomEnd is an interface with one of its addresses of the family (or,
// sometimes, an address it does not own), or an outside host.
func randomEnd(rng *rand.Rand, enis []model.ENI, v6 bool) policy.Endpoint {
	outside := addr("192.0.2.77")
	if v6 {
		outside = addr(pick(rng, []string{"2001:db8::2", "2001:db8:ff::9", "2001:db9::1"}))
	} else if rng.IntN(2) == 0 {
		outside = addr(pick(rng, []string{"10.0.0.3", "10.9.9.9", "192.0.2.200"}))
	}
	if rng.IntN(4) == 0 {
		return policy.Endpoint{Addr: outside}
	}
	e := pick(rng, enis)
	var own []netip.Addr
	for _, a := range e.Addrs() {
		if a.Is6() == v6 {
			own = append(own, a)
		}
	}
	if len(own) == 0 || rng.IntN(20) == 0 {
		return policy.Endpoint{ENI: e.ID, Addr: outside} // spoofed, or no address of the family
	}
	return policy.Endpoint{ENI: e.ID, Addr: pick(rng, own)}
}
