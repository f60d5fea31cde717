// Package dataplane enforces compiled security-group policies with nftables
// in one VPC router namespace: it renders what policy.Compile returns into
// one table (family inet) and keeps the kernel equal to it, over netlink
// (google/nftables), in one atomic batch per change. It never re-interprets
// AWS semantics: every verdict comes from policy's Entries, Members and
// Untracked classes.
//
// # Layout
//
// Every packet between two instances, or between an instance and a lab host,
// is forwarded by the router namespace, so the table hooks only forward,
// with two base chains (accept ends only the current base chain, so a packet
// between two instances passes the sender's egress AND the receiver's
// ingress):
//
//	fwd_egress  (priority -10, policy drop): lab hosts' interfaces pass;
//	            anti-spoofing (iifname . saddr in own4/own6, else drop);
//	            ct state established,related accept; invalid (but ICMP)
//	            drop; iifname vmap @out_ports → jump <eni>_out
//	fwd_ingress (priority 10, policy drop): ct state established,related
//	            accept; invalid (but ICMP) drop; oifname vmap @in_ports →
//	            jump <eni>_in; lab hosts' interfaces pass
//	<eni>_in / <eni>_out: the interface's conntrack timeouts, then a jump to
//	            the chain of each of its groups, then drop
//	<sg>_in / <sg>_out: one lookup per family in <sg>_<dir>_p4/p6
//	            (peer . l4proto, intervals: the group's CIDR and prefix-list
//	            rules that cover every port) and one per family and protocol
//	            in <sg>_<dir>_t4/t6 (peer . l4proto . port, for the rules
//	            with a port range or an ICMP type/code), then one rule per
//	            group-reference rule that looks the peer up in the hash set
//	            <ref>_m4/m6 of the referenced group's member addresses.
//
// The per-packet cost is therefore a handful of hash and pipapo lookups,
// independent of the number of rules, members and interfaces. A membership
// change is one set element; a CIDR or prefix-list rule change is elements
// of its group's sets, a group-reference rule change a rewrite of its
// group's chain; attaching an interface adds its chains and map elements.
//
// # Decisions
//
//   - Fail closed: both base chains have policy drop, and the router
//     namespace carries only lab traffic. An interface that is neither a
//     known instance port nor a lab host is dropped in both directions, and
//     Open installs the empty table before any instance exists.
//   - Related ICMP errors (PMTUD "fragmentation needed" / "packet too big",
//     port unreachable) of a tracked flow are accepted by "ct state
//     established,related". AWS asks users to open ICMP 3/4 explicitly and
//     may drop such errors; breaking path MTU discovery of an allowed flow
//     would black-hole it, so Palisade is deliberately more permissive here.
//     An ICMP error of no tracked flow is "invalid" to conntrack; it is not
//     dropped as invalid (other protocols' invalid packets are) but decided
//     by the rules, as policy.Decide does: an explicit ICMP 3/4 rule lets it
//     in, nothing else does.
//   - Anti-spoofing runs before the conntrack shortcut, so a spoofed packet
//     cannot ride on another interface's established flow. Link-local
//     sources (fe80::/10) never reach the forward hook (the kernel does not
//     forward them), and neighbour discovery and ARP with the router are
//     input/output traffic, which this table does not hook.
//   - Connection-tracking timeouts are nftables "ct timeout" objects, shared
//     by content (ct_tcp_<established>, ct_udp_<unreplied>_<replied>) and
//     assigned by each port chain to new TCP and UDP flows. For a flow
//     between two instances the receiver's ingress chain runs last, so the
//     receiver's timeouts win. An object fixes every state of its protocol:
//     states AWS does not configure keep Linux's defaults, not the
//     namespace's sysctls.
//   - Untracked flows (SEMANTICS.md §6) are tracked by the kernel like all
//     others; Cut deletes the conntrack entries of those the new policy
//     denies, after Apply.
//
// # Keeping the kernel in step
//
// Apply renders the whole Desired state (reusing the rendering of groups
// whose entries did not change), diffs it against what it last applied and
// sends the difference as one batch; the first time, after Check found
// drift, or when the update fails, it replaces the whole table in one
// batch instead. Sets that received many elements are counted back from
// the kernel. Check reads the table back (every rule's expressions, every
// element with its verdict, every timeout) and compares.
//
// Render prints the same ruleset as nft text, which `nft -f` compiles into
// exactly the expressions Apply sends (a test compares the two in the
// kernel), except for one no-op nft adds: a byte-order swap of the 1-byte
// l4proto field in concatenations.
//
// The cost of a full rebuild grows with the number of sets faster than
// linearly, because nf_tables finds a set by name in a list: 1,000, 2,000
// and 4,000 sets take about 15, 57 and 246 ms to create on the reference
// machine, and every rule and element message that names a set walks the
// list too. Updates touch only their own sets and stay in the milliseconds.
package dataplane
