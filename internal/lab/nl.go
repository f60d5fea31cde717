package lab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// routeProtocol marks the routes the lab installs (rtm_protocol), so that a
// reconcile removes its own stale routes and nothing else. iproute2 shows it
// as "proto 87".
const routeProtocol netlink.RouteProtocol = 87

// Policy routing of secondary interfaces: device index N uses table
// tableBase+N and a rule of priority tableBase+N.
const tableBase = 10000

// dump retries a netlink dump that the kernel interrupted because the
// table changed under it.
func dump[T any](list func() ([]T, error)) ([]T, error) {
	for try := 0; ; try++ {
		v, err := list()
		if errors.Is(err, netlink.ErrDumpInterrupted) && try < 5 {
			continue
		}
		return v, err
	}
}

// linkByName returns the link called name, or nil when there is none.
func linkByName(h *netlink.Handle, name string) (netlink.Link, error) {
	l, err := h.LinkByName(name)
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find link %s: %w", name, err)
	}
	return l, nil
}

// delLink deletes l; a link that is already gone is not an error (deleting
// one end of a veth deletes the other).
func delLink(h *netlink.Handle, l netlink.Link) error {
	err := h.LinkDel(l)
	if err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete link %s: %w", l.Attrs().Name, err)
	}
	return nil
}

// linkMarker reads the lab marker in l's alias.
func linkMarker(l netlink.Link) (marker, bool) { return parseMarker(l.Attrs().Alias) }

// prepareLink gives l its alias and MTU and brings it up, touching only what
// differs.
func prepareLink(h *netlink.Handle, l netlink.Link, alias string, mtu int) error {
	a := l.Attrs()
	if a.Alias != alias {
		if err := h.LinkSetAlias(l, alias); err != nil {
			return fmt.Errorf("set alias of %s: %w", a.Name, err)
		}
	}
	if mtu > 0 && a.MTU != mtu {
		if err := h.LinkSetMTU(l, mtu); err != nil {
			return fmt.Errorf("set mtu of %s: %w", a.Name, err)
		}
	}
	if a.Flags&net.FlagUp == 0 {
		if err := h.LinkSetUp(l); err != nil {
			return fmt.Errorf("set %s up: %w", a.Name, err)
		}
	}
	return nil
}

// syncOperState reads l back. The kernel turns a carrier change into an
// operational state (and only then does IPv6 configure the link) in its
// linkwatch work, which may lag up to a second behind; on this kernel a
// link query makes it catch up at once, so a veth is fully up when Ensure
// returns.
func syncOperState(h *netlink.Handle, l netlink.Link) error {
	if _, err := h.LinkByIndex(l.Attrs().Index); err != nil {
		return fmt.Errorf("read %s back: %w", l.Attrs().Name, err)
	}
	return nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func hostPrefix(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }

// prefixOf converts a kernel address or route destination; nil is the
// default route of family.
func prefixOf(n *net.IPNet, family int) netip.Prefix {
	if n == nil {
		if family == netlink.FAMILY_V6 {
			return netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		}
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	}
	a, _ := netip.AddrFromSlice(n.IP)
	bits, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), bits)
}

