package dataplane

import (
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policy"
)

// Tiny builders, so that a test case reads like the rules it tests.

const acct = model.AccountID("123456789012")

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func gid(n int) model.GroupID { return model.GroupID(fmt.Sprintf("sg-%017x", n)) }

func eniID(n int) model.ENIID { return model.ENIID(fmt.Sprintf("eni-%017x", n)) }

var ruleSeq atomic.Int64

// mkRule builds a canonical rule: peer is a CIDR, an "sg-…" id or a "pl-…"
// id; ports are from and to (omitted for -1, other protocols and icmpv6
// "all").
func mkRule(d model.Direction, proto, peer string, ports ...int32) model.Rule {
	spec := model.PermissionSpec{Protocol: proto}
	if len(ports) == 2 {
		spec.FromPort, spec.ToPort = &ports[0], &ports[1]
	}
	switch {
	case strings.HasPrefix(peer, "sg-"):
		spec.Groups = []model.GroupSourceSpec{{GroupID: peer}}
	case strings.HasPrefix(peer, "pl-"):
		spec.PrefixLists = []model.SourceSpec{{Value: peer}}
	case strings.Contains(peer, ":"):
		spec.IPv6 = []model.SourceSpec{{Value: peer}}
	default:
		spec.IPv4 = []model.SourceSpec{{Value: peer}}
	}
	rs, err := spec.Rules(d, acct, false)
	if err != nil {
		panic(err)
	}
	rs[0].ID = model.RuleID(fmt.Sprintf("sgr-%017x", ruleSeq.Add(1)))
	return rs[0]
}

func in(proto, peer string, ports ...int32) model.Rule {
	return mkRule(model.Ingress, proto, peer, ports...)
}

func out(proto, peer string, ports ...int32) model.Rule {
	return mkRule(model.Egress, proto, peer, ports...)
}

func group(id model.GroupID, rules ...model.Rule) model.SecurityGroup {
	return model.SecurityGroup{ID: id, VPC: "vpc-00000001", Name: string(id), Rules: rules}
}

// allOut is AWS's default egress of a new group (IPv4 and IPv6).
func allOut() []model.Rule { return []model.Rule{out("-1", "0.0.0.0/0"), out("-1", "::/0")} }

func iface(id model.ENIID, groups []model.GroupID, addrs ...netip.Addr) model.ENI {
	e := model.ENI{ID: id, VPC: "vpc-00000001", Groups: groups}
	for _, a := range addrs {
		if a.Is4() {
			e.PrivateIPs = append(e.PrivateIPs, a)
		} else {
			e.IPv6s = append(e.IPv6s, a)
		}
	}
	return e
}

func gs(ids ...model.GroupID) []model.GroupID { return ids }

// ifNames maps ENIs to router interface names in tests that need no real
// interfaces.
func ifName(e model.ENIID) string { return "e" + string(e)[len(e)-8:] }

// desired compiles s and returns the ports of all its interfaces, named by
// names (ifName when nil).
func desired(s policy.Snapshot, names map[model.ENIID]string, hosts ...string) Desired {
	return desiredOf(policy.Compile(s), names, hosts...)
}

// desiredOf returns the ports of every policy of c, named by names
// (ifName when nil).
func desiredOf(c *policy.Compiled, names map[model.ENIID]string, hosts ...string) Desired {
	d := Desired{HostIfaces: hosts}
	for _, p := range c.Policies() {
		n := names[p.ENI]
		if n == "" {
			n = ifName(p.ENI)
		}
		d.Ports = append(d.Ports, Port{ENI: p.ENI, IfName: n, Policy: p})
	}
	return d
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
