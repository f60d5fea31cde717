package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

func i32(v int32) *int32 { return &v }

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// wantCode fails unless err carries code (or is nil when code is "").
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := CodeOf(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func TestErrorCodeOf(t *testing.T) {
	e := Errorf(CodeInvalidGroupNotFound, "The security group '%s' does not exist", "sg-1")
	if e.Error() != "InvalidGroup.NotFound: The security group 'sg-1' does not exist" {
		t.Fatal(e.Error())
	}
	wrapped := fmt.Errorf("authorize: %w", e)
	if CodeOf(wrapped) != CodeInvalidGroupNotFound {
		t.Fatal("code lost through wrapping")
	}
	if CodeOf(errors.New("plain")) != "" || CodeOf(nil) != "" {
		t.Fatal("plain errors have no code")
	}
}

func TestParseID(t *testing.T) {
	cases := []struct {
		kind Kind
		in   string
		code string
	}{
		{KindGroup, "sg-0123456789abcdef0", ""},
		{KindGroup, "sg-51530134", ""},                     // legacy 8 digits
		{KindGroup, "sg-123abc", CodeInvalidGroupNotFound}, // well formed, can't exist (§5.1)
		{KindGroup, "foobar", CodeInvalidGroupIDMalformed},
		{KindGroup, "", CodeInvalidGroupIDMalformed},
		{KindGroup, "sg-", CodeInvalidGroupIDMalformed},
		{KindGroup, "sg-0123456789ABCDEF0", CodeInvalidGroupIDMalformed},
		{KindGroup, "sgr-0123456789abcdef0", CodeInvalidGroupIDMalformed},
		{KindRule, "sgr-0123456789abcdef0", ""},
		{KindRule, "sgr-00000000", ""},
		{KindRule, "sg-0123456789abcdef0", CodeInvalidRuleIDMalformed},
		{KindVPC, "vpc-c05da2a6", ""},
		{KindVPC, "vpc-xxxxxx", CodeInvalidVpcIDMalformed},
		{KindSubnet, "subnet-0123456789abcdef0", ""},
		{KindInstance, "i-0123456789abcdef0", ""},
		{KindInstance, "i-123", CodeInvalidInstanceIDNotFound},
		{KindENI, "eni-0123456789abcdef0", ""},
		{KindENI, "eni-zz", CodeInvalidNetworkInterfaceIDMalformed},
		{KindPrefixList, "pl-63a5400a", ""},
		{KindPrefixList, "pl-", CodeInvalidPrefixListIDMalformed},
		{KindHost, "h-0123456789abcdef0", ""},
		{KindHost, "h-0123", CodeInvalidHostIDNotFound},
		{KindHost, "host-1", CodeInvalidHostIDMalformed},
		{KindHost, "i-0123456789abcdef0", CodeInvalidHostIDMalformed},
	}
	for _, c := range cases {
		got, err := ParseID(c.kind, c.in)
		if CodeOf(err) != c.code {
			t.Errorf("ParseID(%v, %q) error = %v, want code %q", c.kind, c.in, err, c.code)
		}
		if err == nil && got != c.in {
			t.Errorf("ParseID(%q) = %q", c.in, got)
		}
	}
}

func TestParseIDMessages(t *testing.T) {
	_, err := ParseGroupID("foobar")
	if err.Error() != "InvalidGroupId.Malformed: The security group ID 'foobar' is malformed" {
		t.Errorf("malformed message: %v", err)
	}
	_, err = ParseGroupID("sg-123abc")
	if err.Error() != "InvalidGroup.NotFound: The security group 'sg-123abc' does not exist" {
		t.Errorf("not found message: %v", err)
	}
	_, err = ParseRuleID("sgr-0f80c7e764c1")
	if err.Error() != "InvalidSecurityGroupRuleId.NotFound: The security group rule ID 'sgr-0f80c7e764c1' does not exist" {
		t.Errorf("rule message: %v", err)
	}
}

func TestTypedParsers(t *testing.T) {
	id := "0123456789abcdef0"
	if v, err := ParseGroupID("sg-" + id); err != nil || v != GroupID("sg-"+id) {
		t.Error("group", v, err)
	}
	if v, err := ParseRuleID("sgr-" + id); err != nil || v != RuleID("sgr-"+id) {
		t.Error("rule", v, err)
	}
	if v, err := ParseVpcID("vpc-" + id); err != nil || v != VpcID("vpc-"+id) {
		t.Error("vpc", v, err)
	}
	if v, err := ParseSubnetID("subnet-" + id); err != nil || v != SubnetID("subnet-"+id) {
		t.Error("subnet", v, err)
	}
	if v, err := ParseInstanceID("i-" + id); err != nil || v != InstanceID("i-"+id) {
		t.Error("instance", v, err)
	}
	if v, err := ParseENIID("eni-" + id); err != nil || v != ENIID("eni-"+id) {
		t.Error("eni", v, err)
	}
	if v, err := ParsePrefixListID("pl-" + id); err != nil || v != PrefixListID("pl-"+id) {
		t.Error("pl", v, err)
	}
	if !IsInstanceID("i-"+id) || IsInstanceID("client") || IsInstanceID("i-") {
		t.Error("IsInstanceID")
	}
	if KindSubnet.Prefix() != "subnet-" || KindENI.String() != "network interface" {
		t.Error("kind info")
	}
}

func TestNewID(t *testing.T) {
	src := rand.NewChaCha8([32]byte{1})
	seen := map[string]bool{}
	for _, k := range []Kind{KindGroup, KindRule, KindVPC, KindSubnet, KindInstance, KindENI, KindPrefixList, KindReservation, KindAttachment} {
		for range 100 {
			id, err := NewID(k, src)
			if err != nil {
				t.Fatal(err)
			}
			if len(id) != len(k.Prefix())+IDDigits || seen[id] {
				t.Fatalf("bad or repeated id %q", id)
			}
			seen[id] = true
			if k <= KindPrefixList {
				if _, err := ParseID(k, id); err != nil {
					t.Fatalf("generated id %q does not parse: %v", id, err)
				}
			}
		}
	}
	if _, err := NewID(KindGroup, bytes.NewReader([]byte{1, 2})); err == nil {
		t.Fatal("short random source accepted")
	}
}

func TestParseAccountIDAndRegion(t *testing.T) {
	for in, ok := range map[string]bool{"123456789012": true, "000000000001": true, "12345678901": false, "1234567890123": false, "12345678901a": false, "": false} {
		_, err := ParseAccountID(in)
		if (err == nil) != ok {
			t.Errorf("ParseAccountID(%q) err = %v", in, err)
		}
	}
	for in, ok := range map[string]bool{"us-east-1": true, "eu-central-2": true, "us-gov-west-1": true, "ap-southeast-10": true,
		"us-east": false, "US-east-1": false, "us--1": false, "us-east-x": false, "": false, "us-east-1-": false} {
		if ValidRegion(in) != ok {
			t.Errorf("ValidRegion(%q) = %v", in, !ok)
		}
	}
}

func TestParseProtocol(t *testing.T) {
	cases := []struct {
		in, want, code string
	}{
		{"tcp", "tcp", ""}, {"TCP", "tcp", ""}, {"Tcp", "tcp", ""}, {"6", "tcp", ""},
		{"udp", "udp", ""}, {"17", "udp", ""}, {"ICMP", "icmp", ""}, {"1", "icmp", ""},
		{"icmpv6", "icmpv6", ""}, {"IcmpV6", "icmpv6", ""}, {"58", "icmpv6", ""},
		{"-1", "-1", ""}, {"0", "0", ""}, {"50", "50", ""}, {"255", "255", ""}, {"006", "tcp", ""},
		{"all", "", CodeInvalidParameterValue}, {"ALL", "", CodeInvalidParameterValue},
		{"", "", CodeInvalidParameterValue}, {"256", "", CodeInvalidParameterValue},
		{"-2", "", CodeInvalidParameterValue}, {"bogus", "", CodeInvalidParameterValue},
		{"+6", "", CodeInvalidParameterValue}, {" 6", "", CodeInvalidParameterValue},
	}
	for _, c := range cases {
		p, err := ParseProtocol(c.in)
		if CodeOf(err) != c.code {
			t.Errorf("ParseProtocol(%q) err = %v, want %q", c.in, err, c.code)
			continue
		}
		if err == nil && p.String() != c.want {
			t.Errorf("ParseProtocol(%q) = %s, want %s", c.in, p, c.want)
		}
	}
	_, err := ParseProtocol("all")
	if err.Error() != "InvalidParameterValue: Invalid value 'all' for IP protocol. Unknown protocol." {
		t.Error(err)
	}
	_, err = ParseProtocol("")
	if !strings.Contains(err.Error(), "Invalid value 'null' for protocol. VPC security group rules must specify protocols explicitly.") {
		t.Error(err)
	}
}

func TestProtocolMethods(t *testing.T) {
	tcp := ProtocolOf(ProtoTCP)
	if !tcp.Is(ProtoTCP) || tcp.Is(ProtoUDP) || tcp.IsAll() || !tcp.Matches(ProtoTCP) || tcp.Matches(ProtoUDP) {
		t.Error("tcp")
	}
	if !AllProtocols.Matches(ProtoUDP) || AllProtocols.Is(0) || !AllProtocols.IsAll() {
		t.Error("all")
	}
	if n, ok := AllProtocols.Number(); ok || n != 0 {
		t.Error("all has no number")
	}
	b, _ := json.Marshal(struct{ P Protocol }{ProtocolOf(50)})
	if string(b) != `{"P":"50"}` {
		t.Error(string(b))
	}
	var back struct{ P Protocol }
	if err := json.Unmarshal([]byte(`{"P":"-1"}`), &back); err != nil || !back.P.IsAll() {
		t.Error(back, err)
	}
	if err := json.Unmarshal([]byte(`{"P":"all"}`), &back); err == nil {
		t.Error("all unmarshalled")
	}
}

func TestParsePorts(t *testing.T) {
	tcp, udp, icmp, icmp6 := ProtocolOf(ProtoTCP), ProtocolOf(ProtoUDP), ProtocolOf(ProtoICMP), ProtocolOf(ProtoICMPv6)
	cases := []struct {
		name     string
		p        Protocol
		from, to *int32
		strict   bool
		ports    PortRange
		icmp     ICMPFilter
		code     string
	}{
		{"tcp 22", tcp, i32(22), i32(22), false, PortRange{22, 22}, ICMPFilter{}, ""},
		{"udp range", udp, i32(1000), i32(2000), false, PortRange{1000, 2000}, ICMPFilter{}, ""},
		{"tcp all", tcp, i32(0), i32(65535), false, AllPorts, ICMPFilter{}, ""},
		{"tcp missing to", tcp, i32(22), nil, false, PortRange{}, ICMPFilter{}, CodeInvalidParameterValue},
		{"tcp missing both", tcp, nil, nil, false, PortRange{}, ICMPFilter{}, CodeInvalidParameterValue},
		{"tcp -1", tcp, i32(-1), i32(-1), false, PortRange{}, ICMPFilter{}, CodeInvalidPermissionMalformed},
		{"tcp 70000", tcp, i32(1), i32(70000), false, PortRange{}, ICMPFilter{}, CodeInvalidPermissionMalformed},
		{"tcp reversed", tcp, i32(100), i32(10), false, PortRange{}, ICMPFilter{}, CodeInvalidParameterValue},
		{"icmp echo", icmp, i32(8), i32(-1), false, PortRange{}, ICMPFilter{8, -1}, ""},
		{"icmp frag needed", icmp, i32(3), i32(4), false, PortRange{}, ICMPFilter{3, 4}, ""},
		{"icmp all", icmp, i32(-1), i32(-1), false, PortRange{}, AnyICMP, ""},
		{"icmp missing", icmp, nil, nil, false, PortRange{}, ICMPFilter{}, CodeInvalidParameterValue},
		{"icmp type 256", icmp, i32(256), i32(0), false, PortRange{}, ICMPFilter{}, CodeInvalidParameterValue},
		{"icmp code -2", icmp, i32(3), i32(-2), false, PortRange{}, ICMPFilter{}, CodeInvalidParameterValue},
		{"icmp all types one code", icmp, i32(-1), i32(4), false, PortRange{}, ICMPFilter{}, CodeInvalidParameterValue},
		{"icmpv6 omitted", icmp6, nil, nil, false, PortRange{}, AnyICMP, ""},
		{"icmpv6 PTB", icmp6, i32(2), i32(0), false, PortRange{}, ICMPFilter{2, 0}, ""},
		{"icmpv6 half", icmp6, i32(2), nil, false, PortRange{}, ICMPFilter{}, CodeInvalidParameterValue},
		{"all ignores ports", AllProtocols, i32(22), i32(22), false, PortRange{}, ICMPFilter{}, ""},
		{"50 ignores ports", ProtocolOf(50), i32(1), i32(2), false, PortRange{}, ICMPFilter{}, ""},
		{"all strict with ports", AllProtocols, i32(22), i32(22), true, PortRange{}, ICMPFilter{}, CodeInvalidParameterValue},
		{"all strict -1", AllProtocols, i32(-1), i32(-1), true, PortRange{}, ICMPFilter{}, ""},
	}
	for _, c := range cases {
		ports, f, err := ParsePorts(c.p, c.from, c.to, c.strict)
		if CodeOf(err) != c.code {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.code)
			continue
		}
		if ports != c.ports || f != c.icmp {
			t.Errorf("%s: got %v %v, want %v %v", c.name, ports, f, c.ports, c.icmp)
		}
	}
}

