package audit

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policy"
	"palisade.dev/palisade/internal/policytest"
)

// Tiny builders: a case reads like the rules it audits (policytest's,
// under short names).
var (
	addr  = policytest.Addr
	gid   = policytest.GroupID
	eniID = policytest.ENIID
	in    = policytest.In
	out   = policytest.Out
	group = policytest.NamedGroup
	iface = policytest.ENI
	gs    = policytest.Groups
)

// found renders findings as "control group rule" lines for comparison.
func found(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s %s %s %s", f.Control, f.Severity, f.Group, f.Rule))
	}
	return out
}

func want(control string, sev Severity, g model.GroupID, r model.RuleID) string {
	return fmt.Sprintf("%s %s %s %s", control, sev, g, r)
}

func TestCleanAccountHasOnlyEC22(t *testing.T) {
	def := group(gid(1), "default", in("-1", string(gid(1))), out("-1", "0.0.0.0/0"))
	got := found(Run(Input{Snapshot: policy.Snapshot{Groups: []model.SecurityGroup{def}}}))
	if !slices.Equal(got, []string{want("EC2.2", High, gid(1), "")}) {
		t.Fatalf("clean account: %v", got)
	}
	def.Rules = nil
	if got := Run(Input{Snapshot: policy.Snapshot{Groups: []model.SecurityGroup{def}}}); len(got) != 0 {
		t.Fatalf("closed default group: %v", found(got))
	}
}

func TestOpenToTheWorld(t *testing.T) {
	ssh := in("tcp", "0.0.0.0/0", 22, 22)
	rdp6 := in("tcp", "::/0", 3389, 3389)
	web := in("tcp", "0.0.0.0/0", 443, 443)
	alt := in("tcp", "0.0.0.0/0", 8443, 8443)
	dns := in("udp", "0.0.0.0/0", 53, 53)
	ping := in("icmp", "0.0.0.0/0", 8, -1)
	everything := in("-1", "::/0")
	office := in("tcp", "203.0.113.0/24", 22, 22)
	g := group(gid(2), "web", ssh, rdp6, web, alt, dns, ping, everything, office, out("-1", "0.0.0.0/0"))
	s := policy.Snapshot{Groups: []model.SecurityGroup{g}, ENIs: []model.ENI{iface(eniID(1), gs(gid(2)), addr("10.0.0.5"))}}
	got := found(Run(Input{Snapshot: s}))
	wantAll := []string{
		want("EC2.19", Critical, gid(2), ssh.ID),
		want("EC2.19", Critical, gid(2), rdp6.ID),
		want("EC2.19", Critical, gid(2), everything.ID),
		want("EC2.13", High, gid(2), ssh.ID),
		want("EC2.13", High, gid(2), everything.ID),
		want("EC2.14", High, gid(2), rdp6.ID),
		want("EC2.14", High, gid(2), everything.ID),
		want("EC2.18", High, gid(2), ssh.ID),
		want("EC2.18", High, gid(2), rdp6.ID),
		want("EC2.18", High, gid(2), alt.ID),
		want("EC2.18", High, gid(2), dns.ID),
		want("EC2.18", High, gid(2), everything.ID),
	}
	slices.Sort(wantAll[:3])
	if !slices.Equal(got[:len(wantAll)], wantAll) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantAll, "\n"))
	}
	// Authorizing 22, 443, 3389 and 8443 leaves EC2.18 to udp and all traffic.
	fs := Run(Input{Snapshot: s, Config: Config{AuthorizedPorts: []model.PortRange{{From: 22, To: 22}, {From: 443, To: 443}, {From: 3389, To: 3389}, {From: 8443, To: 8443}}}})
	var ec218 []model.RuleID
	for _, f := range fs {
		if f.Control == "EC2.18" {
			ec218 = append(ec218, f.Rule)
		}
	}
	if !slices.Equal(ec218, []model.RuleID{dns.ID, everything.ID}) {
		t.Fatalf("EC2.18 with authorized 22, 443, 3389, 8443: %v", ec218)
	}
}

