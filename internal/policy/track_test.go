package policy

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"palisade.dev/palisade/internal/model"
)

// The worked example of AWS's connection-tracking page: SSH from one
// address is tracked, HTTP from anywhere with all egress open is not, ICMP
// always is, and removing the all-egress rule makes everything tracked.
func TestTrackedAsAWSDefinesIt(t *testing.T) {
	g := gid(1)
	ssh := in("tcp", "203.0.113.1/32", 22, 22)
	http := in("tcp", "0.0.0.0/0", 80, 80)
	http6 := in("tcp", "::/0", 80, 80)
	icmp := in("icmp", "0.0.0.0/0", -1, -1)
	dns := in("udp", "0.0.0.0/0", 53, 53)
	egress4 := out("-1", "0.0.0.0/0")
	build := func(rules ...model.Rule) *Policy {
		return Compile(Snapshot{
			Groups: []model.SecurityGroup{group(g, rules...)},
			ENIs:   []model.ENI{iface(eniID(1), gs(g), addr("10.0.0.5"), addr("2001:db8::5"))},
		}).Policy(eniID(1))
	}
	p := build(ssh, http, http6, icmp, dns, egress4)
	cases := []struct {
		name    string
		d       model.Direction
		f       Flow
		tracked bool
	}{
		{"ssh from one address", model.Ingress, TCP(addr("203.0.113.1"), 22), true},
		{"http from anywhere", model.Ingress, TCP(addr("198.51.100.1"), 80), false},
		{"dns from anywhere", model.Ingress, UDP(addr("198.51.100.1"), 53), false},
		{"icmp from anywhere", model.Ingress, ICMP(addr("198.51.100.1"), 8, 0), true},
		{"http over IPv6: no IPv6 all-egress", model.Ingress, TCP(addr("2001:db8::9"), 80), true},
		{"outbound https: no ingress open to the world on all ports", model.Egress, TCP(addr("93.184.216.34"), 443), true},
		{"other protocols", model.Ingress, Flow{50, addr("198.51.100.1"), 0}, true},
	}
	for _, c := range cases {
		if got := p.Tracked(c.d, c.f); got != c.tracked {
			t.Errorf("%s: tracked = %v", c.name, got)
		}
	}
	if got := build(ssh, http, icmp).Tracked(model.Ingress, TCP(addr("198.51.100.1"), 80)); !got {
		t.Error("http stays untracked without the all-egress rule")
	}
	// Both directions open on all ports: outbound flows are untracked too.
	open := build(in("-1", "0.0.0.0/0"), egress4)
	if open.Tracked(model.Egress, TCP(addr("93.184.216.34"), 443)) || open.Tracked(model.Ingress, UDP(addr("1.1.1.1"), 9)) {
		t.Error("all-open both ways should be untracked")
	}
	got := p.Untracked()
	want := []UntrackedClass{
		{model.Ingress, model.ProtoTCP, false, model.PortRange{From: 80, To: 80}},
		{model.Ingress, model.ProtoUDP, false, model.PortRange{From: 53, To: 53}},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Untracked = %v, want %v", got, want)
	}
}

