package dataplane

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policy"
)

// mustBuild builds d on prev, failing the test on an error.
func mustBuild(t testing.TB, d Desired, prev *cache) (*ruleset, *cache) {
	t.Helper()
	rs, next, err := build(d, prev)
	if err != nil {
		t.Fatal(err)
	}
	return rs, next
}

// planLines writes what a plan does, one sorted line per change, so that
// two plans compare as lists.
func planLines(p *plan) []string {
	var out []string
	for _, o := range p.addObjs {
		out = append(out, "+obj "+o.name)
	}
	for _, o := range p.delObjs {
		out = append(out, "-obj "+o.name)
	}
	for _, s := range p.addSets {
		out = append(out, "+set "+s.name)
	}
	for _, s := range p.delSets {
		out = append(out, "-set "+s.name)
	}
	for _, c := range p.addChains {
		out = append(out, "+chain "+c.name)
	}
	for _, c := range p.delChains {
		out = append(out, "-chain "+c.name)
	}
	for _, c := range p.rewrite {
		out = append(out, "~chain "+c.name)
	}
	for _, d := range p.elems {
		for _, e := range d.add {
			out = append(out, "+elem "+d.s.name+" "+e.hexID())
		}
		for _, e := range d.del {
			out = append(out, "-elem "+d.s.name+" "+e.hexID())
		}
	}
	slices.Sort(out)
	return out
}

// mustDiff is the plan from old to cur, which must not need a rebuild.
func mustDiff(t testing.TB, old, cur *ruleset) []string {
	t.Helper()
	p, ok := diff(old, cur)
	if !ok {
		t.Fatal("diff wants a rebuild")
	}
	return planLines(p)
}

// checkIncremental builds d on prev (whose build made last) and checks
// that the result is what a build from nothing makes, and that diff plans
// the same change from last to either. It returns the incremental build.
func checkIncremental(t *testing.T, d Desired, last *ruleset, prev *cache) (*ruleset, *cache, []string) {
	t.Helper()
	rs, next := mustBuild(t, d, prev)
	fresh, _ := mustBuild(t, d, nil)
	if got, want := rs.text(), fresh.text(); got != want {
		t.Fatalf("a build on the last one differs from one from nothing:\n%s", lineDiff(want, got))
	}
	got, want := mustDiff(t, last, rs), mustDiff(t, last, fresh)
	if !slices.Equal(got, want) {
		t.Fatalf("plan on the last build %v, from nothing %v", got, want)
	}
	return rs, next, got
}

// reusedSnapshot is a router of 6 ports with groups of their own that
// reference each other, and a shared group referencing a group of 50
// members elsewhere (bigSnapshot, small).
func reusedSnapshot() Desired { return ports(bigSnapshot(300, 6, 50), 6) }

// TestBuildReusesUnchanged: a second build of the same policies reuses
// every set and chain but the two fixed chains, and plans nothing.
func TestBuildReusesUnchanged(t *testing.T) {
	for name, d := range goldenCases() {
		t.Run(name, func(t *testing.T) { checkReused(t, d) })
	}
	t.Run("big", func(t *testing.T) { checkReused(t, reusedSnapshot()) })
}

// nFixed is how many chains come first in every build, made again each time.
var nFixed = len(fixedChains(false))

func checkReused(t *testing.T, d Desired) {
	rs1, c := mustBuild(t, d, nil)
	rs2, _, lines := checkIncremental(t, d, rs1, c)
	if len(lines) > 0 {
		t.Errorf("an unchanged build plans %v", lines)
	}
	for i, s := range rs2.sets {
		if s != rs1.sets[i] {
			t.Errorf("set %s was made again", s.name)
		}
	}
	for i, ch := range rs2.chains[nFixed:] {
		if ch != rs1.chains[i+nFixed] {
			t.Errorf("chain %s was made again", ch.name)
		}
	}
}

