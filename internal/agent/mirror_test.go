package agent

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policy"
)

// storeSim is a store's content as the watch delivers it: every change is
// one key and its JSON value (nil: deleted).
type storeSim struct {
	rng    *rand.Rand
	scopes []model.Scope
	vpcs   []model.VPC
	kv     map[string][]byte
	seq    int
}

func (s *storeSim) put(w *mirror, scope model.Scope, kind, id string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	key := model.ResourceKey(scope, kind, id)
	s.kv[key] = b
	if err := w.apply(key, b, 1); err != nil {
		panic(err)
	}
}

func (s *storeSim) del(w *mirror, scope model.Scope, kind, id string) {
	key := model.ResourceKey(scope, kind, id)
	delete(s.kv, key)
	if err := w.apply(key, nil, 0); err != nil {
		panic(err)
	}
}

func (s *storeSim) groupID(v int, n int) model.GroupID {
	return model.GroupID(fmt.Sprintf("sg-%d%016x", v, n))
}

func (s *storeSim) listID(scope int, n int) model.PrefixListID {
	return model.PrefixListID(fmt.Sprintf("pl-%d%016x", scope, n))
}

func (s *storeSim) addr(v int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(v), 0, byte(1 + s.rng.IntN(12))})
}

// rule is a random rule of a group of VPC v: a CIDR, a group of the same
// VPC, or a prefix list of the VPC's scope (or, rarely, of another scope,
// which the VPC must not see).
func (s *storeSim) rule(v int) model.Rule {
	from, to := int32(20+s.rng.IntN(3)), int32(22+s.rng.IntN(3))
	spec := model.PermissionSpec{Protocol: "tcp", FromPort: &from, ToPort: &to}
	switch s.rng.IntN(4) {
	case 0:
		spec.Groups = []model.GroupSourceSpec{{GroupID: string(s.groupID(v, s.rng.IntN(4)))}}
	case 1:
		sc := s.vpcs[v].Scope
		idx := slices.Index(s.scopes, sc)
		if s.rng.IntN(5) == 0 {
			idx = 1 - idx
		}
		spec.PrefixLists = []model.SourceSpec{{Value: string(s.listID(idx, s.rng.IntN(2)))}}
	default:
		spec.IPv4 = []model.SourceSpec{{Value: netip.PrefixFrom(s.addr(s.rng.IntN(3)), 30+s.rng.IntN(3)).Masked().String()}}
	}
	rs, err := spec.Rules(model.Ingress, s.vpcs[v].Account, false)
	if err != nil {
		panic(err)
	}
	s.seq++
	rs[0].ID = model.RuleID(fmt.Sprintf("sgr-%017x", s.seq))
	return rs[0]
}

// change makes one random change to the store.
func (s *storeSim) change(w *mirror) {
	v := s.rng.IntN(len(s.vpcs))
	vpc := s.vpcs[v]
	switch s.rng.IntN(5) {
	case 0: // a group's rules change, or the group goes
		id := s.groupID(v, s.rng.IntN(4))
		if s.rng.IntN(5) == 0 {
			s.del(w, vpc.Scope, model.KeyGroup, string(id))
			return
		}
		g := model.SecurityGroup{Scope: vpc.Scope, ID: id, VPC: vpc.ID, Name: string(id)}
		for range s.rng.IntN(4) {
			g.Rules = append(g.Rules, s.rule(v))
		}
		s.put(w, vpc.Scope, model.KeyGroup, string(id), g)
	case 1, 2: // an interface changes groups or address, or goes
		n := s.rng.IntN(6)
		id := model.ENIID(fmt.Sprintf("eni-%d%016x", v, n))
		if s.rng.IntN(6) == 0 {
			s.del(w, vpc.Scope, model.KeyENI, string(id))
			return
		}
		e := model.ENI{Scope: vpc.Scope, ID: id, VPC: vpc.ID, PrivateIPs: []netip.Addr{s.addr(v)}}
		for g := range 4 {
			if s.rng.IntN(2) == 0 {
				e.Groups = append(e.Groups, s.groupID(v, g))
			}
		}
		s.put(w, vpc.Scope, model.KeyENI, string(id), e)
	case 3: // an instance starts or stops
		n := s.rng.IntN(6)
		id := model.InstanceID(fmt.Sprintf("i-%d%016x", v, n))
		state := model.StateRunning
		if s.rng.IntN(3) == 0 {
			state = model.StateStopped
		}
		eni := model.ENIID(fmt.Sprintf("eni-%d%016x", v, n))
		s.put(w, vpc.Scope, model.KeyInstance, string(id), model.Instance{Scope: vpc.Scope, ID: id, VPC: vpc.ID, State: state, ENIs: []model.ENIID{eni}})
	default: // a prefix list of one of the scopes changes
		sc := s.rng.IntN(len(s.scopes))
		id := s.listID(sc, s.rng.IntN(2))
		pl := model.PrefixList{Scope: s.scopes[sc], ID: id, MaxEntries: 5}
		for range s.rng.IntN(3) {
			pl.Entries = append(pl.Entries, model.PrefixListEntry{CIDR: netip.PrefixFrom(s.addr(s.rng.IntN(3)), 31).Masked()})
		}
		s.put(w, s.scopes[sc], model.KeyPrefixList, string(id), pl)
	}
}

