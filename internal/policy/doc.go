// Package policy owns the meaning of a set of security groups: it compiles a
// snapshot of the store (groups with their rules, network interfaces with
// their addresses and groups, prefix lists) into the effective policy of
// every network interface, and answers questions about it.
//
// The effective policy of an interface is the union of the rules of all its
// groups, separately for ingress and egress, with group references resolved
// to the private addresses of the referenced group's member interfaces and
// prefix lists to their entries. Compile once, query many times: Decide is
// a pure lookup that allocates nothing and costs the same whether the host
// holds ten rules or ten thousand.
//
// Like model, policy is pure: no I/O, no clock, no logger. The data plane
// renders what Compile returns; explain and the console ask Decide and Path.
package policy
