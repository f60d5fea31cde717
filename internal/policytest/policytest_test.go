package policytest

import (
	"testing"

	"palisade.dev/palisade/internal/model"
)

func TestRuleSortsPeersByKind(t *testing.T) {
	cases := []struct {
		rule model.Rule
		want model.Peer
	}{
		{In("tcp", "10.0.0.0/8", 22, 22), model.CIDRPeer(Prefix("10.0.0.0/8"))},
		{In("tcp", "2001:db8::/32", 22, 22), model.CIDRPeer(Prefix("2001:db8::/32"))},
		{Out("-1", string(GroupID(7))), model.GroupPeer(GroupID(7), Account)},
		{In("udp", "pl-0123456789abcdef0", 53, 53), model.PrefixListPeer("pl-0123456789abcdef0")},
	}
	seen := map[model.RuleID]bool{}
	for _, c := range cases {
		if c.rule.Peer != c.want {
			t.Errorf("peer %v, want %v", c.rule.Peer, c.want)
		}
		if seen[c.rule.ID] || c.rule.ID == "" {
			t.Errorf("rule ID %q reused or empty", c.rule.ID)
		}
		seen[c.rule.ID] = true
	}
}

func TestPermKeepsEveryPeer(t *testing.T) {
	p := Perm("tcp", 80, 443, "10.0.0.0/8", "::/0", "sg-00000000000000001", "pl-0123456789abcdef0")
	if *p.FromPort != 80 || *p.ToPort != 443 || len(p.IPv4) != 1 || len(p.IPv6) != 1 || len(p.Groups) != 1 || len(p.PrefixLists) != 1 {
		t.Fatalf("%+v", p)
	}
}

func TestRuleRefusesATypo(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("a rule with a bad CIDR was built")
		}
	}()
	In("tcp", "10.0.0.0/33", 22, 22)
}
