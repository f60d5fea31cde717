package policy

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"palisade.dev/palisade/internal/model"
)

func TestDecideTable(t *testing.T) {
	web, lb, ssh := gid(1), gid(2), gid(3)
	sshRule := in("tcp", "203.0.113.5/32", 22, 22)
	httpRule := in("tcp", sgStr(lb), 80, 80)
	wide := in("tcp", "10.0.0.0/8", 1000, 2000)
	narrow := in("tcp", "10.1.0.0/16", 1500, 1500)
	icmpEcho := in("icmp", "0.0.0.0/0", 8, -1)
	ptb6 := in("icmpv6", "::/0", 2, 0)
	esp := in("50", "198.51.100.0/24")
	v6web := in("tcp", "2001:db8::/32", 443, 443)
	snap := Snapshot{
		Groups: []model.SecurityGroup{
			group(web, httpRule, wide, narrow, icmpEcho, ptb6, esp, v6web, allOut4()),
			group(lb, allOut4()),
			group(ssh, sshRule),
		},
		ENIs: []model.ENI{
			iface(eniID(1), gs(web, ssh), addr("10.0.0.10"), addr("2001:db8:1::10")),
			iface(eniID(2), gs(lb), addr("10.0.0.20"), addr("2001:db8:1::20")),
			iface(eniID(3), gs(lb), addr("10.0.0.21")),
		},
	}
	p := Compile(snap).Policy(eniID(1))
	cases := []struct {
		name  string
		flow  Flow
		rules []model.Rule // the allowing rules; none = denied
	}{
		{"ssh from the office", TCP(addr("203.0.113.5"), 22), []model.Rule{sshRule}},
		{"ssh from elsewhere", TCP(addr("203.0.113.9"), 22), nil},
		{"other port from the office", TCP(addr("203.0.113.5"), 23), nil},
		{"udp on the ssh port", UDP(addr("203.0.113.5"), 22), nil},
		{"http from a load balancer", TCP(addr("10.0.0.20"), 80), []model.Rule{httpRule}},
		{"http from the other load balancer", TCP(addr("10.0.0.21"), 80), []model.Rule{httpRule}},
		{"http from a load balancer's IPv6", TCP(addr("2001:db8:1::20"), 80), []model.Rule{httpRule}},
		{"http from a non-member", TCP(addr("10.0.0.30"), 80), nil},
		{"range edge low", TCP(addr("10.9.9.9"), 1000), []model.Rule{wide}},
		{"range edge high", TCP(addr("10.9.9.9"), 2000), []model.Rule{wide}},
		{"range beyond", TCP(addr("10.9.9.9"), 2001), nil},
		{"nested prefixes and ports", TCP(addr("10.1.2.3"), 1500), []model.Rule{wide, narrow}},
		{"outside the wide prefix", TCP(addr("11.0.0.1"), 1500), nil},
		{"ping", ICMP(addr("192.0.2.1"), 8, 0), []model.Rule{icmpEcho}},
		{"ping reply is not a new echo", ICMP(addr("192.0.2.1"), 0, 0), nil},
		{"icmpv6 packet too big", ICMP(addr("2001:db8::1"), 2, 0), []model.Rule{ptb6}},
		{"icmpv6 echo", ICMP(addr("2001:db8::1"), 128, 0), nil},
		{"esp", Flow{50, addr("198.51.100.7"), 0}, []model.Rule{esp}},
		{"esp elsewhere", Flow{50, addr("198.51.101.7"), 0}, nil},
		{"https over IPv6", TCP(addr("2001:db8:ffff::1"), 443), []model.Rule{v6web}},
		{"https over IPv4 is another family", TCP(addr("32.1.13.184"), 443), nil},
	}
	for _, c := range cases {
		v := p.Decide(model.Ingress, c.flow)
		if v.Allowed != (len(c.rules) > 0) {
			t.Errorf("%s: allowed = %v (%s)", c.name, v.Allowed, v.Reason())
			continue
		}
		want := ids(c.rules)
		if !subset(v.Rules, want) || (v.Allowed && len(v.Rules) == 0) {
			t.Errorf("%s: rules = %v, want some of %v", c.name, v.Rules, want)
		}
		if got := entryIDs(p.Ingress.Explain(c.flow, p.memberFunc())); !sameSet(got, want) {
			t.Errorf("%s: Explain = %v, want %v", c.name, got, want)
		}
	}
	// Default allow out, through the union of the groups' egress.
	if v := p.Decide(model.Egress, TCP(addr("93.184.216.34"), 443)); !v.Allowed {
		t.Error("egress to the internet denied:", v.Reason())
	}
	if v := p.Decide(model.Egress, TCP(addr("2001:db8::1"), 443)); v.Allowed {
		t.Error("IPv6 egress allowed by an IPv4-only default rule")
	}
}

