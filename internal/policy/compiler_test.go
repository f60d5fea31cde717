package policy

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"palisade.dev/palisade/internal/model"
)

// mutate makes one random change to s (groups' rules, interfaces' groups
// and addresses, prefix lists, interfaces coming and going, the enforced
// set) and feeds the same change to c, as the agent does from the watch.
func (w randomPolicy) mutate(s *Snapshot, c *Compiler) {
	groups := []model.GroupID{gid(1), gid(2), gid(3), gid(4), gid(5), gid(6)}
	lists := []model.PrefixListID{"pl-0000000000000000a", "pl-0000000000000000b"}
	switch w.rng.IntN(7) {
	case 0: // a rule authorized or revoked
		if len(s.Groups) == 0 {
			return
		}
		i := w.rng.IntN(len(s.Groups))
		g := s.Groups[i]
		g.Rules = slices.Clone(g.Rules)
		if len(g.Rules) > 0 && w.rng.IntN(2) == 0 {
			g.Rules = slices.Delete(g.Rules, 0, 1)
		} else {
			g.Rules = append(g.Rules, w.rule(groups, lists))
		}
		s.Groups[i] = g
		c.PutGroup(&g)
	case 1: // a group deleted, or (re)created
		id := groups[w.rng.IntN(len(groups))]
		if i := slices.IndexFunc(s.Groups, func(g model.SecurityGroup) bool { return g.ID == id }); i >= 0 {
			s.Groups = slices.Delete(s.Groups, i, i+1)
			c.DeleteGroup(id)
		} else {
			g := group(id, w.rule(groups, lists), w.rule(groups, lists))
			s.Groups = append(s.Groups, g)
			c.PutGroup(&g)
		}
	case 2: // an interface joins or leaves a group
		i := w.rng.IntN(len(s.ENIs))
		e := s.ENIs[i]
		g := groups[w.rng.IntN(len(groups))]
		if j := slices.Index(e.Groups, g); j >= 0 {
			e.Groups = slices.Delete(slices.Clone(e.Groups), j, j+1)
		} else {
			e.Groups = append(slices.Clone(e.Groups), g)
		}
		s.ENIs[i] = e
		c.PutENI(&e)
	case 3: // an interface changes address
		i := w.rng.IntN(len(s.ENIs))
		e := s.ENIs[i]
		e.PrivateIPs = []netip.Addr{netip.AddrFrom4([4]byte{10, 0, byte(w.rng.IntN(4)), byte(w.rng.IntN(16))})}
		s.ENIs[i] = e
		c.PutENI(&e)
	case 4: // an interface deleted or created
		if len(s.ENIs) > 2 && w.rng.IntN(2) == 0 {
			i := w.rng.IntN(len(s.ENIs))
			c.DeleteENI(s.ENIs[i].ID)
			s.ENIs = slices.Delete(s.ENIs, i, i+1)
		} else {
			e := model.ENI{ID: eniID(100 + w.rng.IntN(1000)), VPC: "vpc-00000001", Groups: []model.GroupID{groups[w.rng.IntN(len(groups))]},
				PrivateIPs: []netip.Addr{netip.AddrFrom4([4]byte{10, 0, byte(w.rng.IntN(4)), byte(w.rng.IntN(16))})}}
			if slices.ContainsFunc(s.ENIs, func(x model.ENI) bool { return x.ID == e.ID }) {
				return
			}
			s.ENIs = append(s.ENIs, e)
			c.PutENI(&e)
		}
	case 5: // a prefix list's entries change
		i := w.rng.IntN(len(s.PrefixLists))
		pl := s.PrefixLists[i]
		pl.Entries = []model.PrefixListEntry{{CIDR: w.prefix()}}
		s.PrefixLists[i] = pl
		c.PutPrefixList(&pl)
	default: // instances start and stop: the enforced set changes
		if w.rng.IntN(3) == 0 {
			s.Only = nil
		} else {
			s.Only = map[model.ENIID]bool{}
			for _, e := range s.ENIs {
				if w.rng.IntN(2) == 0 {
					s.Only[e.ID] = true
				}
			}
		}
		c.Enforce(s.Only)
	}
}

// TestCompilerFollowsChanges: after every one of a long run of random
// changes, the incremental Compiler decides every flow as the reference
// evaluator does, enforces exactly the interfaces a fresh Compile does,
// and has the same members.
func TestCompilerFollowsChanges(t *testing.T) {
	worlds, steps := 60, 60
	if testing.Short() {
		worlds = 15
	}
	reused := 0
	for seed := range worlds {
		w := randomPolicy{rng: rand.New(rand.NewPCG(uint64(seed), 11)), ports: []int32{0, 22, 80, 443, 1000, 65535}}
		s := w.snapshot()
		c := NewCompiler()
		c.PutSnapshot(Snapshot{Groups: slices.Clone(s.Groups), ENIs: slices.Clone(s.ENIs), PrefixLists: slices.Clone(s.PrefixLists)})
		prev := c.Compile()
		for step := range steps {
			w.mutate(&s, c)
			got, fresh := c.Compile(), Compile(s)
			if a, b := policyIDs(got), policyIDs(fresh); !slices.Equal(a, b) {
				t.Fatalf("seed %d step %d: policies of %v, a fresh compile has %v", seed, step, a, b)
			}
			for _, g := range []model.GroupID{gid(1), gid(2), gid(3), gid(4), gid(5), gid(6)} {
				if !slices.Equal(got.Members(g), fresh.Members(g)) {
					t.Fatalf("seed %d step %d: members of %s = %v, fresh %v", seed, step, g, got.Members(g), fresh.Members(g))
				}
			}
			for _, p := range got.Policies() {
				if p == prev.Policy(p.ENI) {
					reused++
				}
				eni := &s.ENIs[slices.IndexFunc(s.ENIs, func(e model.ENI) bool { return e.ID == p.ENI })]
				if !slices.Equal(p.Addrs, eni.Addrs()) || !slices.Equal(p.Groups, eni.Groups) {
					t.Fatalf("seed %d step %d: %s has addresses %v groups %v, want %v %v", seed, step, p.ENI, p.Addrs, p.Groups, eni.Addrs(), eni.Groups)
				}
				for range 10 {
					f, d := w.flow(), model.Direction(1+w.rng.IntN(2))
					want := naiveAllows(s, eni, d, f)
					if v := p.Decide(d, f); v.Allowed != (len(want) > 0) || !subset(v.Rules, want) {
						t.Fatalf("seed %d step %d %s %s %s from %s: Decide = %v %v, reference = %v\n%s",
							seed, step, p.ENI, d, f, f.Peer, v.Allowed, v.Rules, want, dump(s))
					}
				}
			}
			prev = got
		}
	}
	if reused == 0 {
		t.Fatal("no policy was ever reused: the compiler rebuilds everything")
	}
}