func TestUnusedShadowedRedundantAndLarge(t *testing.T) {
	wide := in("tcp", "10.0.0.0/8", 0, 65535)
	narrow := in("tcp", "10.1.0.0/16", 22, 22) // shadowed by wide
	other := in("udp", "10.1.0.0/16", 53, 53)
	app := group(gid(3), "app", wide, narrow, other)
	dnsTwice := in("udp", "10.0.0.0/8", 53, 53) // covers app's udp rule on every interface of app
	lone := group(gid(4), "lone")
	var many []model.Rule
	for i := range 51 {
		many = append(many, in("tcp", fmt.Sprintf("192.0.2.%d/32", i), 5000, 5000))
	}
	big := group(gid(5), "big", many...)
	dns := group(gid(6), "dns", dnsTwice)
	s := policy.Snapshot{
		Groups: []model.SecurityGroup{app, lone, big, dns},
		ENIs:   []model.ENI{iface(eniID(1), gs(gid(3), gid(6)), addr("10.0.0.5")), iface(eniID(2), gs(gid(3), gid(6), gid(5)), addr("10.0.0.6"))},
	}
	got := found(Run(Input{Snapshot: s}))
	wantAll := []string{
		want("EC2.22", Medium, gid(4), ""),
		want("PAL.1", Low, gid(3), narrow.ID),
		want("PAL.2", Low, gid(3), other.ID),
		want("PAL.3", Low, gid(5), ""),
	}
	if !slices.Equal(got, wantAll) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantAll, "\n"))
	}
	// On an interface without the dns group, app's udp rule is needed.
	s.ENIs = append(s.ENIs, iface(eniID(3), gs(gid(3)), addr("10.0.0.7")))
	for _, f := range Run(Input{Snapshot: s}) {
		if f.Control == "PAL.2" {
			t.Fatalf("PAL.2 although one interface needs the rule: %+v", f)
		}
	}
}

// TestTwinRules: the same rule in two groups of one interface (the default
// egress) is not redundant; a CIDR and a prefix list holding just it are
// reported once, the later one.
func TestTwinRules(t *testing.T) {
	a, b := out("-1", "0.0.0.0/0"), out("-1", "0.0.0.0/0")
	s := policy.Snapshot{
		Groups: []model.SecurityGroup{group(gid(7), "a", a), group(gid(8), "b", b)},
		ENIs:   []model.ENI{iface(eniID(1), gs(gid(7), gid(8)), addr("10.0.0.5"))},
	}
	if got := found(Run(Input{Snapshot: s})); len(got) != 0 {
		t.Fatalf("default egress twins: %v", got)
	}
	pl := model.PrefixListID("pl-00000000000000001")
	cidr, list := in("tcp", "10.9.0.0/16", 80, 80), in("tcp", string(pl), 80, 80)
	s.Groups = []model.SecurityGroup{group(gid(7), "a", cidr), group(gid(8), "b", list)}
	s.PrefixLists = []model.PrefixList{{ID: pl, Entries: []model.PrefixListEntry{{CIDR: netip.MustParsePrefix("10.9.0.0/16")}}}}
	if got := found(Run(Input{Snapshot: s})); !slices.Equal(got, []string{want("PAL.2", Low, gid(8), list.ID)}) {
		t.Fatalf("a CIDR and a list of just it: %v", got)
	}
}

func TestCoveredByUnion(t *testing.T) {
	p := netip.MustParsePrefix
	cases := []struct {
		w     string
		cover []string
		want  bool
	}{
		{"10.0.0.0/8", []string{"0.0.0.0/0"}, true},
		{"10.0.0.0/8", []string{"10.0.0.0/9", "10.128.0.0/9"}, true},
		{"10.0.0.0/8", []string{"10.128.0.0/9", "10.0.0.0/10", "10.64.0.0/10"}, true},
		{"10.0.0.0/8", []string{"10.0.0.0/9", "10.192.0.0/10"}, false},
		{"10.0.0.0/8", []string{"::/0"}, false},
		{"10.1.2.3/32", []string{"10.1.2.3/32"}, true},
	}
	for _, c := range cases {
		var cover []netip.Prefix
		for _, s := range c.cover {
			cover = append(cover, p(s))
		}
		if got := covered(p(c.w), cover); got != c.want {
			t.Errorf("covered(%s, %v) = %v", c.w, c.cover, got)
		}
	}
}

func TestParseSeverity(t *testing.T) {
	for _, s := range []string{"critical", "HIGH", "Medium", "low", "informational"} {
		if _, err := ParseSeverity(s); err != nil {
			t.Error(err)
		}
	}
	if _, err := ParseSeverity("severe"); err == nil {
		t.Error("severe parsed")
	}
}
