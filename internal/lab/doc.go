// Package lab wires Palisade's lab: every VPC is an isolated network with its
// own router network namespace, every running instance is a network namespace
// named by its instance id, and lab hosts ("outside computers") are namespaces
// with one address that reach a VPC's instances without NAT.
//
// # Topology
//
//	instance i-0a…  (netns "i-0a…")          router of vpc-0b… (netns Prefix+"vpc-0b…")
//	eth0 172.31.5.9/20 ───── veth ─────────── RouterIfName("eni-…")  172.31.0.1/32, fe80::1/64
//	     2600:…::9/64 (no prefix route)                  route 172.31.5.9/32, 2600:…::9/128 → this veth
//	     default via 172.31.0.1, default via fe80::1
//
//	host "alice"     (netns "alice")
//	eth0 203.0.113.7/32 ──── veth ─────────── HostIfName("alice")  169.254.0.1/32, fe80::1/64
//	     default via 169.254.0.1 onlink, via fe80::1    route 203.0.113.7/32 → this veth
//
// Nothing is ever created in the namespace the process runs in: veth pairs are
// created by a netlink socket that lives in the router namespace, with the
// peer born directly in the instance or host namespace.
//
// # Addressing and routing
//
// Every packet between two instances, even in the same subnet, crosses the
// router namespace, where the data plane's firewall sits:
//
//   - IPv4: eth0 holds the private address (and the interface's secondary
//     addresses after it) with its subnet's prefix length,
//     so the instance believes its subnet is on-link, as on EC2. The router
//     side of each veth has proxy ARP on (with proxy_delay 0), and the router
//     has a /32 route per instance address, so it answers ARP for every other
//     address of the VPC that it can route and forwards the packet. The
//     default gateway is the subnet's base address + 1 (EC2's VPC router
//     address), held as a /32 on the router side of the veth.
//   - IPv6: the address keeps its subnet's prefix length but is added with
//     IFA_F_NOPREFIXROUTE, so nothing is on-link; the default route points
//     at the link-local gateway fe80::1 on the router side, and the router
//     has a /128 route per instance address. All IPv6 addresses the lab adds
//     skip duplicate address detection (IFA_F_NODAD), and the instance and
//     host ends of veths have accept_dad 0, so their kernel-made link-local
//     addresses are usable at once too; router-side veths have no
//     auto-generated link-local address. When an Ensure returns, its links
//     are operationally up and configured for IPv6; only neighbour
//     resolution waits for the first packet (and is answered at once).
//   - A secondary network interface (eth1, …, device index N ≥ 1) gets its own
//     routing table 10000+N holding its default routes, and a rule "from its
//     addresses lookup 10000+N" at priority 10000+N, so replies leave by the
//     interface their address belongs to (as amazon-ec2-net-utils does on
//     EC2). The main table's default routes use eth0.
//   - Lab hosts hold their address as /32 (and /128) with default routes via
//     169.254.0.1 (onlink) and fe80::1; the router routes the host's address
//     to the host's veth. Sources are never translated.
//
// The router namespace forwards IPv4 and IPv6, sends no ICMP redirects and
// answers ARP for any of its addresses. Elsewhere the lab sets only
// accept_dad on the instance and host ends of its veths, and nothing at all in
// the namespace the process runs in. VPCs with the same CIDR live side by side
// because each has its own router and nothing connects two routers.
//
// # Hosts
//
// One Lab wires one host. When a VPC has instances on several hosts, each
// host has a router for it, and the routers reach each other over a VXLAN
// overlay (EnsureOverlay): an interface OverlayIfName in the router whose
// UDP socket lives in the host's own namespace (Config.HostNamespace, by
// default the process's) on its underlay address, one VNI per VPC (VNI).
// Every entry is static, from the store: per peer host a forwarding entry
// (its router's MAC, HostMAC, to its underlay address), and per address it
// serves a permanent neighbour entry and a host route over the overlay. The
// router answers ARP for those addresses by proxy as for local ones, so an
// instance cannot tell a neighbour on another host from one on its own. The
// overlay interface has the lab's MTU; the underlay needs 50 bytes more
// (Machines gives its stand-ins 1,600).
//
// Machines stand in for several computers on one machine: namespaces that
// play hosts' own namespaces, joined by a bridge in a switch namespace.
//
// # Names
//
// Namespaces are named under /run/netns as iproute2 names them, through
// nsexec.CreateNamed and nsexec.RemoveNamed: /run/netns is made a shared
// mount point first, so that `ip netns add` run by anyone later leaves the
// lab's names removable.
//
// The router namespace of a VPC is Config.RouterPrefix + the VPC id. The
// router side of an instance's veth is RouterIfName(eniID): "e" and the
// ENI's 68-bit number in 14 base32hex digits, which is injective, so two
// ENIs never share a name (see RouterIfName). The router side of a host's
// veth is HostIfName(name), "h" and a hash. Inside the instance the
// interfaces are eth0, eth1, … by device index.
//
// # Ownership
//
// Everything the lab makes is marked with an interface alias that starts
// with "palisade-lab/v1": a namespace's loopback says what the namespace is
// (router, instance or host, its VPC and its router), and each veth end says
// which ENI or host it serves. List, Down and the Remove operations act only
// on namespaces whose marker names a router with this Lab's prefix, so labs
// with different prefixes share a machine without seeing each other, and a
// new Lab with the same prefix adopts what an earlier process left. An
// unmarked namespace that holds nothing but lo is taken to be an interrupted
// creation: Ensure adopts it and Remove deletes it. Any other unmarked
// namespace is never touched.
//
// # For the data plane
//
// The router namespace is the "host" of the nftables layout: one table and
// one conntrack per VPC. Traffic between instances, and between instances
// and lab hosts, passes its forward hook, entering by the sender's router
// interface (iif) and leaving by the receiver's (oif). Instance interfaces
// all start with ENIIfPrefix, host interfaces with HostIfPrefix, and every
// router-side interface has the index its name gives (nsexec.IfIndex), by
// which the data plane matches it.
// ARP (proxy ARP) and IPv6 neighbour discovery with fe80::1 are answered by
// the router itself (input/output, never forward), so a forward chain with
// policy drop does not break them; an input chain must let ICMPv6 ND in.
// Interfaces come up as soon as EnsureInstance returns: to fail closed, the
// router's table (made after EnsureVPC) must drop unknown ENIIfPrefix
// interfaces before instances are ensured.
package lab
