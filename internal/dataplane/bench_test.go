package dataplane

import (
	"fmt"
	"maps"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policy"
)

// bigSnapshot is a router with nPorts interfaces, each with a group of its
// own of nRules/nPorts rules (CIDRs of both families, port ranges, ICMP,
// other protocols, a reference to a shared group), plus one shared group
// that references the group "members" of nMembers interfaces (which live
// elsewhere: they are not ports of this router).
func bigSnapshot(nRules, nPorts, nMembers int) policy.Snapshot {
	members, shared := gid(1), gid(2)
	s := policy.Snapshot{Groups: []model.SecurityGroup{
		group(members, allOut()...),
		group(shared, append([]model.Rule{in("tcp", string(members), 443, 443), in("-1", string(shared))}, allOut()...)...),
	}}
	per := nRules / nPorts
	for i := range nPorts {
		g := bigGid(i)
		var rules []model.Rule
		for j := range per {
			p := int32(1000 + j)
			switch j % 6 {
			case 0:
				rules = append(rules, in("tcp", fmt.Sprintf("10.%d.%d.0/24", i%250, j%250), p, p))
			case 1:
				rules = append(rules, in("udp", fmt.Sprintf("172.16.%d.0/24", j%250), p, p+10))
			case 2:
				rules = append(rules, in("tcp", fmt.Sprintf("2001:db8:%x:%x::/64", i, j), p, p))
			case 3:
				rules = append(rules, in("icmp", fmt.Sprintf("192.168.%d.0/24", j%250), int32(j%16), -1))
			case 4:
				rules = append(rules, out("tcp", fmt.Sprintf("198.18.%d.0/24", j%250), p, p))
			default:
				rules = append(rules, in("tcp", string(bigGid((i+1)%nPorts)), p, p))
			}
		}
		s.Groups = append(s.Groups, group(g, rules...))
		s.ENIs = append(s.ENIs, iface(eniID(i+1), gs(g, shared), addr(fmt.Sprintf("10.250.%d.%d", i/250, i%250+1))))
	}
	for k := range nMembers {
		s.ENIs = append(s.ENIs, member(k))
	}
	return s
}

// bigGid is the group of port i: a scrambled number, since real group ids
// are random (and nf_tables compares set names in a list: a long common
// prefix would cost more than real ids do).
func bigGid(i int) model.GroupID {
	return model.GroupID(fmt.Sprintf("sg-1%016x", uint64(i+1)*0x9e3779b97f4a7c15))
}

// member is the k-th member of the big referenced group.
func member(k int) model.ENI {
	a := netip.AddrFrom4([4]byte{100, 64 + byte(k>>16), byte(k >> 8), byte(k)})
	return iface(eniID(100000+k), gs(gid(1)), a)
}

// joined is s with one more member of the referenced group (same rules).
func joined(s policy.Snapshot, k int) policy.Snapshot {
	s.ENIs = append(slices.Clone(s.ENIs), member(k))
	return s
}

// ports keeps the first nPorts interfaces: the others are elsewhere.
func ports(s policy.Snapshot, nPorts int) Desired {
	d := desired(s, nil)
	d.Ports = d.Ports[:nPorts]
	return d
}

// BenchmarkApplyFull: an atomic rebuild of the whole table (10,000 rules
// over 200 ports, a referenced group of 10,000 members). commit-ms is the
// kernel's time (the batch, from send to answer); ns/op adds rendering,
// netlink encoding and counting the big sets back.
func BenchmarkApplyFull(b *testing.B) {
	tbl := openTable(b, newNetns(b))
	d := ports(bigSnapshot(10000, 200, 10000), 200)
	var commit time.Duration
	var res Result
	for b.Loop() {
		tbl.mu.Lock()
		tbl.last = nil // forces a rebuild
		tbl.mu.Unlock()
		res = mustApply(b, tbl, d)
		commit += res.Commit
	}
	b.ReportMetric(float64(commit.Microseconds())/1000/float64(b.N), "commit-ms")
	b.ReportMetric(float64(res.Elements), "elements")
	b.ReportMetric(float64(res.Chains), "chains")
	mustNoDrift(b, tbl)
}

