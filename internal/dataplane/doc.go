// Package dataplane enforces compiled security-group policies with nftables
// in one VPC router namespace: it renders what policy.Compile returns into
// one table (family inet) and keeps the kernel equal to it, over netlink
// (google/nftables), in one atomic batch per change. It never re-interprets
// AWS semantics: every verdict comes from policy's Entries, Members and
// Untracked classes. Why it is built so, the pitfalls met on the way and
// what it costs are in docs/dataplane.md.
//
// # Layout
//
// Every packet between two instances, or between an instance and a lab host,
// is forwarded by the router namespace, so the table hooks only forward,
// with one base chain; a new flow passes the sender's side (its egress
// rules) and then the receiver's side (its ingress rules):
//
//	fwd_filter  (priority 0, policy drop): per family, ct state
//	            established,related with iif . saddr in own4/own6
//	            accept (nearly every packet ends here); invalid (but
//	            ICMP) drop; per family, iif . saddr vmap
//	            @out_ports4/out_ports6 → goto <eni>_out (the same keys as
//	            own4/own6: one lookup checks the source and picks the
//	            chain); iif in hosts → goto fwd_host; what is left (a
//	            spoofed source, an unknown interface) meets the policy
//	fwd_host    (what a lab host sends): ct state established,related
//	            accept; goto fwd_ingress
//	fwd_ingress (the receiver's side): oif vmap @in_ports → goto
//	            <eni>_in, or, for a lab host, accept; then drop
//	<eni>_in / <eni>_out: the interface's conntrack timeouts if they are
//	            not AWS's defaults, then a jump to the chain of each of its
//	            groups, the lightest first (by the bit length of the
//	            number of their interval elements, see jumpOrder), then
//	            drop (counted: Table.Drops)
//	<sg>_in / <sg>_out: one lookup per family in <sg>_<dir>_p4/p6
//	            (peer . l4proto, intervals: the group's CIDR and prefix-list
//	            rules that cover every port; none when they cover every
//	            address and protocol, as AWS's default egress rule does) and
//	            one per family and protocol in <sg>_<dir>_t4/t6 (peer .
//	            l4proto . port, for the rules with a port range or an ICMP
//	            type/code), then, per referenced group and family, one rule
//	            per protocol that looks the port up in <sg>_<dir>_rp<k> or
//	            _rr<k> (l4proto . port: the ports of all the group's rules
//	            that reference that group, one by one or as ranges) and the
//	            peer in the hash set <ref>_m4/m6 of the referenced group's
//	            member addresses. A matching rule accepts in <sg>_in; in
//	            <sg>_out it goes on to fwd_ingress (goto), which decides.
//
// Every packet therefore makes one pass and one conntrack check, plus one
// hash lookup against spoofing, in one rule when its flow is established;
// the first packet of a flow a handful of hash and pipapo lookups more,
// independent of the number of rules, members and interfaces (and of
// group-reference rules: their number per group costs set elements, not
// rules). A flow that a light group allows skips the lookups of the heavy
// groups of the same interface. A membership change is one set
// element; a CIDR, prefix-list or group-reference rule change is elements
// of its group's sets (unless it makes a set or a rule appear or go: a
// rule that references a group no other rule of its group references, the
// first rule of a protocol, or an allow-all rule, also rewrite the group's
// chain; one whose group's interval elements pass a power of two, so that
// the group becomes lighter or heavier than another group of an interface,
// also rewrites that interface's port chains); attaching an interface adds
// its chains and map elements.
//
// Control reaches fwd_ingress by goto, and a chain reached by goto that
// ends without a verdict returns to the caller of the last jump (the
// sender's port chain, which would try its next group): so fwd_ingress and
// every port chain end with an explicit drop.
//
// # Decisions
//
//   - Fail closed: the base chain has policy drop, and the router
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
//   - Anti-spoofing holds for established flows too: the conntrack
//     shortcut accepts only a packet whose interface and source address
//     are a port's (or, after the full check, a lab host's), so a spoofed
//     packet cannot ride on another interface's established flow. Link-local
//     sources (fe80::/10) never reach the forward hook (the kernel does not
//     forward them), and neighbour discovery and ARP with the router are
//     input/output traffic, which this table does not hook.
//   - Connection-tracking timeouts: Open makes the router namespace's
//     defaults AWS's (TCP established 432000 s, UDP 30 s, UDP stream 180 s;
//     Linux's UDP stream default is 120 s), so the flows of interfaces with
//     the default timeouts need nothing in the table. Other timeouts are
//     nftables "ct timeout" objects, shared by content (ct_tcp_<established>,
//     ct_udp_<unreplied>_<replied>), which the port chains assign to new TCP
//     and UDP flows: a flow between two instances takes the receiver's
//     timeouts, one between an instance and a lab host the instance's (the
//     sender's chain assigns them only to flows towards lab hosts, so that a
//     receiver with default timeouts needs no rule to undo them). An object
//     fixes every state of its protocol: states AWS does not configure keep
//     Linux's defaults, as in the namespace.
//   - Untracked flows (docs/aws-semantics.md#connection-tracking) are tracked by the kernel like all
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