func TestPortRangeAndICMP(t *testing.T) {
	r := PortRange{80, 443}
	if !r.Contains(80) || !r.Contains(443) || r.Contains(79) || r.Contains(444) || r.IsAll() || !AllPorts.IsAll() {
		t.Error("contains")
	}
	if r.String() != "80-443" || (PortRange{22, 22}).String() != "22" {
		t.Error("string")
	}
	if !AnyICMP.Matches(3, 4) || !(ICMPFilter{3, -1}).Matches(3, 9) || (ICMPFilter{3, 4}).Matches(3, 3) || (ICMPFilter{8, -1}).Matches(0, 0) {
		t.Error("icmp matches")
	}
	if AnyICMP.Span() != AllPorts || (ICMPFilter{3, -1}).Span() != (PortRange{0x300, 0x3ff}) || (ICMPFilter{3, 4}).Span() != (PortRange{0x304, 0x304}) {
		t.Error("span")
	}
	if ICMPKey(3, 4) != 0x304 {
		t.Error("key")
	}
}

func TestParseCIDR(t *testing.T) {
	cases := []struct {
		fn   func(string) (netip.Prefix, error)
		in   string
		want string
	}{
		{ParseCIDR4, "10.0.0.0/8", "10.0.0.0/8"},
		{ParseCIDR4, "10.1.2.3/16", "10.1.0.0/16"},
		{ParseCIDR4, "100.68.0.18/18", "100.68.0.0/18"},
		{ParseCIDR4, "5.0.0.0/0", "0.0.0.0/0"},
		{ParseCIDR4, "203.0.113.5/32", "203.0.113.5/32"},
		{ParseCIDR4, "10.0.0.1", ""},
		{ParseCIDR4, "::/0", ""},
		{ParseCIDR4, "::ffff:10.0.0.0/104", ""},
		{ParseCIDR4, "10.0.0.0/33", ""},
		{ParseCIDR4, "010.0.0.0/8", ""},
		{ParseCIDR4, "i.0.0.0/0", ""},
		{ParseCIDR6, "::/0", "::/0"},
		{ParseCIDR6, "2001:db8::1/32", "2001:db8::/32"},
		{ParseCIDR6, "10.0.0.0/8", ""},
		{ParseCIDR6, "fe80::1%eth0/64", ""},
		{ParseCIDR, "10.9.9.9/8", "10.0.0.0/8"},
		{ParseCIDR, "2001:db8::1/64", "2001:db8::/64"},
		{ParseCIDR, "nope", ""},
	}
	for _, c := range cases {
		got, err := c.fn(c.in)
		if c.want == "" {
			wantCodeOr(t, c.in, err, CodeInvalidParameterValue)
			continue
		}
		if err != nil || got.String() != c.want {
			t.Errorf("parse %q = %v, %v; want %s", c.in, got, err, c.want)
		}
	}
	_, err := ParseCIDR4("::/0")
	if err.Error() != "InvalidParameterValue: CIDR block ::/0 is malformed" {
		t.Error(err)
	}
	if !IsOpenWorld(pfx("0.0.0.0/0")) || !IsOpenWorld(pfx("::/0")) || IsOpenWorld(pfx("10.0.0.0/8")) || IsOpenWorld(netip.Prefix{}) {
		t.Error("open world")
	}
}

