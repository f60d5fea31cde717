package lab

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"

	"palisade.dev/palisade/internal/model"
)

// Instance is a running instance as the lab wires it.
type Instance struct {
	ID   model.InstanceID // also its namespace's name
	VPC  model.VpcID      // EnsureVPC must have made its router
	NICs []NIC            // its network interfaces, one of them with Device 0
}

// NIC is one network interface (ENI) of an instance.
type NIC struct {
	ENI    model.ENIID
	Device int // device index: 0 is eth0 (the primary), 1 is eth1, … (≤ 99)
	// IPv4 is the private address with its subnet's prefix length, e.g.
	// 172.31.5.9/20. The subnet's base address + 1 is the gateway, so
	// IPv4 may be neither of those two; prefix length ≤ 30. Zero for the
	// NIC of an IPv6-only subnet, which then has IPv6.
	IPv4 netip.Prefix
	// IPv6 is optional (zero when none): the address with its subnet's
	// prefix length, e.g. 2600:1f18::9/64; not link-local.
	IPv6 netip.Prefix
	// Secondary are the NIC's secondary private IPv4 addresses, in IPv4's
	// subnet, held on the same device with IPv4's prefix length.
	Secondary []netip.Addr
	// MoreIPv6 are the NIC's other IPv6 addresses (IPv6 set), held on the
	// same device with IPv6's prefix length.
	MoreIPv6 []netip.Addr
}

// Equal reports whether n and o wire the same (Secondary in order).
func (n NIC) Equal(o NIC) bool {
	return n.ENI == o.ENI && n.Device == o.Device && n.IPv4 == o.IPv4 && n.IPv6 == o.IPv6 &&
		slices.Equal(n.Secondary, o.Secondary) && slices.Equal(n.MoreIPv6, o.MoreIPv6)
}

// addrs are the NIC's addresses: IPv4 and IPv6 when set, then the secondary
// IPv4 and the other IPv6 ones.
func (n NIC) addrs() []netip.Addr {
	var out []netip.Addr
	for _, a := range []netip.Addr{n.IPv4.Addr(), n.IPv6.Addr()} {
		if a.IsValid() {
			out = append(out, a)
		}
	}
	return append(append(out, n.Secondary...), n.MoreIPv6...)
}

// gateway4 is the subnet's VPC router address, base + 1, as on EC2; zero
// for an IPv6-only NIC.
func (n NIC) gateway4() netip.Addr {
	if !n.IPv4.IsValid() {
		return netip.Addr{}
	}
	return n.IPv4.Masked().Addr().Next()
}

// table is the routing table of the NIC's default routes.
func (n NIC) table() int {
	if n.Device == 0 {
		return mainTable
	}
	return tableBase + n.Device
}

// EnsureInstance makes the instance's namespace (named by its id) and, for
// every NIC, a veth from the VPC's router to ethN with the NIC's addresses
// and routes; it removes the lab's NICs of the instance that inst no longer
// lists. The VPC's router must exist.
func (l *Lab) EnsureInstance(inst Instance) error {
	if err := validInstance(inst); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.ensureInstance(inst); err != nil {
		return fmt.Errorf("ensure instance %s: %w", inst.ID, err)
	}
	return nil
}

func (l *Lab) ensureInstance(inst Instance) error {
	r, err := l.openRouter(inst.VPC)
	if err != nil {
		return err
	}
	defer r.Close()
	s, err := l.claimMember(string(inst.ID), marker{role: roleInstance, vpc: inst.VPC, router: r.name})
	if err != nil {
		return err
	}
	defer s.Close()
	if err := l.pruneNICs(r, s, inst); err != nil {
		return err
	}
	for _, nic := range inst.NICs {
		if err := l.ensureNIC(r, s, inst.ID, nic); err != nil {
			return fmt.Errorf("%s: %w", nic.ENI, err)
		}
	}
	return syncRules(s.h, instanceRules(inst.NICs))
}

