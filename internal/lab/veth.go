package lab

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"palisade.dev/palisade/internal/nsexec"
)

// Gateways on the router side of every veth. Each router-side interface
// holds fe80::1 (a link-local address is per link, so they do not clash);
// a host's veth holds hostGateway4 as /32, an instance's the gateway of its
// subnet.
var (
	gateway6     = netip.MustParseAddr("fe80::1")
	hostGateway4 = netip.MustParseAddr("169.254.0.1")
)

// pair describes a veth between a router namespace (outer end) and an
// instance or host namespace (inner end), with the markers of both ends.
type pair struct {
	outer, inner         string
	outerMark, innerMark marker
}

// plug makes the veth pair p between router r and namespace s, keeping an
// existing pair that matches and replacing one that does not, and returns
// both ends, up, marked and with the lab's MTU.
func (l *Lab) plug(r, s *space, p pair) (outer, inner netlink.Link, err error) {
	if outer, err = linkByName(r.h, p.outer); err != nil {
		return nil, nil, err
	}
	if inner, err = linkByName(s.h, p.inner); err != nil {
		return nil, nil, err
	}
	if !paired(outer, inner, p) {
		if outer, inner, err = l.replacePair(r, s, p, outer, inner); err != nil {
			return nil, nil, err
		}
	}
	if err := prepareLink(r.h, outer, p.outerMark.String(), l.mtu); err != nil {
		return nil, nil, err
	}
	if err := prepareLink(s.h, inner, p.innerMark.String(), l.mtu); err != nil {
		return nil, nil, err
	}
	if err := syncOperState(r.h, outer); err != nil {
		return nil, nil, err
	}
	if err := syncOperState(s.h, inner); err != nil {
		return nil, nil, err
	}
	return outer, inner, nil
}

// paired reports whether outer and inner are the two ends of one veth, each
// carrying the marker p wants.
func paired(outer, inner netlink.Link, p pair) bool {
	if outer == nil || inner == nil || outer.Type() != "veth" {
		return false
	}
	om, _ := linkMarker(outer)
	im, _ := linkMarker(inner)
	return om == p.outerMark && im == p.innerMark && outer.Attrs().Index == nsexec.IfIndex(p.outer) &&
		outer.Attrs().ParentIndex == inner.Attrs().Index &&
		inner.Attrs().ParentIndex == outer.Attrs().Index
}

// replacePair deletes whatever holds p's names and creates the veth afresh.
func (l *Lab) replacePair(r, s *space, p pair, outer, inner netlink.Link) (netlink.Link, netlink.Link, error) {
	if outer != nil {
		if err := delLink(r.h, outer); err != nil {
			return nil, nil, err
		}
	}
	if inner != nil {
		if err := delLink(s.h, inner); err != nil {
			return nil, nil, err
		}
	}
	return l.createPair(r, s, p)
}

// createPair creates the veth in the router namespace with its peer born in
// s: no end of it ever exists in the namespace of the process. The router
// end has the index its name gives (nsexec.IfIndex), by which the data
// plane knows it, and no auto-generated link-local address (fe80::1 is its
// only one); the inner end skips DAD, so its link-local address is never
// tentative.
func (l *Lab) createPair(r, s *space, p pair) (netlink.Link, netlink.Link, error) {
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MTU, attrs.Index = p.outer, l.mtu, nsexec.IfIndex(p.outer)
	v := &netlink.Veth{LinkAttrs: attrs, PeerName: p.inner, PeerNamespace: netlink.NsFd(int(s.ns))}
	if err := r.h.LinkAdd(v); err != nil {
		if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.EBUSY) {
			err = fmt.Errorf("%w (interface index %d, which another interface of the router may hold: two names hashed alike)", err, attrs.Index)
		}
		return nil, nil, fmt.Errorf("create veth %s (%s) – %s (%s): %w", p.outer, r.name, p.inner, s.name, err)
	}
	outer, err := r.h.LinkByName(p.outer)
	if err != nil {
		return nil, nil, fmt.Errorf("find new veth %s: %w", p.outer, err)
	}
	if err := r.h.LinkSetIP6AddrGenMode(outer, nl.IN6_ADDR_GEN_MODE_NONE); err != nil {
		return nil, nil, fmt.Errorf("set addrgenmode of %s: %w", p.outer, err)
	}
	inner, err := s.h.LinkByName(p.inner)
	if err != nil {
		return nil, nil, fmt.Errorf("find new veth %s in %s: %w", p.inner, s.name, err)
	}
	if err := setSysctls(s, sysctl{"net/ipv6/conf/" + p.inner + "/accept_dad", "0"}); err != nil {
		return nil, nil, err
	}
	l.log.Info("veth created", "router", r.name, "if", p.outer, "ns", s.name, "dev", p.inner)
	return outer, inner, nil
}

// gatewayAddrs are the router-side addresses of a veth whose IPv4 gateway
// is gw4.
func gatewayAddrs(gw4 netip.Addr) []wantAddr {
	as := []wantAddr{{prefix: netip.PrefixFrom(gateway6, 64), flags: noDAD}}
	if gw4.IsValid() { // an IPv6-only NIC has no IPv4 gateway
		as = append(as, wantAddr{prefix: hostPrefix(gw4)})
	}
	return as
}

// hostRoutes are the router's routes to the given addresses (invalid ones
// skipped) through one veth: /32 and /128, nothing on-link beyond them.
func hostRoutes(addrs ...netip.Addr) []netlink.Route {
	var rs []netlink.Route
	for _, a := range addrs {
		if !a.IsValid() {
			continue
		}
		r := netlink.Route{Dst: ipNet(hostPrefix(a)), Table: mainTable}
		if a.Is4() {
			r.Scope = netlink.SCOPE_LINK
		}
		rs = append(rs, r)
	}
	return rs
}

// defaultRoutes are an inner end's default routes in table: IPv4 via gw4
// (onlink: the gateway needs no route of its own), and IPv6 via fe80::1
// when v6 is set.
func defaultRoutes(table int, gw4 netip.Addr, v6 bool) []netlink.Route {
	var rs []netlink.Route
	if gw4.IsValid() {
		rs = append(rs, netlink.Route{
			Dst: ipNet(netip.PrefixFrom(netip.IPv4Unspecified(), 0)), Gw: gw4.AsSlice(),
			Table: table, Flags: int(netlink.FLAG_ONLINK),
		})
	}
	if v6 {
		rs = append(rs, netlink.Route{
			Dst: ipNet(netip.PrefixFrom(netip.IPv6Unspecified(), 0)), Gw: gateway6.AsSlice(), Table: table,
		})
	}
	return rs
}