// TestBuildMemberChange: a member joining or leaving the referenced group
// (a new slice in new Policies that keep their Sides) is one element of
// one member set; the other sets and every chain are reused.
func TestBuildMemberChange(t *testing.T) {
	without := reusedSnapshot()
	joiner := member(50).PrivateIPs[0]
	with := withMember(without, gid(1), joiner)
	rs0, c0 := mustBuild(t, without, nil)
	rs1, c1, lines := checkIncremental(t, with, rs0, c0)
	set4 := memberSetName(gid(1), false)
	if want := []string{"+elem " + set4 + " " + plainElem(false, addrVal(joiner)).hexID()}; !slices.Equal(lines, want) {
		t.Errorf("join plans %v, want %v", lines, want)
	}
	for i, s := range rs1.sets {
		if (s != rs0.sets[i]) != (s.name == set4) {
			t.Errorf("set %s: reused %v", s.name, s == rs0.sets[i])
		}
	}
	for i, ch := range rs1.chains[nFixed:] {
		if ch != rs0.chains[i+nFixed] {
			t.Errorf("chain %s was made again", ch.name)
		}
	}
	if d := rs1.deltas[rs1.sets[slices.IndexFunc(rs1.sets, func(s *set) bool { return s.name == set4 })]]; d == nil {
		t.Error("the changed member set has no delta")
	}
	_, _, lines = checkIncremental(t, without, rs1, c1)
	if len(lines) != 1 || lines[0][0] != '-' {
		t.Errorf("leave plans %v", lines)
	}
}

// TestBuildPolicyChange: one port's new Policy with a new ingress Side
// (a rule added to its group) renders that group again and reuses every
// other group, port and member set.
func TestBuildPolicyChange(t *testing.T) {
	s := bigSnapshot(300, 6, 50)
	x := ports(s, 6)
	edited := ports(withRule(s, in("tcp", "203.0.113.0/24", 9999, 9999)), 6)
	y := x
	y.Ports = slices.Clone(x.Ports)
	np := *y.Ports[0].Policy
	np.Ingress = edited.Ports[0].Policy.Ingress
	y.Ports[0].Policy = &np

	rs0, c0 := mustBuild(t, x, nil)
	rs1, _, lines := checkIncremental(t, y, rs0, c0)
	if len(lines) != 1 || lines[0][:6] != "+elem " {
		t.Errorf("a CIDR rule added plans %v, want one element", lines)
	}
	changed := groupChainName(bigGid(0), model.Ingress)
	for i, ch := range rs1.chains[nFixed:] {
		if (ch != rs0.chains[i+nFixed]) != (ch.name == changed) {
			t.Errorf("chain %s: reused %v", ch.name, ch == rs0.chains[i+nFixed])
		}
	}
}

// TestBuildRandomSequence builds random policies one after the other, each
// on the last (all-new objects, as policy.Compile makes today), some with
// the pointers of the last kept where nothing changed, some the last with
// random member slices (unsorted, repeated, IPv4-mapped among them) or
// one port's timeouts changed: every build must equal one from nothing,
// and plan what a build from nothing plans.
func TestBuildRandomSequence(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 8))
	var last *ruleset
	var c *cache
	var lastD Desired
	for i := range 400 {
		d := desired(randomSnapshot(rng), nil, hostIf)
		switch {
		case i > 0 && rng.IntN(3) == 0:
			d = randomMembers(rng, lastD)
		case i > 0 && rng.IntN(3) == 0:
			d = keepPointers(lastD, d)
		case i > 0 && rng.IntN(2) == 0:
			d = randomTimeouts(rng, lastD)
		}
		if last == nil {
			last, c = mustBuild(t, d, nil)
		} else {
			last, c, _ = checkIncremental(t, d, last, c)
		}
		lastD = d
	}
}

// randomTimeouts is d with one port's conntrack timeouts changed at
// random, in a new Policy that keeps the rest.
func randomTimeouts(rng *rand.Rand, d Desired) Desired {
	out := d
	out.Ports = slices.Clone(d.Ports)
	if len(out.Ports) == 0 {
		return out
	}
	i := rng.IntN(len(out.Ports))
	np := *out.Ports[i].Policy
	np.Conntrack = model.ConntrackTimeouts{TCPEstablished: pick(rng, []uint32{0, 3600, 7200}), UDP: pick(rng, []uint32{0, 45})}.Effective()
	out.Ports[i].Policy = &np
	return out
}