func wantCodeOr(t *testing.T, in string, err error, code string) {
	t.Helper()
	if CodeOf(err) != code {
		t.Errorf("%q: err = %v, want %s", in, err, code)
	}
}

func TestGroupNamesAndDescriptions(t *testing.T) {
	long := strings.Repeat("a", 256)
	names := []struct{ in, want, code string }{
		{"web", "web", ""},
		{"web tier  ", "web tier", ""},
		{"a._-:/()#,@[]+=&;{}!$*", "a._-:/()#,@[]+=&;{}!$*", ""},
		{"", "", CodeMissingParameter},
		{"   ", "", CodeMissingParameter},
		{"sg-017c251", "", CodeInvalidParameterValue},
		{"SG-017c251", "", CodeInvalidParameterValue},
		{"web<1>", "", CodeInvalidParameterValue},
		{"wéb", "", CodeInvalidParameterValue},
		{long, "", CodeInvalidParameterValue},
		{long[:255], long[:255], ""},
	}
	for _, c := range names {
		got, err := CanonicalGroupName(c.in)
		if CodeOf(err) != c.code || got != c.want {
			t.Errorf("CanonicalGroupName(%q) = %q, %v; want %q, %q", c.in, got, err, c.want, c.code)
		}
	}
	_, err := CanonicalGroupName("sg-017c251")
	if err.Error() != "InvalidParameterValue: Value (sg-017c251) for parameter GroupName is invalid. Group names may not be in the format sg-*." {
		t.Error(err)
	}
	if !SameGroupName("Web", "wEB") || SameGroupName("web", "web2") {
		t.Error("SameGroupName")
	}
	wantCode(t, CheckGroupDescription("web tier"), "")
	wantCode(t, CheckGroupDescription(""), CodeMissingParameter)
	wantCode(t, CheckGroupDescription(long), CodeInvalidParameterValue)
	wantCode(t, CheckGroupDescription("tab\there"), CodeInvalidParameterValue)
	wantCode(t, CheckRuleDescription(""), "")
	wantCode(t, CheckRuleDescription("ssh from office & home"), "")
	wantCode(t, CheckRuleDescription(long), CodeInvalidParameterValue)
	wantCode(t, CheckRuleDescription("quote\"d"), CodeInvalidParameterValue)
}

