// Package policytest builds the values that tests of security-group logic
// are made of (permissions, canonical rules, groups, interfaces) from short
// strings, so that a test case reads like the rule it tests: In("tcp",
// "10.0.0.0/8", 22, 22). It is the one copy of these builders for the
// tests of policy, audit, dataplane and service.
//
// It is pure, like model: no I/O, clock or randomness. Only _test.go files
// may import it (internal/archtest). It imports model alone, so that the
// tests inside policy (package policy) can use it without an import cycle;
// snapshots are assembled by the caller.
package policytest

import (
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"

	"palisade.dev/palisade/internal/model"
)

// Account owns every group and rule the builders make.
const Account = model.AccountID("123456789012")

// VPC is the VPC of every group and interface the builders make.
const VPC = model.VpcID("vpc-00000001")

// Addr parses an address, panicking on a typo in a test.
func Addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// Prefix parses a prefix (host bits kept as written), panicking on a typo.
func Prefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// GroupID is the n-th group's ID: sg- and n in 17 hex digits.
func GroupID(n int) model.GroupID { return model.GroupID(fmt.Sprintf("sg-%017x", n)) }

// ENIID is the n-th interface's ID: eni- and n in 17 hex digits.
func ENIID(n int) model.ENIID { return model.ENIID(fmt.Sprintf("eni-%017x", n)) }

// Groups lists group IDs: the groups of an interface.
func Groups(ids ...model.GroupID) []model.GroupID { return ids }

// Perm is one IpPermission as a client sends it: proto from ports from to
// to, with one source per peer. A peer is an IPv4 or IPv6 CIDR, a group ID
// ("sg-…") or a prefix list ID ("pl-…").
func Perm(proto string, from, to int32, peers ...string) model.PermissionSpec {
	return spec(proto, []int32{from, to}, peers)
}

// spec is Perm with ports optional: none, or from and to.
func spec(proto string, ports []int32, peers []string) model.PermissionSpec {
	p := model.PermissionSpec{Protocol: proto}
	switch len(ports) {
	case 0:
	case 2:
		p.FromPort, p.ToPort = &ports[0], &ports[1]
	default:
		panic(fmt.Sprintf("policytest: ports %v: want none, or from and to", ports))
	}
	for _, peer := range peers {
		switch {
		case strings.HasPrefix(peer, "sg-"):
			p.Groups = append(p.Groups, model.GroupSourceSpec{GroupID: peer})
		case strings.HasPrefix(peer, "pl-"):
			p.PrefixLists = append(p.PrefixLists, model.SourceSpec{Value: peer})
		case strings.Contains(peer, ":"):
			p.IPv6 = append(p.IPv6, model.SourceSpec{Value: peer})
		default:
			p.IPv4 = append(p.IPv4, model.SourceSpec{Value: peer})
		}
	}
	return p
}

// ruleSeq numbers the rules made, for their IDs; atomic, since tests run
// in parallel.
var ruleSeq atomic.Int64

// Rule builds one canonical rule of Account, validated and canonicalized by
// model as the service does, with a fresh ID (sgr- and a sequence number).
// peer is as in Perm; ports are from and to, omitted for protocols without
// ports ("-1", icmpv6 "all", …). A rule model refuses panics: a test's typo.
func Rule(d model.Direction, proto, peer string, ports ...int32) model.Rule {
	rs, err := spec(proto, ports, []string{peer}).Rules(d, Account, false)
	if err != nil {
		panic(fmt.Sprintf("policytest: rule %s %s %s %v: %v", d, proto, peer, ports, err))
	}
	rs[0].ID = model.RuleID(fmt.Sprintf("sgr-%017x", ruleSeq.Add(1)))
	return rs[0]
}

// In is an ingress Rule.
func In(proto, peer string, ports ...int32) model.Rule {
	return Rule(model.Ingress, proto, peer, ports...)
}

// Out is an egress Rule.
func Out(proto, peer string, ports ...int32) model.Rule {
	return Rule(model.Egress, proto, peer, ports...)
}

// AllOutIPv4 is AWS's default egress rule of a new group in a VPC without
// IPv6: all traffic to 0.0.0.0/0.
func AllOutIPv4() model.Rule { return Out("-1", "0.0.0.0/0") }

// AllOut is AWS's default egress of a new group in a VPC with IPv6: all
// traffic to 0.0.0.0/0 and to ::/0.
func AllOut() []model.Rule { return []model.Rule{Out("-1", "0.0.0.0/0"), Out("-1", "::/0")} }

// Group is a group of VPC named after its ID.
func Group(id model.GroupID, rules ...model.Rule) model.SecurityGroup {
	return NamedGroup(id, string(id), rules...)
}

// NamedGroup is a group of VPC with a name of its own ("default", …).
func NamedGroup(id model.GroupID, name string, rules ...model.Rule) model.SecurityGroup {
	return model.SecurityGroup{ID: id, VPC: VPC, Name: name, Rules: rules}
}

// ENI is an interface of VPC in groups, with addrs as its private IPv4
// and its IPv6 addresses (each by its family, in order).
func ENI(id model.ENIID, groups []model.GroupID, addrs ...netip.Addr) model.ENI {
	e := model.ENI{ID: id, VPC: VPC, Groups: groups}
	for _, a := range addrs {
		if a.Is4() {
			e.PrivateIPs = append(e.PrivateIPs, a)
		} else {
			e.IPv6s = append(e.IPv6s, a)
		}
	}
	return e
}
