package policy

import (
	"fmt"
	"net/netip"
	"strings"

	"palisade.dev/palisade/internal/model"
)

// Tiny builders, so that a test case reads like the rule it tests.

const acct = model.AccountID("123456789012")

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func gid(n int) model.GroupID { return model.GroupID(fmt.Sprintf("sg-%017x", n)) }

func eniID(n int) model.ENIID { return model.ENIID(fmt.Sprintf("eni-%017x", n)) }

var ruleSeq int

// rule builds a canonical rule: peer is a CIDR, "sg-N" style ids from gid,
// or a "pl-…" id. ports are from and to (omitted for -1 and icmpv6 "all").
func rule(d model.Direction, proto, peer string, ports ...int32) model.Rule {
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
	ruleSeq++
	rs[0].ID = model.RuleID(fmt.Sprintf("sgr-%017x", ruleSeq))
	return rs[0]
}

func in(proto, peer string, ports ...int32) model.Rule {
	return rule(model.Ingress, proto, peer, ports...)
}

func out(proto, peer string, ports ...int32) model.Rule {
	return rule(model.Egress, proto, peer, ports...)
}

func group(id model.GroupID, rules ...model.Rule) model.SecurityGroup {
	return model.SecurityGroup{ID: id, VPC: "vpc-00000001", Name: string(id), Rules: rules}
}

// allOut is AWS's default egress of a new group in a VPC without IPv6.
func allOut() model.Rule { return out("-1", "0.0.0.0/0") }

func iface(id model.ENIID, groups []model.GroupID, addrs ...string) model.ENI {
	e := model.ENI{ID: id, VPC: "vpc-00000001", Groups: groups}
	for _, a := range addrs {
		if ip := addr(a); ip.Is4() {
			e.PrivateIPs = append(e.PrivateIPs, ip)
		} else {
			e.IPv6s = append(e.IPv6s, ip)
		}
	}
	return e
}

func gs(ids ...model.GroupID) []model.GroupID { return ids }