// BenchmarkMemberChange: one interface joins or leaves the referenced
// group of 10,000 members, in the same big table: one set element.
// commit-ms is the kernel's time; ns/op adds rendering and diffing the
// whole desired state, here from two separate compiles (nothing shared:
// what the agent pays after it lists the store again).
func BenchmarkMemberChange(b *testing.B) {
	big := bigSnapshot(10000, 200, 10000)
	benchToggleStates(b, ports(big, 200), ports(joined(big, 10000), 200), func(res Result) bool {
		return res.Elements == 1 && res.Chains == 0
	})
}

// BenchmarkMemberChangeReused is BenchmarkMemberChange as the agent does
// it: both states come from one policy.Compiler, so the second shares
// every object the new member does not change (the Sides, the other
// member lists). This is what Apply costs the agent per membership change.
func BenchmarkMemberChangeReused(b *testing.B) {
	without, with := compiledStates(bigSnapshot(10000, 200, 10000), 200, joinMember)
	benchToggleStates(b, without, with, func(res Result) bool {
		return res.Elements == 1 && res.Chains == 0
	})
}

// BenchmarkMemberChangeBuild is the pure part of
// BenchmarkMemberChangeReused: the build and the diff, no kernel.
func BenchmarkMemberChangeBuild(b *testing.B) {
	without, with := compiledStates(bigSnapshot(10000, 200, 10000), 200, joinMember)
	last, c, err := build(without, nil)
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		d := with
		if i%2 == 1 {
			d = without
		}
		i++
		want, next, err := build(d, c)
		if err != nil {
			b.Fatal(err)
		}
		if p, ok := diff(last, want); !ok || p.result() != (Result{Elements: 1}) {
			b.Fatalf("member change did %+v", p.result())
		}
		last, c = want, next
	}
}

// compiledStates compiles s (its first nPorts interfaces enforced) with one
// policy.Compiler, as the agent does, then makes change and compiles again.
func compiledStates(s policy.Snapshot, nPorts int, change func(*policy.Compiler)) (Desired, Desired) {
	s.Only = map[model.ENIID]bool{}
	for _, e := range s.ENIs[:nPorts] {
		s.Only[e.ID] = true
	}
	c := policy.NewCompiler()
	c.PutSnapshot(s)
	x := desiredOf(c.Compile(), nil)
	change(c)
	return x, desiredOf(c.Compile(), nil)
}

// joinMember puts one more member in the referenced group of bigSnapshot.
func joinMember(c *policy.Compiler) {
	m := member(10000)
	c.PutENI(&m)
}

// withMember is d with a added to the members of g in every port's policy,
// as an incremental compile returns it: one new sorted slice shared by
// every port, a new Policy for each port that references g, and the same
// Sides and other member slices as before.
func withMember(d Desired, g model.GroupID, a netip.Addr) Desired {
	var grown []netip.Addr
	out := d
	out.Ports = slices.Clone(d.Ports)
	for i, p := range out.Ports {
		old, ok := p.Policy.Members[g]
		if !ok {
			continue
		}
		if grown == nil {
			k, _ := slices.BinarySearchFunc(old, a, netip.Addr.Compare)
			grown = slices.Insert(slices.Clone(old), k, a)
		}
		np := *p.Policy
		np.Members = maps.Clone(np.Members)
		np.Members[g] = grown
		out.Ports[i].Policy = &np
	}
	return out
}