func policyIDs(c *Compiled) []model.ENIID {
	var out []model.ENIID
	for _, p := range c.Policies() {
		out = append(out, p.ENI)
	}
	return out
}

// TestCompilerReusesWhatDidNotChange: a rule change rebuilds the policies
// of the group's interfaces only; a membership change of a referenced group
// rebuilds no side, only the policies that reference the group, and leaves
// every other member list the same slice.
func TestCompilerReusesWhatDidNotChange(t *testing.T) {
	web, db, admins := gid(1), gid(2), gid(3)
	c := NewCompiler()
	gWeb := group(web, in("tcp", "0.0.0.0/0", 443, 443), in("tcp", string(admins), 22, 22))
	gDB := group(db, in("tcp", string(web), 5432, 5432))
	gAdmins := group(admins)
	for _, g := range []*model.SecurityGroup{&gWeb, &gDB, &gAdmins} {
		c.PutGroup(g)
	}
	e1, e2 := iface(eniID(1), gs(web), addr("10.0.0.1")), iface(eniID(2), gs(db), addr("10.0.0.2"))
	a1 := iface(eniID(3), gs(admins), addr("10.0.9.1"))
	for _, e := range []*model.ENI{&e1, &e2, &a1} {
		c.PutENI(e)
	}
	c.Enforce(map[model.ENIID]bool{eniID(1): true, eniID(2): true})
	first := c.Compile()
	if first.Policy(eniID(3)) != nil {
		t.Fatal("an interface outside Enforce got a policy")
	}
	if again := c.Compile(); again.Policy(eniID(1)) != first.Policy(eniID(1)) || again.Policy(eniID(2)) != first.Policy(eniID(2)) {
		t.Fatal("a compile without changes rebuilt policies")
	}

	// A rule of db: db's interface only.
	gDB2 := group(db, in("tcp", string(web), 5432, 5432), in("tcp", "10.0.0.0/8", 6432, 6432))
	c.PutGroup(&gDB2)
	second := c.Compile()
	if second.Policy(eniID(1)) != first.Policy(eniID(1)) {
		t.Error("a rule change in db rebuilt web's policy")
	}
	if second.Policy(eniID(2)) == first.Policy(eniID(2)) || len(second.Policy(eniID(2)).Ingress.Entries) != 2 {
		t.Error("a rule change in db did not rebuild db's policy")
	}

	// A second admin: web references admins, db does not.
	a2 := iface(eniID(4), gs(admins), addr("10.0.9.2"))
	c.PutENI(&a2)
	third := c.Compile()
	p1, was1 := third.Policy(eniID(1)), second.Policy(eniID(1))
	if p1 == was1 {
		t.Fatal("a new member of admins left web's policy as it was")
	}
	if p1.Ingress != was1.Ingress || p1.Egress != was1.Egress {
		t.Error("a membership change rebuilt web's sides")
	}
	if got := p1.Members[admins]; !slices.Equal(got, []netip.Addr{addr("10.0.9.1"), addr("10.0.9.2")}) {
		t.Errorf("members of admins = %v", got)
	}
	if !p1.Decide(model.Ingress, TCP(addr("10.0.9.2"), 22)).Allowed || was1.Decide(model.Ingress, TCP(addr("10.0.9.2"), 22)).Allowed {
		t.Error("the new admin is not allowed by the new policy only")
	}
	if third.Policy(eniID(2)) != second.Policy(eniID(2)) {
		t.Error("a membership change of admins rebuilt db's policy, which does not reference admins")
	}
	if w2, w3 := second.Members(web), third.Members(web); &w2[0] != &w3[0] {
		t.Error("the members of web were copied although they did not change")
	}

	// The admin goes away again.
	c.DeleteENI(eniID(4))
	fourth := c.Compile()
	if got := fourth.Policy(eniID(1)).Members[admins]; !slices.Equal(got, []netip.Addr{addr("10.0.9.1")}) {
		t.Errorf("members of admins after the delete = %v", got)
	}
	if fourth.Policy(eniID(1)).Decide(model.Ingress, TCP(addr("10.0.9.2"), 22)).Allowed {
		t.Error("a deleted member is still allowed")
	}
}
