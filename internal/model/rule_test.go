package model

import (
	"encoding/json"
	"strings"
	"testing"
)

const owner = AccountID("123456789012")

func perm(proto string, from, to *int32, cidrs ...string) PermissionSpec {
	p := PermissionSpec{Protocol: proto, FromPort: from, ToPort: to}
	for _, c := range cidrs {
		if strings.Contains(c, ":") {
			p.IPv6 = append(p.IPv6, SourceSpec{Value: c})
		} else {
			p.IPv4 = append(p.IPv4, SourceSpec{Value: c})
		}
	}
	return p
}

func TestPermissionSpecRules(t *testing.T) {
	p := perm("6", i32(22), i32(22), "10.1.2.3/16", "2001:db8::1/48")
	p.PrefixLists = []SourceSpec{{Value: "pl-63a5400a", Description: "s3"}}
	p.Groups = []GroupSourceSpec{{GroupID: "sg-0123456789abcdef0", Description: "bastion"}, {GroupID: "sg-51530134", UserID: "210987654321"}}
	rules, err := p.Rules(Ingress, owner, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 5 {
		t.Fatalf("want one rule per source, got %d", len(rules))
	}
	want := []string{
		`peer: 10.1.0.0/16, TCP, from port: 22, to port: 22, ALLOW`,
		`peer: 2001:db8::/48, TCP, from port: 22, to port: 22, ALLOW`,
		`peer: pl-63a5400a, TCP, from port: 22, to port: 22, ALLOW`,
		`peer: sg-0123456789abcdef0, TCP, from port: 22, to port: 22, ALLOW`,
		`peer: sg-51530134, TCP, from port: 22, to port: 22, ALLOW`,
	}
	for i, r := range rules {
		if r.Describe() != want[i] || r.Direction != Ingress || !r.Protocol.Is(ProtoTCP) {
			t.Errorf("rule %d = %s", i, r.Describe())
		}
	}
	if rules[3].Peer.GroupOwner != owner || rules[4].Peer.GroupOwner != "210987654321" {
		t.Error("group owners", rules[3].Peer, rules[4].Peer)
	}
	if rules[2].Description != "s3" || rules[3].Description != "bastion" {
		t.Error("descriptions")
	}
	if !rules[1].Peer.IsIPv6() || rules[0].Peer.IsIPv6() || rules[3].Peer.IsIPv6() {
		t.Error("IsIPv6")
	}
}

func TestPermissionSpecErrors(t *testing.T) {
	cases := []struct {
		name string
		p    PermissionSpec
		code string
		msg  string
	}{
		{"no protocol", perm("", i32(22), i32(22), "10.0.0.0/8"), CodeInvalidParameterValue, "Invalid value 'null' for protocol"},
		{"all", perm("all", nil, nil, "10.0.0.0/8"), CodeInvalidParameterValue, "Invalid value 'all' for IP protocol. Unknown protocol."},
		{"no ports", perm("tcp", nil, nil, "10.0.0.0/8"), CodeInvalidParameterValue, "Must specify both from and to ports with TCP/UDP."},
		{"no source", perm("tcp", i32(22), i32(22)), CodeMissingParameter, "Missing source specification: include source security group or CIDR information"},
		{"v6 in v4 field", PermissionSpec{Protocol: "tcp", FromPort: i32(1), ToPort: i32(2), IPv4: []SourceSpec{{Value: "::/0"}}}, CodeInvalidParameterValue, "CIDR block ::/0 is malformed"},
		{"v4 in v6 field", PermissionSpec{Protocol: "tcp", FromPort: i32(1), ToPort: i32(2), IPv6: []SourceSpec{{Value: "0.0.0.0/0"}}}, CodeInvalidParameterValue, "CIDR block 0.0.0.0/0 is malformed"},
		{"bad prefix list", PermissionSpec{Protocol: "-1", PrefixLists: []SourceSpec{{Value: "s3"}}}, CodeInvalidPrefixListIDMalformed, ""},
		{"bad group id", PermissionSpec{Protocol: "-1", Groups: []GroupSourceSpec{{GroupID: "badcompany"}}}, CodeInvalidGroupIDMalformed, ""},
		{"short group id", PermissionSpec{Protocol: "-1", Groups: []GroupSourceSpec{{GroupID: "sg-123abc"}}}, CodeInvalidGroupNotFound, "The security group 'sg-123abc' does not exist"},
		{"unresolved name", PermissionSpec{Protocol: "-1", Groups: []GroupSourceSpec{{GroupName: "web"}}}, CodeInvalidGroupNotFound, "The security group 'web' does not exist"},
		{"empty pair", PermissionSpec{Protocol: "-1", Groups: []GroupSourceSpec{{}}}, CodeMissingParameter, ""},
		{"bad owner", PermissionSpec{Protocol: "-1", Groups: []GroupSourceSpec{{GroupID: "sg-51530134", UserID: "amazon"}}}, CodeInvalidParameterValue, ""},
		{"bad description", PermissionSpec{Protocol: "-1", IPv4: []SourceSpec{{Value: "10.0.0.0/8", Description: "<script>"}}}, CodeInvalidParameterValue, "Invalid rule description"},
		{"bad v6 description", PermissionSpec{Protocol: "-1", IPv6: []SourceSpec{{Value: "::/0", Description: "\x00"}}}, CodeInvalidParameterValue, "Invalid rule description"},
		{"bad pl description", PermissionSpec{Protocol: "-1", PrefixLists: []SourceSpec{{Value: "pl-63a5400a", Description: "\""}}}, CodeInvalidParameterValue, "Invalid rule description"},
		{"bad pair description", PermissionSpec{Protocol: "-1", Groups: []GroupSourceSpec{{GroupID: "sg-51530134", Description: "é"}}}, CodeInvalidParameterValue, "Invalid rule description"},
	}
	for _, c := range cases {
		_, err := c.p.Rules(Ingress, owner, false)
		if CodeOf(err) != c.code || !strings.Contains(errMsg(err), c.msg) {
			t.Errorf("%s: err = %v, want %s %q", c.name, err, c.code, c.msg)
		}
	}
}

func errMsg(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestRuleKeysCanonical(t *testing.T) {
	a, err := perm("6", i32(22), i32(22), "10.1.2.3/16").Rules(Ingress, owner, false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := perm("TCP", i32(22), i32(22), "10.1.0.0/16").Rules(Ingress, owner, false)
	if err != nil {
		t.Fatal(err)
	}
	b[0].Description = "different description, same rule"
	if a[0].Key() != b[0].Key() {
		t.Fatal("canonical forms of one rule have different keys")
	}
	// -1 ignores ports on authorize: with and without them it is one rule.
	c, _ := perm("-1", i32(22), i32(22), "0.0.0.0/0").Rules(Egress, owner, false)
	d, _ := perm("-1", nil, nil, "5.0.0.0/0").Rules(Egress, owner, false)
	if c[0].Key() != d[0].Key() {
		t.Fatal("-1 rules with and without ports differ")
	}
	e, _ := perm("-1", nil, nil, "0.0.0.0/0").Rules(Ingress, owner, false)
	if e[0].Key() == d[0].Key() {
		t.Fatal("direction is part of the key")
	}
	if err := CheckNoRepeats(append(a, b...)); CodeOf(err) != CodeInvalidParameterValue || !strings.Contains(err.Error(), "The same permission must not appear multiple times") {
		t.Fatal(err)
	}
	if err := CheckNoRepeats(append(a, e...)); err != nil {
		t.Fatal(err)
	}
}

func TestRuleRendering(t *testing.T) {
	mk := func(p PermissionSpec) Rule {
		t.Helper()
		rs, err := p.Rules(Ingress, owner, false)
		if err != nil {
			t.Fatal(err)
		}
		return rs[0]
	}
	cases := []struct {
		r        Rule
		describe string
		from, to int32
		has      bool
		span     PortRange
		svc      string
	}{
		{mk(perm("tcp", i32(22), i32(22), "0.0.0.0/0")), `peer: 0.0.0.0/0, TCP, from port: 22, to port: 22, ALLOW`, 22, 22, true, PortRange{22, 22}, "SSH"},
		{mk(perm("udp", i32(53), i32(53), "10.0.0.0/8")), `peer: 10.0.0.0/8, UDP, from port: 53, to port: 53, ALLOW`, 53, 53, true, PortRange{53, 53}, "DNS (UDP)"},
		{mk(perm("-1", nil, nil, "0.0.0.0/0")), `peer: 0.0.0.0/0, ALL, ALLOW`, -1, -1, false, AllPorts, "All traffic"},
		{mk(perm("50", nil, nil, "0.0.0.0/0")), `peer: 0.0.0.0/0, protocol: 50, ALLOW`, -1, -1, false, AllPorts, "Custom protocol"},
		{mk(perm("icmp", i32(8), i32(-1), "0.0.0.0/0")), `peer: 0.0.0.0/0, ICMP, type: 8, code: -1, ALLOW`, 8, -1, true, PortRange{0x800, 0x8ff}, "Custom ICMP - IPv4"},
		{mk(perm("icmpv6", nil, nil, "::/0")), `peer: ::/0, ICMPV6, type: -1, code: -1, ALLOW`, -1, -1, true, AllPorts, "All ICMP - IPv6"},
		{mk(perm("tcp", i32(0), i32(65535), "0.0.0.0/0")), `peer: 0.0.0.0/0, TCP, from port: 0, to port: 65535, ALLOW`, 0, 65535, true, AllPorts, "All TCP"},
		{mk(perm("tcp", i32(8000), i32(8080), "0.0.0.0/0")), `peer: 0.0.0.0/0, TCP, from port: 8000, to port: 8080, ALLOW`, 8000, 8080, true, PortRange{8000, 8080}, "Custom TCP"},
		{mk(perm("udp", i32(1), i32(2), "0.0.0.0/0")), `peer: 0.0.0.0/0, UDP, from port: 1, to port: 2, ALLOW`, 1, 2, true, PortRange{1, 2}, "Custom UDP"},
		{mk(perm("icmpv6", i32(2), i32(0), "::/0")), `peer: ::/0, ICMPV6, type: 2, code: 0, ALLOW`, 2, 0, true, PortRange{0x200, 0x200}, "Custom ICMP - IPv6"},
	}
	for _, c := range cases {
		if got := c.r.Describe(); got != c.describe {
			t.Errorf("Describe = %s, want %s", got, c.describe)
		}
		from, to, has := c.r.WirePorts()
		if from != c.from || to != c.to || has != c.has {
			t.Errorf("%s: WirePorts = %d %d %v", c.describe, from, to, has)
		}
		if c.r.Span() != c.span {
			t.Errorf("%s: Span = %v", c.describe, c.r.Span())
		}
		if got := ServiceName(c.r); got != c.svc {
			t.Errorf("%s: ServiceName = %s, want %s", c.describe, got, c.svc)
		}
	}
	dup := cases[0].r.DuplicateError()
	if dup.Error() != `InvalidPermission.Duplicate: the specified rule "peer: 0.0.0.0/0, TCP, from port: 22, to port: 22, ALLOW" already exists` {
		t.Error(dup)
	}
	if cases[0].r.PermissionKey() != cases[6].r.PermissionKey() && cases[0].r.PermissionKey() == cases[7].r.PermissionKey() {
		t.Error("permission keys")
	}
}

func TestRuleJSONRoundTrip(t *testing.T) {
	p := perm("icmp", i32(3), i32(4), "10.0.0.0/8", "fd00::/8")
	p.Groups = []GroupSourceSpec{{GroupID: "sg-0123456789abcdef0"}}
	p.PrefixLists = []SourceSpec{{Value: "pl-63a5400a"}}
	rules, err := p.Rules(Egress, owner, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		r.ID = "sgr-0123456789abcdef0"
		r.Tags = Tags{{"k", "v"}}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var back Rule
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if back.Key() != r.Key() || back.ID != r.ID || len(back.Tags) != 1 {
			t.Fatalf("round trip changed the rule: %s -> %+v", b, back)
		}
	}
}

func TestPeerStrings(t *testing.T) {
	if (Peer{}).String() != "none" || PrefixListPeer("pl-1").String() != "pl-1" || GroupPeer("sg-1", owner).String() != "sg-1" {
		t.Error("peer strings")
	}
	if CIDRPeer(pfx("10.1.2.3/8")).Prefix.String() != "10.0.0.0/8" {
		t.Error("CIDRPeer canonicalizes")
	}
	if Ingress.String() != "ingress" || Egress.String() != "egress" {
		t.Error("direction")
	}
}

func TestServicesTable(t *testing.T) {
	for _, name := range []string{"SSH", "FTP", "SFTP", "HTTP", "HTTPS", "RDP", "SMTP", "SMTPS", "POP3", "POP3S", "IMAP", "IMAPS", "LDAP", "SMB", "MS SQL", "Oracle-RDS", "NFS", "MySQL/Aurora", "PostgreSQL", "Redis", "WinRM-HTTP", "WinRM-HTTPS", "All TCP", "All UDP", "All traffic"} {
		if len(LookupService(name)) != 1 {
			t.Errorf("LookupService(%q) = %v", name, LookupService(name))
		}
	}
	want := map[string]uint16{"ssh": 22, "sftp": 22, "ftp": 21, "http": 80, "https": 443, "rdp": 3389, "mysql-aurora": 3306, "postgresql": 5432, "ms-sql": 1433}
	for name, port := range want {
		s := LookupService(name)
		if len(s) != 1 || !s[0].Protocol.Is(ProtoTCP) || s[0].Ports != (PortRange{port, port}) {
			t.Errorf("%s = %+v", name, s)
		}
	}
	dns := LookupService("dns")
	if len(dns) != 2 || !dns[0].Protocol.Is(ProtoUDP) || !dns[1].Protocol.Is(ProtoTCP) {
		t.Errorf("dns = %+v", dns)
	}
	if len(LookupService("d")) != 0 || len(LookupService("custom tcp")) != 0 || len(LookupService("gopher")) != 0 {
		t.Error("lookup matched what it should not")
	}
}