// BenchmarkRender is the pure part of every Apply for the big table.
func BenchmarkRender(b *testing.B) {
	d := ports(bigSnapshot(10000, 200, 10000), 200)
	for b.Loop() {
		if _, _, err := build(d, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMemberCommit is BenchmarkMemberChange without the rendering:
// the prepared one-element batch alone, sent and committed, with the
// garbage of rendering collected beforehand so that it does not compete
// for the two cores during the commit.
func BenchmarkMemberCommit(b *testing.B) {
	tbl := openTable(b, newNetns(b))
	big := bigSnapshot(10000, 200, 10000)
	without, with := ports(big, 200), ports(joined(big, 10000), 200)
	mustApply(b, tbl, without)
	rsWithout, _, err := build(without, nil)
	if err != nil {
		b.Fatal(err)
	}
	rsWith, _, _ := build(with, nil)
	join, _ := diff(rsWithout, rsWith)
	leave, _ := diff(rsWith, rsWithout)
	runtime.GC()
	var commit time.Duration
	i := 0
	for b.Loop() {
		p := join
		if i%2 == 1 {
			p = leave
		}
		i++
		res, err := tbl.commit(p.enqueue(tbl), p.result())
		if err != nil {
			b.Fatal(err)
		}
		commit += res.Commit
	}
	b.ReportMetric(float64(commit.Nanoseconds())/1000/float64(b.N), "commit-us")
	tbl.last = nil
}

// withRule is s with one more rule in the group of port 0.
func withRule(s policy.Snapshot, r model.Rule) policy.Snapshot {
	s.Groups = slices.Clone(s.Groups)
	g := &s.Groups[2] // members, shared, then the group of port 0
	g.Rules = append(slices.Clone(g.Rules), r)
	return s
}

// BenchmarkRuleEdit: a rule is authorized and revoked in one group of the
// big table: CIDR rules are set elements, so this is one element of that
// group's set (no chain is rewritten).
func BenchmarkRuleEdit(b *testing.B) {
	benchToggle(b, func(s policy.Snapshot) (Desired, Desired) {
		return ports(s, 200), ports(withRule(s, in("tcp", "203.0.113.0/24", 9999, 9999)), 200)
	})
}

// BenchmarkRuleEditReused is BenchmarkRuleEdit as the agent does it: both
// states come from one policy.Compiler, so only port 0 gets a new Policy
// and Side; the other 199 ports keep theirs.
func BenchmarkRuleEditReused(b *testing.B) {
	s := bigSnapshot(10000, 200, 10000)
	x, y := compiledStates(s, 200, func(c *policy.Compiler) {
		g := withRule(s, in("tcp", "203.0.113.0/24", 9999, 9999)).Groups[2]
		c.PutGroup(&g)
	})
	benchToggleStates(b, x, y, func(res Result) bool { return res.Elements == 1 && res.Chains == 0 })
}

// BenchmarkPortAttach: an interface with its own group (50 rules) is
// attached and detached: its chains, its group's chains and sets, map
// elements and addresses.
func BenchmarkPortAttach(b *testing.B) {
	benchToggle(b, func(s policy.Snapshot) (Desired, Desired) {
		all := ports(s, 200)
		less := all
		less.Ports = all.Ports[1:]
		return all, less
	})
}

// benchToggle alternates between two states of the big table and reports
// the kernel's commit time of each change. The states share whatever
// pointers states gives them: PortAttach's come from one compile (the
// ports of both are the same), RuleEdit's from two (nothing is shared).
func benchToggle(b *testing.B, states func(policy.Snapshot) (Desired, Desired)) {
	x, y := states(bigSnapshot(10000, 200, 10000))
	benchToggleStates(b, x, y, nil)
}

// benchToggleStates alternates between x and y, checking each Apply's
// result with ok (any incremental one when nil), and reports the kernel's
// commit time of each change.
func benchToggleStates(b *testing.B, x, y Desired, ok func(Result) bool) {
	tbl := openTable(b, newNetns(b))
	mustApply(b, tbl, x)
	var commit time.Duration
	i := 0
	for b.Loop() {
		d := y
		if i%2 == 1 {
			d = x
		}
		i++
		res := mustApply(b, tbl, d)
		if res.Full || ok != nil && !ok(res) {
			b.Fatalf("the change did %+v", res)
		}
		commit += res.Commit
	}
	b.ReportMetric(float64(commit.Nanoseconds())/1e6/float64(b.N), "commit-ms")
}