func addrOf(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

const mainTable = unix.RT_TABLE_MAIN

// Address flags the lab sets: no duplicate address detection (usable at
// once), no prefix route (nothing on-link).
const (
	noDAD         = unix.IFA_F_NODAD
	noPrefixRoute = unix.IFA_F_NOPREFIXROUTE
	// addrFlags are the flags the lab sets and compares; the kernel adds
	// others (permanent, …) by itself.
	addrFlags = noDAD | noPrefixRoute
)

// wantAddr is one address the lab wants on a link.
type wantAddr struct {
	prefix netip.Prefix
	flags  int // of addrFlags
}

// syncAddrs makes the addresses of l exactly want, except IPv6 link-local
// addresses that the kernel generated, which it leaves alone.
func syncAddrs(h *netlink.Handle, l netlink.Link, want []wantAddr) error {
	have, err := dump(func() ([]netlink.Addr, error) { return h.AddrList(l, netlink.FAMILY_ALL) })
	if err != nil {
		return fmt.Errorf("list addresses of %s: %w", l.Attrs().Name, err)
	}
	wanted := make(map[netip.Prefix]int, len(want))
	for _, w := range want {
		wanted[w.prefix] = w.flags
	}
	present := make(map[netip.Prefix]int, len(have))
	for _, a := range have {
		p := prefixOf(a.IPNet, 0)
		present[p] = a.Flags & addrFlags
		if _, ok := wanted[p]; ok || p.Addr().IsLinkLocalUnicast() && p.Addr().Is6() {
			continue
		}
		if err := h.AddrDel(l, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("delete address %s of %s: %w", p, l.Attrs().Name, err)
		}
	}
	for _, w := range want {
		if f, ok := present[w.prefix]; ok && f == w.flags {
			continue
		}
		a := &netlink.Addr{IPNet: ipNet(w.prefix), Flags: w.flags}
		if err := h.AddrReplace(l, a); err != nil {
			return fmt.Errorf("add address %s to %s: %w", w.prefix, l.Attrs().Name, err)
		}
	}
	return nil
}

// routeKey identifies a route the lab manages on one link.
type routeKey struct {
	table int
	dst   netip.Prefix
	gw    netip.Addr
}

func keyOf(r netlink.Route) routeKey {
	t := r.Table
	if t == 0 {
		t = unix.RT_TABLE_MAIN
	}
	return routeKey{table: t, dst: prefixOf(r.Dst, r.Family), gw: addrOf(r.Gw)}
}

// syncRoutes makes the lab's routes (routeProtocol, any table) through l
// exactly want. Routes in want need Dst, Table (0 is main) and Gw set as
// they should be; syncRoutes fills in the link and the protocol.
func syncRoutes(h *netlink.Handle, l netlink.Link, want []netlink.Route) error {
	filter := &netlink.Route{LinkIndex: l.Attrs().Index, Protocol: routeProtocol}
	mask := netlink.RT_FILTER_OIF | netlink.RT_FILTER_PROTOCOL | netlink.RT_FILTER_TABLE
	have, err := dump(func() ([]netlink.Route, error) {
		return h.RouteListFiltered(netlink.FAMILY_ALL, filter, mask)
	})
	if err != nil {
		return fmt.Errorf("list routes of %s: %w", l.Attrs().Name, err)
	}
	wanted := make(map[routeKey]bool, len(want))
	for _, r := range want {
		wanted[keyOf(r)] = true
	}
	present := make(map[routeKey]bool, len(have))
	for _, r := range have {
		k := keyOf(r)
		present[k] = true
		if wanted[k] {
			continue
		}
		if err := h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("delete route %s of %s: %w", k.dst, l.Attrs().Name, err)
		}
	}
	for _, r := range want {
		if present[keyOf(r)] {
			continue
		}
		r.LinkIndex, r.Protocol = l.Attrs().Index, routeProtocol
		if err := h.RouteReplace(&r); err != nil {
			return fmt.Errorf("add route %s via %s: %w", keyOf(r).dst, l.Attrs().Name, err)
		}
	}
	return nil
}

// ruleKey identifies a policy-routing rule the lab manages.
type ruleKey struct {
	priority, table int
	src             netip.Prefix
}

func ruleKeyOf(r netlink.Rule) ruleKey {
	return ruleKey{priority: r.Priority, table: r.Table, src: prefixOf(r.Src, r.Family)}
}

// ourRule reports whether a rule's priority is in the lab's range.
func ourRule(r netlink.Rule) bool {
	return r.Priority >= tableBase && r.Priority <= tableBase+maxDevice
}

// syncRules makes the rules of the lab's priority range exactly want.
func syncRules(h *netlink.Handle, want []netlink.Rule) error {
	var have []netlink.Rule
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rs, err := dump(func() ([]netlink.Rule, error) { return h.RuleList(fam) })
		if err != nil {
			return fmt.Errorf("list rules: %w", err)
		}
		have = append(have, rs...)
	}
	wanted := make(map[ruleKey]bool, len(want))
	for _, r := range want {
		wanted[ruleKeyOf(r)] = true
	}
	present := make(map[ruleKey]bool, len(have))
	for _, r := range have {
		if !ourRule(r) {
			continue
		}
		k := ruleKeyOf(r)
		present[k] = true
		if !wanted[k] {
			if err := h.RuleDel(&r); err != nil && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("delete rule %d from %s: %w", k.priority, k.src, err)
			}
		}
	}
	for _, r := range want {
		if present[ruleKeyOf(r)] {
			continue
		}
		if err := h.RuleAdd(&r); err != nil {
			return fmt.Errorf("add rule %d from %s: %w", r.Priority, ruleKeyOf(r).src, err)
		}
	}
	return nil
}
