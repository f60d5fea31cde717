package policy

import "palisade.dev/palisade/internal/policytest"

// Tiny builders, so that a test case reads like the rule it tests: those
// of policytest under short names.
var (
	addr    = policytest.Addr
	gid     = policytest.GroupID
	eniID   = policytest.ENIID
	rule    = policytest.Rule
	in      = policytest.In
	out     = policytest.Out
	group   = policytest.Group
	allOut4 = policytest.AllOutIPv4 // AWS's default egress in a VPC without IPv6
	iface   = policytest.ENI
	gs      = policytest.Groups
)