// TestMirrorCompilesAsASnapshot: the mirror feeds each VPC's compiler from
// watch events (interfaces before their VPC, prefix lists by scope, groups,
// instances starting and stopping); after every change the compiler of each
// VPC must decide every flow as a fresh compile of the VPC's snapshot does,
// for exactly the interfaces of its running instances; and only the VPCs a
// change concerns are dirty.
func TestMirrorCompilesAsASnapshot(t *testing.T) {
	for seed := range 20 {
		s := &storeSim{rng: rand.New(rand.NewPCG(uint64(seed), 3)), kv: map[string][]byte{},
			scopes: []model.Scope{{Account: "111111111111", Region: "us-east-1"}, {Account: "111111111111", Region: "eu-west-1"}}}
		s.vpcs = []model.VPC{
			{Scope: s.scopes[0], ID: "vpc-0000000000000000a"},
			{Scope: s.scopes[0], ID: "vpc-0000000000000000b"},
			{Scope: s.scopes[1], ID: "vpc-0000000000000000c"},
		}
		w := newMirror(placement{unplaced: true})
		for range 30 { // the store before the VPC records arrive
			s.change(w)
		}
		for _, v := range s.vpcs {
			s.put(w, v.Scope, model.KeyVPC, string(v.ID), v)
		}
		prev := map[model.VpcID]*policy.Compiled{}
		for step := range 150 {
			s.change(w)
			dirty := w.changed()
			for _, v := range s.vpcs {
				view := w.view(v.ID)
				got := view.compiler.Compile()
				want := policy.Compile(w.snapshot(v.ID, view.ports))
				what := fmt.Sprintf("seed %d step %d %s", seed, step, v.ID)
				if was := prev[v.ID]; was != nil && !dirty[v.ID] {
					for _, p := range got.Policies() {
						if was.Policy(p.ENI) != p {
							t.Fatalf("%s: the policy of %s changed, but the VPC is not dirty", what, p.ENI)
						}
					}
				}
				prev[v.ID] = got
				compareCompiled(t, what, got, want)
			}
		}
	}
}

func compareCompiled(t *testing.T, what string, got, want *policy.Compiled) {
	t.Helper()
	gp, wp := got.Policies(), want.Policies()
	if len(gp) != len(wp) {
		t.Fatalf("%s: %d policies, a fresh compile has %d", what, len(gp), len(wp))
	}
	for i, p := range gp {
		q := wp[i]
		if p.ENI != q.ENI || !slices.Equal(p.Addrs, q.Addrs) || !slices.Equal(p.Groups, q.Groups) {
			t.Fatalf("%s: policy %s %v %v, fresh %s %v %v", what, p.ENI, p.Addrs, p.Groups, q.ENI, q.Addrs, q.Groups)
		}
		for v := range 3 {
			for host := range 14 {
				for port := uint16(19); port <= 25; port++ {
					f := policy.TCP(netip.AddrFrom4([4]byte{10, byte(v), 0, byte(host)}), port)
					if a, b := p.Decide(model.Ingress, f), q.Decide(model.Ingress, f); a.Allowed != b.Allowed {
						t.Fatalf("%s: %s %s from %s: compiler %v, fresh %v (%s)", what, p.ENI, f, f.Peer, a.Allowed, b.Allowed, b.Reason())
					}
				}
			}
		}
	}
}

// Two accounts' lab hosts of the same name are two hosts, each in its own
// namespace (<name>.<account>); deleting one leaves the other.
func TestMirrorLabHostsOfTwoAccounts(t *testing.T) {
	w := newMirror(placement{unplaced: true})
	sim := &storeSim{kv: map[string][]byte{}}
	vpc := model.VpcID("vpc-0123456789abcdef0")
	put := func(acct model.AccountID, ip string) model.Scope {
		scope := model.Scope{Account: acct, Region: "us-east-1"}
		sim.put(w, scope, model.KeyLabHost, "office", model.LabHost{Scope: scope, Name: "office", VPC: vpc, IPv4: netip.MustParseAddr(ip)})
		return scope
	}
	alice := put("123456789012", "203.0.113.5")
	put("210987654321", "198.51.100.7")
	var names []string
	for _, h := range w.view(vpc).hosts {
		names = append(names, h.Name+"="+h.IPv4.String())
	}
	if want := []string{"office.123456789012=203.0.113.5", "office.210987654321=198.51.100.7"}; !slices.Equal(names, want) {
		t.Fatalf("hosts %v, want %v", names, want)
	}
	sim.del(w, alice, model.KeyLabHost, "office")
	if hs := w.view(vpc).hosts; len(hs) != 1 || hs[0].Name != "office.210987654321" {
		t.Fatalf("after alice's delete: %+v", hs)
	}
}