// randomMembers is d with new random member slices of the groups its
// policies reference (one slice per group, shared by every port), in new
// Policies that keep d's Sides.
func randomMembers(rng *rand.Rand, d Desired) Desired {
	pool := []netip.Addr{addr("10.0.0.1"), addr("10.0.0.2"), addr("10.0.0.3"), addr("10.0.0.4"),
		addr("192.0.2.9"), addr("2001:db8::1"), addr("2001:db8::2"), addr("2001:db8::7")}
	odd := []netip.Addr{addr("::ffff:10.0.0.2"), addr("10.0.0.1"), addr("fe80::1%eth0")}
	slice := map[model.GroupID][]netip.Addr{}
	out := d
	out.Ports = slices.Clone(d.Ports)
	for i, p := range out.Ports {
		np := *p.Policy
		np.Members = maps.Clone(np.Members)
		for g := range np.Members {
			if _, ok := slice[g]; !ok {
				var a []netip.Addr
				for _, x := range pool {
					if rng.IntN(2) == 0 {
						a = append(a, x)
					}
				}
				if rng.IntN(8) == 0 { // not sorted, repeated or not plain
					a = append(a, pick(rng, odd))
				}
				slice[g] = a
			}
			np.Members[g] = slice[g]
		}
		out.Ports[i].Policy = &np
	}
	return out
}

// keepPointers is cur with the Policies of old for the ports whose policy
// renders alike (the same text for the port alone), as an incremental
// compile keeps them.
func keepPointers(old, cur Desired) Desired {
	byENI := map[model.ENIID]Port{}
	for _, p := range old.Ports {
		byENI[p.ENI] = p
	}
	out := cur
	out.Ports = slices.Clone(cur.Ports)
	for i, p := range out.Ports {
		if o, ok := byENI[p.ENI]; ok && o.IfName == p.IfName && alone(o) == alone(p) {
			out.Ports[i] = o
		}
	}
	if _, err := Render(out); err != nil {
		return cur // members of the kept and the new policies differ
	}
	return out
}

func alone(p Port) string {
	text, _ := Render(Desired{Ports: []Port{p}})
	return text
}

// TestUpdateMembers: updating member sets gives what rendering them
// gives, with the changes diffElems finds, on random lists of IPv4 and
// IPv6 addresses; and refuses lists that are not plain.
func TestUpdateMembers(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	draw := func() []netip.Addr {
		var a []netip.Addr
		for k := range 40 {
			if rng.IntN(3) == 0 {
				a = append(a, netip.AddrFrom4([4]byte{10, 0, byte(k / 20), byte(k)}))
			}
		}
		for k := range 20 {
			if rng.IntN(3) == 0 {
				a = append(a, netip.AddrFrom16([16]byte{0x20, 1, 0xd, 0xb8, 15: byte(k)}))
			}
		}
		return a
	}
	g := gid(1)
	for i := range 2000 {
		before, after := draw(), draw()
		o := renderMembers(g, before)
		m, ok := o.update(after)
		if !ok {
			t.Fatalf("case %d: plain lists refused", i)
		}
		want := renderMembers(g, after)
		for f := range m.sets {
			if ids(m.sets[f].elems) != ids(want.sets[f].elems) {
				t.Fatalf("case %d: updated %v, rendered %v", i, ids(m.sets[f].elems), ids(want.sets[f].elems))
			}
			got, wantD := (&ruleset{deltas: map[*set]*setDelta{m.sets[f]: m.deltas[f]}}).elemDelta(o.sets[f], m.sets[f]), diffElems(o.sets[f], want.sets[f])
			if ids(got.add) != ids(wantD.add) || ids(got.del) != ids(wantD.del) {
				t.Fatalf("case %d: delta +%v -%v, diffElems +%v -%v", i, ids(got.add), ids(got.del), ids(wantD.add), ids(wantD.del))
			}
			if (m.sets[f] == o.sets[f]) != (len(got.add)+len(got.del) == 0) {
				t.Fatalf("case %d: a set unchanged is not reused, or a changed one is", i)
			}
		}
	}
	plain := []netip.Addr{addr("10.0.0.1"), addr("10.0.0.3")}
	for _, bad := range [][]netip.Addr{
		{addr("10.0.0.3"), addr("10.0.0.1")},
		{addr("10.0.0.1"), addr("10.0.0.1")},
		{addr("10.0.0.1"), addr("::ffff:10.0.0.2")},
		{addr("10.0.0.1"), addr("fe80::1%eth0")},
	} {
		if _, ok := renderMembers(g, plain).update(bad); ok {
			t.Errorf("%v: updated from a plain list", bad)
		}
		if _, ok := renderMembers(g, bad).update(plain); ok {
			t.Errorf("%v: updated to a plain list", bad)
		}
	}
}

