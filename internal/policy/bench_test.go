package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"palisade.dev/palisade/internal/model"
)

// bigSnapshot builds a host with about nRules rules spread over nENIs
// interfaces (each with a group of its own plus a shared group that
// references a group of nMembers members), and where interface 0 also
// carries a group of 1,000 rules (raised quota). It returns the compiled
// snapshot and random flows aimed at interface 0's ingress, about half of
// them allowed.
func bigSnapshot(nRules, nENIs, nMembers int) (*Compiled, []Flow) {
	s, flows := bigSnapshotInput(nRules, nENIs, nMembers)
	return Compile(s), flows
}

func bigSnapshotInput(nRules, nENIs, nMembers int) (Snapshot, []Flow) {
	rng := rand.New(rand.NewPCG(1, 2))
	members, shared, heavy := gid(1), gid(2), gid(3)
	var s Snapshot
	s.Groups = append(s.Groups,
		group(members, allOut4()),
		group(shared, in("tcp", sgStr(members), 443, 443), in("-1", sgStr(shared)), allOut4()),
	)
	var heavyRules []model.Rule
	for j := range 1000 {
		p := int32(20000 + j)
		heavyRules = append(heavyRules, in("tcp", fmt.Sprintf("172.16.%d.%d/32", j/250, j%250), p, p))
	}
	s.Groups = append(s.Groups, group(heavy, heavyRules...))
	perENI := max(1, (nRules-1000)/nENIs)
	for i := range nENIs {
		var rules []model.Rule
		for j := range perENI {
			p := int32(1000 + j)
			cidr := fmt.Sprintf("10.%d.%d.0/24", i%250, j%250)
			switch j % 4 {
			case 0:
				rules = append(rules, in("tcp", cidr, p, p))
			case 1:
				rules = append(rules, in("udp", cidr, p, p+10))
			case 2:
				rules = append(rules, in("tcp", fmt.Sprintf("2001:db8:%x::/48", j), p, p))
			default:
				rules = append(rules, in("icmp", cidr, int32(j%16), -1))
			}
		}
		g := gid(1000 + i)
		s.Groups = append(s.Groups, group(g, rules...))
		groups := gs(g, shared)
		if i == 0 {
			groups = append(groups, heavy)
		}
		s.ENIs = append(s.ENIs, iface(eniID(i), groups, addr(fmt.Sprintf("10.250.%d.%d", i/250, i%250))))
	}
	for m := range nMembers {
		s.ENIs = append(s.ENIs, iface(eniID(100000+m), gs(members), addr(fmt.Sprintf("10.200.%d.%d", m/250, m%250))))
	}
	var flows []Flow
	for range 4096 {
		switch rng.IntN(5) {
		case 0:
			flows = append(flows, TCP(addr(fmt.Sprintf("10.0.%d.%d", rng.IntN(250), rng.IntN(256))), uint16(1000+rng.IntN(perENI))))
		case 1:
			flows = append(flows, TCP(addr(fmt.Sprintf("10.200.%d.%d", rng.IntN(nMembers/250+1), rng.IntN(250))), 443))
		case 2:
			j := rng.IntN(1000)
			flows = append(flows, TCP(addr(fmt.Sprintf("172.16.%d.%d", j/250, j%250)), uint16(20000+j+rng.IntN(2))))
		case 3:
			flows = append(flows, UDP(addr(fmt.Sprintf("203.0.113.%d", rng.IntN(256))), uint16(rng.IntN(65536))))
		default:
			flows = append(flows, ICMP(addr(fmt.Sprintf("10.0.%d.1", rng.IntN(250))), uint8(rng.IntN(20)), 0))
		}
	}
	return s, flows
}

func countRules(s Snapshot) int {
	n := 0
	for _, g := range s.Groups {
		n += len(g.Rules)
	}
	return n
}

// BenchmarkCompile10kRules compiles a host of 10,000 rules over 200
// interfaces, with a referenced group of 10,000 members.
func BenchmarkCompile10kRules(b *testing.B) {
	s, _ := bigSnapshotInput(10000, 200, 10000)
	b.ReportMetric(float64(countRules(s)), "rules")
	b.ReportAllocs()
	for b.Loop() {
		Compile(s)
	}
}

// BenchmarkDecide10kRules decides random flows against the busiest
// interface of a host with 10,000 rules (1,000 of them on that interface)
// and a 10,000-member referenced group.
func BenchmarkDecide10kRules(b *testing.B) {
	c, flows := bigSnapshot(10000, 200, 10000)
	p := c.Policy(eniID(0))
	allowed := 0
	for _, f := range flows {
		if p.Decide(model.Ingress, f).Allowed {
			allowed++
		}
	}
	b.ReportMetric(float64(allowed)/float64(len(flows)), "allowed-ratio")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p.Decide(model.Ingress, flows[i&4095])
		i++
	}
}

// BenchmarkPath decides whole paths between two interfaces of that host.
func BenchmarkPath(b *testing.B) {
	c, _ := bigSnapshot(10000, 200, 10000)
	src := Endpoint{eniID(1), netip.MustParseAddr("10.250.0.1")}
	dst := Endpoint{eniID(0), netip.MustParseAddr("10.250.0.0")}
	b.ReportAllocs()
	for b.Loop() {
		c.Path(src, dst, model.ProtoTCP, 443)
	}
}

// compilerOf feeds s to a new Compiler that enforces the first nPorts
// interfaces (the others are members elsewhere), as the agent does.
func compilerOf(s Snapshot, nPorts int) *Compiler {
	s.Only = map[model.ENIID]bool{}
	for _, e := range s.ENIs[:nPorts] {
		s.Only[e.ID] = true
	}
	c := NewCompiler()
	c.PutSnapshot(s)
	c.Compile()
	return c
}

// BenchmarkCompilerRuleChange: the agent's compile after one rule is
// authorized or revoked in one interface's group, in the host of
// BenchmarkCompile10kRules.
func BenchmarkCompilerRuleChange(b *testing.B) {
	s, _ := bigSnapshotInput(10000, 200, 10000)
	c := compilerOf(s, 200)
	i := slices.IndexFunc(s.Groups, func(g model.SecurityGroup) bool { return g.ID == gid(1000) })
	without := s.Groups[i]
	with := without
	with.Rules = append(slices.Clone(with.Rules), in("tcp", "203.0.113.0/24", 9999, 9999))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if n++; n%2 == 1 {
			c.PutGroup(&with)
		} else {
			c.PutGroup(&without)
		}
		c.Compile()
	}
}

// BenchmarkCompilerMemberChange: the agent's compile after an interface
// joins or leaves the referenced group of 10,000 members (which every
// enforced interface references).
func BenchmarkCompilerMemberChange(b *testing.B) {
	s, _ := bigSnapshotInput(10000, 200, 10000)
	c := compilerOf(s, 200)
	joiner := iface(eniID(200000), gs(gid(1)), addr("10.201.0.1"))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if n++; n%2 == 1 {
			c.PutENI(&joiner)
		} else {
			c.DeleteENI(joiner.ID)
		}
		c.Compile()
	}
}