func sgStr(g model.GroupID) string { return string(g) }

func (p *Policy) memberFunc() func(model.GroupID) []netip.Addr {
	return func(g model.GroupID) []netip.Addr { return p.Members[g] }
}

func ids(rs []model.Rule) []model.RuleID {
	var out []model.RuleID
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func entryIDs(es []*Entry) []model.RuleID {
	var out []model.RuleID
	for _, e := range es {
		out = append(out, e.Rule.ID)
	}
	return out
}

func subset(a, b []model.RuleID) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func sameSet(a, b []model.RuleID) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestDefaultDenyInAllowOut(t *testing.T) {
	g := gid(1)
	c := Compile(Snapshot{
		Groups: []model.SecurityGroup{group(g, allOut4(), out("-1", "::/0"))},
		ENIs:   []model.ENI{iface(eniID(1), gs(g), addr("10.0.0.5")), iface(eniID(2), nil, addr("10.0.0.6"))},
	})
	p := c.Policy(eniID(1))
	for _, f := range []Flow{TCP(addr("1.2.3.4"), 22), UDP(addr("1.2.3.4"), 53), ICMP(addr("1.2.3.4"), 8, 0), TCP(addr("::1"), 22)} {
		if v := p.Decide(model.Ingress, f); v.Allowed {
			t.Errorf("inbound %s allowed", f)
		}
		if v := p.Decide(model.Egress, f); !v.Allowed {
			t.Errorf("outbound %s denied: %s", f, v.Reason())
		}
	}
	bare := c.Policy(eniID(2))
	v := bare.Decide(model.Egress, TCP(addr("1.2.3.4"), 443))
	if v.Allowed || v.Reason() != "no security group on the interface allows tcp/443 (default deny)" {
		t.Errorf("an interface without groups: %v %q", v.Allowed, v.Reason())
	}
	if c.Policy(eniID(9)) != nil {
		t.Error("policy for an unknown interface")
	}
}

func TestDefaultGroupSelfReference(t *testing.T) {
	def := gid(7)
	c := Compile(Snapshot{
		Groups: []model.SecurityGroup{group(def, in("-1", sgStr(def)), allOut4())},
		ENIs: []model.ENI{
			iface(eniID(1), gs(def), addr("172.31.0.5")),
			iface(eniID(2), gs(def), addr("172.31.16.9")),
			iface(eniID(3), nil, addr("172.31.0.6")),
		},
	})
	r := c.Path(Endpoint{eniID(2), addr("172.31.16.9")}, Endpoint{eniID(1), addr("172.31.0.5")}, model.ProtoTCP, 5432)
	if r.Outcome != Reaches {
		t.Errorf("members of the default group cannot talk: %s", r)
	}
	r = c.Path(Endpoint{eniID(3), addr("172.31.0.6")}, Endpoint{eniID(1), addr("172.31.0.5")}, model.ProtoTCP, 5432)
	if r.Outcome != DroppedByEgress {
		t.Errorf("interface without groups: %s", r)
	}
	r = c.Path(Endpoint{"", addr("203.0.113.5")}, Endpoint{eniID(1), addr("172.31.0.5")}, model.ProtoTCP, 22)
	if r.Outcome != DroppedByIngress || r.Outcome.UserSees(true) != "timeout" {
		t.Errorf("outside host reached a default-group instance: %s", r)
	}
	if !strings.Contains(r.String(), "no inbound rule of "+string(def)+" matches tcp/22 from 203.0.113.5") {
		t.Errorf("reason: %s", r)
	}
}

func TestPathOutcomes(t *testing.T) {
	web, app := gid(1), gid(2)
	c := Compile(Snapshot{
		Groups: []model.SecurityGroup{
			group(web, in("tcp", "203.0.113.5/32", 22, 22), out("tcp", "10.0.0.0/24", 5432, 5432)),
			group(app, in("tcp", sgStr(web), 5432, 5432), allOut4()),
		},
		ENIs: []model.ENI{iface(eniID(1), gs(web), addr("10.0.0.10")), iface(eniID(2), gs(app), addr("10.0.0.20"))},
	})
	webEP, appEP := Endpoint{eniID(1), addr("10.0.0.10")}, Endpoint{eniID(2), addr("10.0.0.20")}
	cases := []struct {
		name      string
		src, dst  Endpoint
		port      uint16
		want      Outcome
		listening bool
		sees      string
	}{
		{"authorised ssh, listener", Endpoint{"", addr("203.0.113.5")}, webEP, 22, Reaches, true, "connected"},
		{"authorised ssh, no listener", Endpoint{"", addr("203.0.113.5")}, webEP, 22, Reaches, false, "refused"},
		{"ssh from another address", Endpoint{"", addr("203.0.113.6")}, webEP, 22, DroppedByIngress, true, "timeout"},
		{"web to app database", webEP, appEP, 5432, Reaches, true, "connected"},
		{"web to app other port: egress", webEP, appEP, 5433, DroppedByEgress, true, "timeout"},
		{"app to web: web ingress", appEP, webEP, 5432, DroppedByIngress, true, "timeout"},
		{"web spoofing", Endpoint{eniID(1), addr("10.0.0.99")}, appEP, 5432, DroppedSpoofed, true, "timeout"},
		{"app to the internet", appEP, Endpoint{"", addr("93.184.216.34")}, 443, Reaches, true, "connected"},
		{"unknown interface", Endpoint{eniID(9), addr("10.0.0.9")}, appEP, 1, NoSuchInterface, true, "timeout"},
		{"unknown receiver", appEP, Endpoint{eniID(9), addr("10.0.0.9")}, 1, NoSuchInterface, true, "timeout"},
	}
	for _, tc := range cases {
		r := c.Path(tc.src, tc.dst, model.ProtoTCP, tc.port)
		if r.Outcome != tc.want || r.Outcome.UserSees(tc.listening) != tc.sees {
			t.Errorf("%s: %s (user sees %s)", tc.name, r, r.Outcome.UserSees(tc.listening))
		}
		if r.String() == "" || r.Outcome.String() == "unknown" {
			t.Errorf("%s: no text", tc.name)
		}
	}
	if id, ok := c.ENIByAddr("vpc-00000001", addr("10.0.0.20")); !ok || id != eniID(2) {
		t.Error("ENIByAddr")
	}
	if Outcome(0).String() != "unknown" {
		t.Error("zero outcome")
	}
}

func TestReasons(t *testing.T) {
	a, b := gid(1), gid(2)
	ssh := in("tcp", "203.0.113.5/32", 22, 22)
	c := Compile(Snapshot{
		Groups: []model.SecurityGroup{
			group(a, ssh, out("tcp", "10.0.0.0/8", 8000, 8080), out("icmp", "0.0.0.0/0", 3, 4), out("50", "0.0.0.0/0"), out("-1", "192.0.2.0/24")),
			group(b, in("udp", sgStr(a), 53, 53)),
		},
		ENIs: []model.ENI{iface(eniID(1), gs(a, b), addr("10.0.0.5"))},
	})
	p := c.Policy(eniID(1))
	cases := []struct {
		v    Verdict
		want string
	}{
		{p.Decide(model.Ingress, TCP(addr("203.0.113.5"), 22)), "allowed by " + string(ssh.ID) + " of " + string(a) + " (tcp 22 from 203.0.113.5/32)"},
		{p.Decide(model.Ingress, TCP(addr("198.51.100.7"), 22)), "no inbound rule of " + string(a) + ", " + string(b) + " matches tcp/22 from 198.51.100.7"},
		{p.Decide(model.Egress, TCP(addr("10.1.1.1"), 8001)), "(tcp 8000-8080 to 10.0.0.0/8)"},
		{p.Decide(model.Egress, ICMP(addr("10.1.1.1"), 3, 4)), "(icmp type 3 code 4 to 0.0.0.0/0)"},
		{p.Decide(model.Egress, Flow{50, addr("10.1.1.1"), 0}), "(protocol 50 to 0.0.0.0/0)"},
		{p.Decide(model.Egress, UDP(addr("192.0.2.9"), 9)), "(all traffic to 192.0.2.0/24)"},
		{p.Decide(model.Ingress, UDP(addr("10.0.0.5"), 53)), "(udp 53 from " + string(a) + ")"},
		{p.Decide(model.Egress, ICMP(addr("2001:db8::1"), 128, 0)), "no outbound rule of " + string(a) + ", " + string(b) + " matches icmpv6 type 128 code 0 to 2001:db8::1"},
		{Verdict{}, "no policy"},
	}
	for _, tc := range cases {
		if got := tc.v.Reason(); !strings.Contains(got, tc.want) {
			t.Errorf("reason %q does not contain %q", got, tc.want)
		}
	}
}

func TestPrefixListsAndMissingReferences(t *testing.T) {
	g := gid(1)
	pl := model.PrefixList{ID: "pl-0123456789abcdef0", Entries: []model.PrefixListEntry{{CIDR: netip.MustParsePrefix("192.0.2.0/24")}, {CIDR: netip.MustParsePrefix("198.51.100.0/24")}}}
	c := Compile(Snapshot{
		Groups: []model.SecurityGroup{group(g,
			in("tcp", string(pl.ID), 443, 443),
			in("tcp", "pl-00000000000000009", 80, 80), // a list that is gone allows nothing
			in("tcp", sgStr(gid(99)), 22, 22),         // a group without members allows nothing
		)},
		ENIs:        []model.ENI{iface(eniID(1), gs(g, gid(42)), addr("10.0.0.5"))}, // gid(42) is gone
		PrefixLists: []model.PrefixList{pl},
	})
	p := c.Policy(eniID(1))
	for f, want := range map[Flow]bool{
		TCP(addr("192.0.2.7"), 443):    true,
		TCP(addr("198.51.100.7"), 443): true,
		TCP(addr("203.0.113.7"), 443):  false,
		TCP(addr("192.0.2.7"), 80):     false,
		TCP(addr("10.0.0.9"), 22):      false,
	} {
		if v := p.Decide(model.Ingress, f); v.Allowed != want {
			t.Errorf("%s from %s: allowed = %v", f, f.Peer, v.Allowed)
		}
	}
}

func TestSidesAreShared(t *testing.T) {
	a, b := gid(1), gid(2)
	c := Compile(Snapshot{
		Groups: []model.SecurityGroup{group(a, allOut4()), group(b, allOut4())},
		ENIs: []model.ENI{
			iface(eniID(1), gs(a, b), addr("10.0.0.1")), iface(eniID(2), gs(a, b), addr("10.0.0.2")), iface(eniID(3), gs(b, a), addr("10.0.0.3")),
		},
	})
	if c.Policy(eniID(1)).Egress != c.Policy(eniID(2)).Egress {
		t.Error("interfaces with the same groups compiled their sides twice")
	}
	if c.Policy(eniID(1)).Ingress == c.Policy(eniID(1)).Egress {
		t.Error("ingress and egress share a side")
	}
	if got := c.Policies(); len(got) != 3 || got[0].ENI != eniID(1) || got[2].ENI != eniID(3) {
		t.Error("Policies order")
	}
}

func TestDecideAllocatesNothing(t *testing.T) {
	c, flows := bigSnapshot(2000, 200, 500)
	p := c.Policy(eniID(0))
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		p.Decide(model.Ingress, flows[i%len(flows)])
		i++
	})
	if allocs != 0 {
		t.Fatalf("Decide allocates %.1f times per call", allocs)
	}
}

// TestCompileOnly: interfaces outside Snapshot.Only get no policy but stay
// members of their groups and owners of their addresses.
func TestCompileOnly(t *testing.T) {
	web, db := gid(1), gid(2)
	s := Snapshot{
		Groups: []model.SecurityGroup{group(web, allOut4()), group(db, in("tcp", string(web), 5432, 5432))},
		ENIs:   []model.ENI{iface(eniID(1), gs(web), addr("10.0.0.1")), iface(eniID(2), gs(db), addr("10.0.0.2"))},
		Only:   map[model.ENIID]bool{eniID(2): true},
	}
	c := Compile(s)
	if c.Policy(eniID(1)) != nil {
		t.Error("an interface outside Only got a policy")
	}
	p := c.Policy(eniID(2))
	if p == nil || !p.Decide(model.Ingress, TCP(addr("10.0.0.1"), 5432)).Allowed {
		t.Fatal("the member outside Only does not reach the database")
	}
	if id, ok := c.ENIByAddr("vpc-00000001", addr("10.0.0.1")); !ok || id != eniID(1) {
		t.Errorf("ENIByAddr of an interface outside Only: %v %v", id, ok)
	}
}