func TestTags(t *testing.T) {
	wantCode(t, CheckTag(Tag{"Name", "web"}), "")
	wantCode(t, CheckTag(Tag{"", "x"}), CodeInvalidParameterValue)
	wantCode(t, CheckTag(Tag{"aws:cloudformation", "x"}), CodeInvalidParameterValue)
	wantCode(t, CheckTag(Tag{strings.Repeat("k", 128), ""}), CodeInvalidParameterValue)
	wantCode(t, CheckTag(Tag{"k", strings.Repeat("v", 256)}), CodeInvalidParameterValue)
	wantCode(t, CheckTag(Tag{"ключ", "значение"}), "")
	wantCode(t, CheckTag(Tag{"tab\there", "lines\r\nand \U0010FFFF \uFFFD"}), "")
}

// Tags must come back as they were stored: characters XML cannot carry are
// refused, and invalid UTF-8 is called what it is, not too long.
func TestCheckTagRefusesWhatXMLCannotCarry(t *testing.T) {
	for _, bad := range []string{"a\x00b", "\x01", "bell\x07", "esc\x1b[0m", "\x1f", "\uFFFE", "\uFFFF"} {
		for _, tag := range []Tag{{bad, "v"}, {"k", bad}} {
			err := CheckTag(tag)
			wantCode(t, err, CodeInvalidParameterValue)
			if !strings.Contains(err.Error(), "cannot be carried in XML") || strings.Contains(err.Error(), bad) {
				t.Errorf("%q: %v", tag, err)
			}
		}
	}
	for _, tag := range []Tag{{"k\xff", "v"}, {"k", "\xc3"}, {"k", "\xed\xa0\x80"}} {
		err := CheckTag(tag)
		wantCode(t, err, CodeInvalidParameterValue)
		if !strings.Contains(err.Error(), "not valid UTF-8") {
			t.Errorf("%q: %v", tag, err)
		}
	}

	var ts Tags
	ts = ts.Set("Name", "a").Set("env", "prod").Set("Name", "b")
	if v, ok := ts.Get("Name"); !ok || v != "b" || len(ts) != 2 {
		t.Fatal(ts)
	}
	if _, ok := ts.Get("missing"); ok {
		t.Fatal("missing key found")
	}
	other := "staging"
	if got := ts.Delete("env", &other); len(got) != 2 {
		t.Fatal("delete with another value removed the tag")
	}
	prod := "prod"
	if got := ts.Delete("env", &prod); len(got) != 1 {
		t.Fatal("delete with value kept the tag")
	}
	if got := ts.Delete("Name", nil); len(got) != 1 || got[0].Key != "env" {
		t.Fatal(got)
	}
}

