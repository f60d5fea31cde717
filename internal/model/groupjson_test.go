package model

import (
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"testing"
)

var jsonText = []string{"", "web", `"quoted" \back\slash`, "<b>&amp;</b>", "tab\tnl\ncr\rbs\bff\f", "\x00\x01\x1f\x7f",
	"bad\xff\xfeutf8", "line\u2028para\u2029", "snow ☃ 𝄞", "\uFFFD"}

// TestGroupJSON: AppendJSON writes what json.Marshal writes, byte for
// byte, for groups with every kind of rule and peer and with text that
// needs escaping; and it decodes to the same group.
func TestGroupJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	text := func() string { return jsonText[rng.IntN(len(jsonText))] }
	tags := func() Tags {
		var ts Tags
		for range rng.IntN(3) {
			ts = append(ts, Tag{Key: text(), Value: text()})
		}
		return ts
	}
	protos := []Protocol{AllProtocols, {num: ProtoTCP}, {num: ProtoUDP}, {num: ProtoICMP}, {num: ProtoICMPv6}, {num: 47}, {num: 0}}
	prefixes := []netip.Prefix{{}, netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("::/0"), netip.MustParsePrefix("192.0.2.7/32")}
	for i := range 500 {
		g := SecurityGroup{Scope: Scope{Account: AccountID(text()), Region: text()}, ID: GroupID(text()), VPC: VpcID(text()),
			Name: text(), Description: text(), Tags: tags()}
		for range rng.IntN(5) {
			r := Rule{ID: RuleID(text()), Direction: Direction(rng.IntN(3)), Protocol: protos[rng.IntN(len(protos))],
				Description: text(), Tags: tags(),
				Peer: Peer{Kind: PeerKind(rng.IntN(4)), Prefix: prefixes[rng.IntN(len(prefixes))]}}
			if rng.IntN(2) == 0 {
				r.Ports = PortRange{From: uint16(rng.IntN(3)), To: uint16(rng.IntN(70000))}
			}
			if rng.IntN(2) == 0 {
				r.ICMP = ICMPFilter{Type: int16(rng.IntN(3) - 1), Code: int16(rng.IntN(3) - 1)}
			}
			if rng.IntN(2) == 0 {
				r.Peer.PrefixList, r.Peer.Group, r.Peer.GroupOwner = PrefixListID(text()), GroupID(text()), AccountID(text())
			}
			g.Rules = append(g.Rules, r)
		}
		want, err := json.Marshal(&g)
		if err != nil {
			t.Fatal(err)
		}
		got := g.AppendJSON(nil)
		if string(got) != string(want) {
			t.Fatalf("group %d:\nAppendJSON: %s\njson:       %s", i, got, want)
		}
		var back SecurityGroup
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("group %d does not decode: %v", i, err)
		}
	}
}