func TestDiffPolicies(t *testing.T) {
	web, lb := gid(1), gid(2)
	http := in("tcp", "0.0.0.0/0", 80, 80)
	narrow := in("tcp", "203.0.113.0/24", 80, 80)
	fromLB := in("tcp", sgStr(lb), 8080, 8080)
	egress := allOut4()
	snap := func(webRules []model.Rule, lbMembers ...string) Snapshot {
		s := Snapshot{Groups: []model.SecurityGroup{group(web, webRules...), group(lb, egress)}}
		s.ENIs = append(s.ENIs, iface(eniID(1), gs(web), addr("10.0.0.5")))
		for i, a := range lbMembers {
			s.ENIs = append(s.ENIs, iface(eniID(10+i), gs(lb), addr(a)))
		}
		return s
	}
	before := Compile(snap([]model.Rule{http, narrow, fromLB, egress}, "10.0.0.20", "10.0.0.21"))

	// A member joins and another leaves: set elements, no rule change.
	after := Compile(snap([]model.Rule{http, narrow, fromLB, egress}, "10.0.0.21", "10.0.0.22"))
	d := DiffPolicies(before.Policy(eniID(1)), after.Policy(eniID(1)))
	md := d.Members[lb]
	if len(d.Added)+len(d.Removed) != 0 || len(md.Added) != 1 || md.Added[0] != addr("10.0.0.22") || len(md.Removed) != 1 || md.Removed[0] != addr("10.0.0.20") {
		t.Fatalf("membership change: %+v", d)
	}
	if len(d.Cuts) != 0 || d.Empty() {
		t.Fatalf("membership change: %+v", d)
	}

	// Revoking the open-world rule cuts its untracked flows; the narrower
	// rule's flows are for the data plane to spare (it re-decides each).
	revoked := Compile(snap([]model.Rule{narrow, fromLB, egress}, "10.0.0.20", "10.0.0.21"))
	d = DiffPolicies(before.Policy(eniID(1)), revoked.Policy(eniID(1)))
	if len(d.Removed) != 1 || d.Removed[0].Rule.ID != http.ID || len(d.Added) != 0 {
		t.Fatalf("revoke: removed %v added %v", d.Removed, d.Added)
	}
	if len(d.Cuts) != 1 || d.Cuts[0] != (UntrackedClass{model.Ingress, model.ProtoTCP, false, model.PortRange{From: 80, To: 80}}) {
		t.Fatalf("revoke cuts: %v", d.Cuts)
	}
	np := revoked.Policy(eniID(1))
	if !np.Decide(model.Ingress, TCP(addr("203.0.113.7"), 80)).Allowed || np.Decide(model.Ingress, TCP(addr("198.51.100.7"), 80)).Allowed {
		t.Fatal("after the revoke only the narrow rule's peers pass")
	}

	// Removing the referenced group's rule drops its members from the policy.
	noRef := Compile(snap([]model.Rule{http, narrow, egress}, "10.0.0.20", "10.0.0.21"))
	d = DiffPolicies(before.Policy(eniID(1)), noRef.Policy(eniID(1)))
	if len(d.Members[lb].Removed) != 2 {
		t.Fatalf("members of a group no longer referenced: %+v", d.Members)
	}

	// Interfaces appear and disappear; addresses and timeouts change.
	if d := DiffPolicies(nil, before.Policy(eniID(1))); !d.Created || len(d.Added) != 4 {
		t.Fatalf("created: %+v", d)
	}
	if d := DiffPolicies(before.Policy(eniID(1)), nil); !d.Deleted || len(d.Removed) != 4 || len(d.Cuts) != 1 {
		t.Fatalf("deleted: %+v", d)
	}
	if d := DiffPolicies(nil, nil); !d.Empty() {
		t.Fatal("nil diff")
	}
	s := snap([]model.Rule{http, narrow, fromLB, egress}, "10.0.0.20", "10.0.0.21")
	s.ENIs[0].PrivateIPs = append(s.ENIs[0].PrivateIPs, addr("10.0.0.6"))
	s.ENIs[0].Conntrack.UDP = 60
	d = DiffPolicies(before.Policy(eniID(1)), Compile(s).Policy(eniID(1)))
	if !d.AddrsChanged || !d.ConntrackChanged {
		t.Fatalf("addresses and timeouts: %+v", d)
	}
	if d := DiffPolicies(before.Policy(eniID(1)), before.Policy(eniID(1))); !d.Empty() {
		t.Fatalf("a policy differs from itself: %+v", d)
	}
}

func TestDiffCompiled(t *testing.T) {
	g, eg := gid(1), allOut4()
	s1 := Snapshot{Groups: []model.SecurityGroup{group(g, eg)}, ENIs: []model.ENI{iface(eniID(1), gs(g), addr("10.0.0.1")), iface(eniID(2), gs(g), addr("10.0.0.2"))}}
	s2 := Snapshot{Groups: []model.SecurityGroup{group(g, eg, in("tcp", "0.0.0.0/0", 22, 22))}, ENIs: []model.ENI{iface(eniID(2), gs(g), addr("10.0.0.2")), iface(eniID(3), gs(g), addr("10.0.0.3"))}}
	c1, c2 := Compile(s1), Compile(s2)
	ds := DiffCompiled(c1, c2)
	if len(ds) != 3 || ds[0].ENI != eniID(1) || !ds[0].Deleted || len(ds[1].Added) != 1 || !ds[2].Created {
		t.Fatalf("%+v", ds)
	}
	if ds := DiffCompiled(nil, c1); len(ds) != 2 || !ds[0].Created {
		t.Fatalf("%+v", ds)
	}
	if ds := DiffCompiled(c1, c1); len(ds) != 0 {
		t.Fatalf("%+v", ds)
	}
	if m := c2.Members(g); len(m) != 2 || m[0] != netip.MustParseAddr("10.0.0.2") {
		t.Fatal(m)
	}
}

// TestCutsCompiledMatchesDiff: the agent's shortcut finds exactly the cuts
// of DiffCompiled, across random pairs of compilations (interfaces that
// appear, disappear and change groups).
func TestCutsCompiledMatchesDiff(t *testing.T) {
	found := 0
	for seed := range 200 {
		w := randomPolicy{rng: rand.New(rand.NewPCG(uint64(seed), 11)), ports: []int32{0, 22, 80, 65535}}
		s1, s2 := w.snapshot(), w.snapshot()
		s2.ENIs = s2.ENIs[w.rng.IntN(3):] // some interfaces are gone
		c1, c2 := Compile(s1), Compile(s2)
		var want []Cut
		for _, d := range DiffCompiled(c1, c2) {
			if len(d.Cuts) > 0 {
				want = append(want, Cut{ENI: d.ENI, Classes: d.Cuts})
			}
		}
		got := CutsCompiled(c1, c2)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d: CutsCompiled = %+v, DiffCompiled's cuts = %+v", seed, got, want)
		}
		found += len(got)
	}
	if found == 0 {
		t.Fatal("no random pair lost an untracked class: the test checks nothing")
	}
	if CutsCompiled(nil, Compile(Snapshot{})) != nil {
		t.Error("cuts against no earlier compilation")
	}
}