func ids(es []element) string { return fmt.Sprint(hexIDs(es)) }

func hexIDs(es []element) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.hexID()
	}
	return out
}

// TestBuildReusedInconsistent: a side reused from the previous build
// still disagrees with a port of another compilation, whichever of the
// two comes first.
func TestBuildReusedInconsistent(t *testing.T) {
	good := goldenCases()["default"]
	p0 := good.Ports[0] // eni …0a
	other := desired(policy.Snapshot{
		Groups: []model.SecurityGroup{group(gid(10), in("tcp", "0.0.0.0/0", 22, 22))},
		ENIs:   []model.ENI{iface(eniID(12), gs(gid(10)), addr("172.31.5.12"))},
	}, nil).Ports[0]
	_, cGood := mustBuild(t, good, nil)
	_, cOther := mustBuild(t, Desired{Ports: []Port{other}}, nil)
	for name, c := range map[string]*cache{"reused first": cGood, "reused last": cOther} {
		if _, _, err := build(Desired{Ports: []Port{p0, other}}, c); !errors.Is(err, ErrInconsistent) {
			t.Errorf("%s: err %v, want ErrInconsistent", name, err)
		}
	}
	// The same Side twice is consistent, reused or not.
	_, c := mustBuild(t, good, nil)
	mustBuild(t, good, c)
}

// TestIncrementalCompileBuildsAsFresh is the agent's whole pipeline on
// random changes: the policies of one policy.Compiler fed change by change,
// built on the previous build's cache, must render exactly the table that
// a fresh compile built from nothing renders, and plan the same update.
func TestIncrementalCompileBuildsAsFresh(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 4))
	groups := []model.GroupID{gid(1), gid(2), gid(3), gid(4)}
	pl := model.PrefixListID("pl-00000001")
	s := randomSnapshot(rng)
	c := policy.NewCompiler()
	c.PutSnapshot(policy.Snapshot{Groups: slices.Clone(s.Groups), ENIs: slices.Clone(s.ENIs), PrefixLists: slices.Clone(s.PrefixLists)})
	last, cache := mustBuild(t, desiredOf(c.Compile(), nil, hostIf), nil)
	for step := range 300 {
		switch rng.IntN(5) {
		case 0: // a rule authorized or revoked
			i := rng.IntN(len(s.Groups))
			g := s.Groups[i]
			if len(g.Rules) > 0 && rng.IntN(2) == 0 {
				g.Rules = slices.Delete(slices.Clone(g.Rules), 0, 1)
			} else if r := randomRule(rng, groups, pl); !slices.ContainsFunc(g.Rules, func(x model.Rule) bool { return x.Key() == r.Key() }) {
				g.Rules = append(slices.Clone(g.Rules), r)
			}
			s.Groups[i] = g
			c.PutGroup(&g)
		case 1: // an interface changes groups
			i := rng.IntN(len(s.ENIs))
			e := s.ENIs[i]
			e.Groups = []model.GroupID{pick(rng, groups)}
			if rng.IntN(3) == 0 {
				e.Groups = append(e.Groups, pick(rng, groups))
			}
			s.ENIs[i] = e
			c.PutENI(&e)
		case 2: // an interface changes address
			i := rng.IntN(len(s.ENIs))
			e := s.ENIs[i]
			e.PrivateIPs = []netip.Addr{addr(fmt.Sprintf("10.0.1.%d", 1+rng.IntN(20)))}
			s.ENIs[i] = e
			c.PutENI(&e)
		case 3: // an interface goes, or comes back
			if len(s.ENIs) > 2 && rng.IntN(2) == 0 {
				i := rng.IntN(len(s.ENIs))
				c.DeleteENI(s.ENIs[i].ID)
				s.ENIs = slices.Delete(s.ENIs, i, i+1)
			} else if id := eniID(1 + rng.IntN(8)); !slices.ContainsFunc(s.ENIs, func(e model.ENI) bool { return e.ID == id }) {
				e := iface(id, []model.GroupID{pick(rng, groups)}, addr(fmt.Sprintf("10.0.2.%d", 1+rng.IntN(20))))
				s.ENIs = append(s.ENIs, e)
				c.PutENI(&e)
			}
		default: // the prefix list changes
			l := s.PrefixLists[0]
			l.Entries = []model.PrefixListEntry{{CIDR: pfx(pick(rng, pool4))}, {CIDR: pfx(pick(rng, pool6))}}
			s.PrefixLists[0] = l
			c.PutPrefixList(&l)
		}
		d := desiredOf(c.Compile(), nil, hostIf)
		fresh, _ := mustBuild(t, desired(s, nil, hostIf), nil)
		rs, next, _ := checkIncremental(t, d, last, cache)
		if got, want := rs.text(), fresh.text(); got != want {
			t.Fatalf("step %d: the incremental pipeline's table differs from a fresh compile's:\n%s", step, lineDiff(want, got))
		}
		last, cache = rs, next
	}
}