func TestConntrackTimeouts(t *testing.T) {
	wantCode(t, CheckConntrackTimeouts(ConntrackTimeouts{}), "")
	wantCode(t, CheckConntrackTimeouts(ConntrackTimeouts{TCPEstablished: 60, UDPStream: 180, UDP: 30}), "")
	wantCode(t, CheckConntrackTimeouts(ConntrackTimeouts{TCPEstablished: 59}), CodeInvalidParameterValue)
	wantCode(t, CheckConntrackTimeouts(ConntrackTimeouts{UDPStream: 181}), CodeInvalidParameterValue)
	wantCode(t, CheckConntrackTimeouts(ConntrackTimeouts{UDP: 61}), CodeInvalidParameterValue)
	got := ConntrackTimeouts{UDP: 45}.Effective()
	if got != (ConntrackTimeouts{432000, 180, 45}) {
		t.Fatal(got)
	}
	if (ConntrackTimeouts{TCPEstablished: 350, UDPStream: 60}).Effective() != (ConntrackTimeouts{350, 60, 30}) {
		t.Fatal("effective")
	}
}

func TestInstanceStateCodes(t *testing.T) {
	want := map[InstanceState]int{StatePending: 0, StateRunning: 16, StateShuttingDown: 32, StateTerminated: 48, StateStopping: 64, StateStopped: 80, "bogus": -1}
	for s, c := range want {
		if s.Code() != c {
			t.Errorf("%s.Code() = %d", s, s.Code())
		}
	}
}