// ensureNIC wires one NIC: the veth, the router end (gateway addresses,
// proxy ARP, routes to the NIC's addresses), the instance end (addresses,
// default routes).
func (l *Lab) ensureNIC(r, s *space, id model.InstanceID, nic NIC) error {
	dev := devName(nic.Device)
	outer, inner, err := l.plug(r, s, pair{
		outer: RouterIfName(nic.ENI), inner: dev,
		outerMark: marker{role: roleNIC, eni: nic.ENI, ns: string(id), dev: dev},
		innerMark: marker{role: roleNIC, eni: nic.ENI},
	})
	if err != nil {
		return err
	}
	if err := setSysctls(r, proxyARPSysctls(outer.Attrs().Name)...); err != nil {
		return err
	}
	if err := syncAddrs(r.h, outer, gatewayAddrs(nic.gateway4())); err != nil {
		return err
	}
	if err := syncRoutes(r.h, outer, hostRoutes(nic.addrs()...)); err != nil {
		return err
	}
	if err := syncAddrs(s.h, inner, nicAddrs(nic)); err != nil {
		return err
	}
	return syncRoutes(s.h, inner, defaultRoutes(nic.table(), nic.gateway4(), nic.IPv6.IsValid()))
}

// nicAddrs are the addresses of the instance end: IPv4 with its subnet's
// prefix (on-link, as on EC2), every IPv6 address without a prefix route.
func nicAddrs(nic NIC) []wantAddr {
	var as []wantAddr
	if nic.IPv4.IsValid() {
		as = append(as, wantAddr{prefix: nic.IPv4})
	}
	if nic.IPv6.IsValid() {
		as = append(as, wantAddr{prefix: nic.IPv6, flags: noDAD | noPrefixRoute})
	}
	for _, a := range nic.Secondary {
		as = append(as, wantAddr{prefix: netip.PrefixFrom(a, nic.IPv4.Bits())})
	}
	for _, a := range nic.MoreIPv6 {
		as = append(as, wantAddr{prefix: netip.PrefixFrom(a, nic.IPv6.Bits()), flags: noDAD | noPrefixRoute})
	}
	return as
}

// instanceRules route what a secondary NIC's addresses send by that NIC's
// table, so replies leave through the interface they came in by.
func instanceRules(nics []NIC) []netlink.Rule {
	var rules []netlink.Rule
	for _, nic := range nics {
		if nic.Device == 0 {
			continue
		}
		for _, a := range nic.addrs() {
			if !a.IsValid() {
				continue
			}
			r := netlink.NewRule()
			r.Priority, r.Table, r.Src = nic.table(), nic.table(), ipNet(hostPrefix(a))
			r.Family = netlink.FAMILY_V4
			if a.Is6() {
				r.Family = netlink.FAMILY_V6
			}
			rules = append(rules, *r)
		}
	}
	return rules
}

// pruneNICs deletes the instance's veths whose ENI inst no longer lists (or
// lists under another device).
func (l *Lab) pruneNICs(r, s *space, inst Instance) error {
	want := make(map[model.ENIID]string, len(inst.NICs)) // ENI → device name
	for _, nic := range inst.NICs {
		want[nic.ENI] = devName(nic.Device)
	}
	stale := func(name string, m marker) bool {
		return m.role == roleNIC && (m.ns == string(inst.ID) && want[m.eni] == "" ||
			m.ns == "" && want[m.eni] != name)
	}
	for _, sp := range []*space{r, s} {
		if err := l.deleteLinks(sp, stale); err != nil {
			return err
		}
	}
	return nil
}

// deleteLinks deletes the marked links of s for which stale says so.
func (l *Lab) deleteLinks(s *space, stale func(name string, m marker) bool) error {
	links, err := dump(s.h.LinkList)
	if err != nil {
		return fmt.Errorf("list links of %s: %w", s.name, err)
	}
	for _, k := range links {
		if m, ok := linkMarker(k); ok && stale(k.Attrs().Name, m) {
			if err := delLink(s.h, k); err != nil {
				return err
			}
			l.log.Info("veth deleted", "ns", s.name, "if", k.Attrs().Name, "eni", m.eni)
		}
	}
	return nil
}

// claimMember claims the namespace of an instance or host; one that the
// lab made for another VPC is removed and made again.
func (l *Lab) claimMember(name string, want marker) (*space, error) {
	m, found, err := namespaceMarker(name)
	if err != nil {
		return nil, err
	}
	if found && m.role == want.role && l.ours(m) && m != want {
		if err := l.release(name, want.role); err != nil {
			return nil, err
		}
	}
	return l.claim(name, want)
}

// RemoveInstance removes the instance's namespace and its veths.
func (l *Lab) RemoveInstance(id model.InstanceID) error {
	if !validID(model.KindInstance, id) {
		return fmt.Errorf("instance id %q: %w", id, ErrInvalid)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.release(string(id), roleInstance); err != nil {
		return fmt.Errorf("remove instance %s: %w", id, err)
	}
	return nil
}