// TestBuildJumpOrder: a port chain jumps to its groups lightest first (by
// the bit length of the number of their interval elements), in the
// interface's order among equals; a rule change that makes a group the
// heavier one reorders the jumps, rewriting the port chain, and one that
// leaves it the lighter keeps the port chain.
func TestBuildJumpOrder(t *testing.T) {
	heavy, light, peers := gid(1), gid(2), gid(3)
	cidrRules := func(n int) []model.Rule {
		var rules []model.Rule
		for i := range n {
			rules = append(rules, in("tcp", fmt.Sprintf("203.0.113.%d/32", i+1), int32(1000+i), int32(1000+i)))
		}
		return rules
	}
	snap := func(heavyRules, lightRules int) Desired {
		return desired(policy.Snapshot{
			Groups: []model.SecurityGroup{
				group(heavy, cidrRules(heavyRules)...),
				group(light, append(cidrRules(lightRules), in("tcp", string(peers), 443, 443))...),
				group(peers),
			},
			ENIs: []model.ENI{
				iface(eniID(1), gs(heavy, light), addr("10.0.0.1")),
				iface(eniID(2), gs(peers), addr("10.0.0.2")),
			},
		}, nil)
	}
	jumps := func(rs *ruleset) []string {
		var out []string
		for _, c := range rs.chains {
			if c.name == portChainName(eniID(1), model.Ingress) {
				for _, r := range c.rules {
					out = append(out, r.text)
				}
			}
		}
		return out
	}
	lightFirst := []string{"jump " + groupChainName(light, model.Ingress), "jump " + groupChainName(heavy, model.Ingress), "counter drop"}
	heavyFirst := []string{lightFirst[1], lightFirst[0], lightFirst[2]}

	rs0, c0 := mustBuild(t, snap(40, 0), nil)
	if got := jumps(rs0); !slices.Equal(got, lightFirst) {
		t.Errorf("40 CIDR rules and a reference: port chain %q, want %q", got, lightFirst)
	}
	rs1, c1, lines := checkIncremental(t, snap(40, 3), rs0, c0)
	portRewrite := "~chain " + portChainName(eniID(1), model.Ingress)
	if got := jumps(rs1); !slices.Equal(got, lightFirst) || slices.Contains(lines, portRewrite) {
		t.Errorf("3 CIDR rules in the light group: port chain %q, plan %v; want %q, the port chain kept", got, lines, lightFirst)
	}
	_, _, lines = checkIncremental(t, snap(3, 40), rs1, c1)
	if !slices.Contains(lines, portRewrite) {
		t.Errorf("the light group became the heavy one: plan %v, want the port chain rewritten", lines)
	}
	rs2, _ := mustBuild(t, snap(3, 40), nil)
	if got := jumps(rs2); !slices.Equal(got, heavyFirst) {
		t.Errorf("the light group became the heavy one: port chain %q, want %q", got, heavyFirst)
	}
}
