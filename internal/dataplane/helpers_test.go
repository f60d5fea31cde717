package dataplane

import (
	"palisade.dev/palisade/internal/labtest"
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policy"
	"palisade.dev/palisade/internal/policytest"
)

// Tiny builders, so that a test case reads like the rules it tests:
// policytest's, under short names.
var (
	addr   = policytest.Addr
	pfx    = policytest.Prefix
	gid    = policytest.GroupID
	eniID  = policytest.ENIID
	mkRule = policytest.Rule
	in     = policytest.In
	out    = policytest.Out
	group  = policytest.Group
	allOut = policytest.AllOut // AWS's default egress in a VPC with IPv6
	iface  = policytest.ENI
	gs     = policytest.Groups

	randHex = labtest.RandHex
)

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