// TestMirrorViewCachedUntilWiringChanges: the mirror keeps a VPC's view
// (its instances, peers, enforced ports) across changes that only the
// compiler reads (a group's rules, an interface's groups), and after any
// change the view it gives equals one derived afresh, for a host that has
// some of the instances, with the others on two other hosts whose records
// come and go.
func TestMirrorViewCachedUntilWiringChanges(t *testing.T) {
	hosts := []model.Host{
		{ID: "h-00000000000000001", Name: "alpha", Underlay: netip.MustParseAddr("192.168.77.1")},
		{ID: "h-00000000000000002", Name: "beta", Underlay: netip.MustParseAddr("192.168.77.2")},
		{ID: "h-00000000000000003", Name: "gamma", Underlay: netip.MustParseAddr("192.168.77.3")},
	}
	describe := func(v *vpcView) string {
		var peers []string
		for _, p := range v.peers {
			peers = append(peers, fmt.Sprintf("%s=%v", p.host.Name, p.addrs))
		}
		o := v.overlay("alpha", hosts[0].Underlay)
		return fmt.Sprintf("local %v instances %v hosts %v peers %v missing %v ports %v pending %v overlay %v",
			v.local, v.instances, v.hosts, peers, v.missing, v.ports, v.pending, o)
	}
	for seed := range 10 {
		s := &storeSim{rng: rand.New(rand.NewPCG(uint64(seed), 7)), kv: map[string][]byte{},
			scopes: []model.Scope{{Account: "111111111111", Region: "us-east-1"}}}
		s.vpcs = []model.VPC{{Scope: s.scopes[0], ID: "vpc-0000000000000000a"}, {Scope: s.scopes[0], ID: "vpc-0000000000000000b"}}
		w := newMirror(placement{self: hosts[0].ID})
		for _, v := range s.vpcs {
			s.put(w, v.Scope, model.KeyVPC, string(v.ID), v)
		}
		for step := range 300 {
			v := s.rng.IntN(len(s.vpcs))
			vpc := s.vpcs[v]
			switch s.rng.IntN(4) {
			case 0: // an instance starts or stops on one of the hosts, or on none
				n := s.rng.IntN(6)
				id := model.InstanceID(fmt.Sprintf("i-%d%016x", v, n))
				state := model.StateRunning
				if s.rng.IntN(4) == 0 {
					state = model.StateStopped
				}
				var on model.HostID
				if h := s.rng.IntN(4); h < 3 {
					on = hosts[h].ID
				}
				eni := model.ENIID(fmt.Sprintf("eni-%d%016x", v, n))
				s.put(w, vpc.Scope, model.KeyInstance, string(id), model.Instance{Scope: vpc.Scope, ID: id, VPC: vpc.ID, State: state, Host: on, ENIs: []model.ENIID{eni}})
			case 1: // another host's record comes or goes
				h := hosts[1+s.rng.IntN(2)]
				var b []byte
				if s.rng.IntN(3) > 0 {
					b, _ = json.Marshal(h)
				}
				if err := w.apply(model.HostKey(h.Name), b, 1); err != nil {
					t.Fatal(err)
				}
			default: // groups, interfaces (groups or addresses), prefix lists
				s.change(w)
			}
			for _, vpc := range s.vpcs {
				got := describe(w.view(vpc.ID))
				w.nets[vpc.ID].view = nil
				if want := describe(w.view(vpc.ID)); got != want {
					t.Fatalf("seed %d step %d %s: cached view\n%s\nafresh\n%s", seed, step, vpc.ID, got, want)
				}
			}
		}
		// Only the compiler reads a group's rules and an interface's
		// groups: the view stays.
		vpc := s.vpcs[0]
		g := model.SecurityGroup{Scope: vpc.Scope, ID: s.groupID(0, 1), VPC: vpc.ID, Name: "g", Rules: []model.Rule{s.rule(0)}}
		s.put(w, vpc.Scope, model.KeyGroup, string(g.ID), g)
		eni := model.ENI{Scope: vpc.Scope, ID: "eni-00000000000000009", VPC: vpc.ID, PrivateIPs: []netip.Addr{netip.MustParseAddr("10.0.0.99")}}
		s.put(w, vpc.Scope, model.KeyENI, string(eni.ID), eni)
		before := w.view(vpc.ID)
		eni.Groups = []model.GroupID{g.ID}
		s.put(w, vpc.Scope, model.KeyENI, string(eni.ID), eni)
		if w.view(vpc.ID) != before {
			t.Fatalf("seed %d: an interface's groups changed and the view was derived again", seed)
		}
		s.put(w, vpc.Scope, model.KeyGroup, string(g.ID), g)
		if w.view(vpc.ID) != before {
			t.Fatalf("seed %d: a group changed and the view was derived again", seed)
		}
	}
}