func TestENIAddrs(t *testing.T) {
	e := ENI{PrivateIPs: []netip.Addr{netip.MustParseAddr("10.0.0.5")}, IPv6s: []netip.Addr{netip.MustParseAddr("fd00::5")}}
	if got := e.Addrs(); len(got) != 2 || got[0].String() != "10.0.0.5" {
		t.Fatal(got)
	}
	if !e.HasAddr(netip.MustParseAddr("fd00::5")) || !e.HasAddr(netip.MustParseAddr("10.0.0.5")) || e.HasAddr(netip.MustParseAddr("10.0.0.6")) {
		t.Fatal("HasAddr")
	}
}

func TestSecurityGroupHelpers(t *testing.T) {
	g := SecurityGroup{Name: "default", Rules: []Rule{{Direction: Ingress}, {Direction: Egress}, {Direction: Egress}}}
	if !g.IsDefault() || len(g.RulesOf(Egress)) != 2 || len(g.RulesOf(Ingress)) != 1 {
		t.Fatal("helpers")
	}
}

func TestResourceKeys(t *testing.T) {
	s := Scope{Account: "123456789012", Region: "us-east-1"}
	k := ResourceKey(s, KeyGroup, "sg-0123456789abcdef0")
	if k != "r/123456789012/us-east-1/sg/sg-0123456789abcdef0" {
		t.Fatal(k)
	}
	got, kind, id, ok := ParseResourceKey(k)
	if !ok || got != s || kind != KeyGroup || id != "sg-0123456789abcdef0" {
		t.Fatal(got, kind, id, ok)
	}
	// Index entries are never resources, whatever they look like after
	// the root: the agent ignores what ParseResourceKey rejects.
	idx := IndexPrefix(s.Account, s.Region) + "ip/subnet-0123456789abcdef0/4/0000000000000"
	if !strings.HasPrefix(idx, IndexRoot) || strings.HasPrefix(idx, ResourceRoot) {
		t.Fatal(idx)
	}
	for _, bad := range []string{"x/1/2/3/4", "r/1/2/3", "r//us-east-1/sg/x", "r/1/2/3/", idx} {
		if _, _, _, ok := ParseResourceKey(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestExpiryKeys(t *testing.T) {
	s := Scope{Account: "123456789012", Region: "us-east-1"}
	k := ExpiryKey(s, "sg-0123456789abcdef0")
	if k != "e/123456789012/us-east-1/sg-0123456789abcdef0" {
		t.Fatal(k)
	}
	if got, id, ok := ParseExpiryKey(k); !ok || got != s || id != "sg-0123456789abcdef0" {
		t.Fatal(got, id, ok)
	}
	for _, bad := range []string{"e/1/2", "e//2/sg-1", "e/1/2/", "e/1/2/3/4", "r/1/2/sg-1", ResourceKey(s, KeyGroup, "sg-1")} {
		if _, _, ok := ParseExpiryKey(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestCheckLabHostName(t *testing.T) {
	for name, ok := range map[string]bool{"client": true, "office-1": true, "a.b_c": true, "": false, "-x": false, ".x": false,
		"i-0123456789abcdef0": false, "i-x": false, "has space": false, "slash/": false, strings.Repeat("a", 65): false} {
		if err := CheckLabHostName(name); (err == nil) != ok {
			t.Errorf("%q: %v", name, err)
		}
	}
}
