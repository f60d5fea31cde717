package lab

import (
	"fmt"
	"net/netip"
	"strings"

	"palisade.dev/palisade/internal/model"
)

// validInstance checks the form of inst; errors wrap ErrInvalid.
func validInstance(inst Instance) error {
	if !validID(model.KindInstance, inst.ID) {
		return fmt.Errorf("instance id %q: %w", inst.ID, ErrInvalid)
	}
	if !validID(model.KindVPC, inst.VPC) {
		return fmt.Errorf("instance %s: vpc id %q: %w", inst.ID, inst.VPC, ErrInvalid)
	}
	devices, enis, addrs := map[int]bool{}, map[model.ENIID]bool{}, map[netip.Addr]bool{}
	for _, nic := range inst.NICs {
		if err := validNIC(nic); err != nil {
			return fmt.Errorf("instance %s: %w", inst.ID, err)
		}
		if devices[nic.Device] || enis[nic.ENI] {
			return fmt.Errorf("instance %s: %s: device or eni twice: %w", inst.ID, nic.ENI, ErrInvalid)
		}
		devices[nic.Device], enis[nic.ENI] = true, true
		for _, a := range nic.addrs() {
			if addrs[a] {
				return fmt.Errorf("instance %s: %s: address %s twice: %w", inst.ID, nic.ENI, a, ErrInvalid)
			}
			addrs[a] = true
		}
	}
	if !devices[0] {
		return fmt.Errorf("instance %s: no network interface with device index 0: %w", inst.ID, ErrInvalid)
	}
	return nil
}

// validNIC checks one NIC; errors wrap ErrInvalid. Addresses must be global
// unicast in netip's sense: not unspecified, loopback, multicast or
// link-local (private and ULA addresses are fine).
func validNIC(nic NIC) error {
	if !validID(model.KindENI, nic.ENI) {
		return fmt.Errorf("eni id %q: %w", nic.ENI, ErrInvalid)
	}
	if nic.Device < 0 || nic.Device > maxDevice {
		return fmt.Errorf("%s: device index %d: %w", nic.ENI, nic.Device, ErrInvalid)
	}
	if err := validIPv6s(nic); err != nil {
		return err
	}
	p := nic.IPv4
	if !p.IsValid() && nic.IPv6.IsValid() && len(nic.Secondary) == 0 {
		return nil // an IPv6-only NIC
	}
	if !p.IsValid() || !p.Addr().Is4() || p.Bits() < 1 || p.Bits() > 30 {
		return fmt.Errorf("%s: ipv4 %s (want a.b.c.d/1–30): %w", nic.ENI, p, ErrInvalid)
	}
	if p.Addr() == p.Masked().Addr() || p.Addr() == nic.gateway4() {
		return fmt.Errorf("%s: ipv4 %s is the subnet's network or router address: %w", nic.ENI, p, ErrInvalid)
	}
	for _, a := range nic.Secondary {
		if !a.Is4() || !p.Masked().Contains(a) || a == p.Masked().Addr() || a == nic.gateway4() || a == p.Addr() {
			return fmt.Errorf("%s: secondary ipv4 %s (want another address of %s): %w", nic.ENI, a, p.Masked(), ErrInvalid)
		}
	}
	return nil
}

// validIPv6s checks a NIC's IPv6 addresses: global unicast, the others
// only beside IPv6.
func validIPv6s(nic NIC) error {
	if q := nic.IPv6; q.IsValid() && (!q.Addr().Is6() || q.Addr().Is4In6() || !q.Addr().IsGlobalUnicast()) {
		return fmt.Errorf("%s: ipv6 %s: %w", nic.ENI, q, ErrInvalid)
	}
	for _, a := range nic.MoreIPv6 {
		if !nic.IPv6.IsValid() || !a.Is6() || a.Is4In6() || !a.IsGlobalUnicast() || a == nic.IPv6.Addr() {
			return fmt.Errorf("%s: more ipv6 %s (want other global addresses beside ipv6): %w", nic.ENI, a, ErrInvalid)
		}
	}
	return nil
}

// validHost checks the form of h; errors wrap ErrInvalid.
func (l *Lab) validHost(h Host) error {
	if !validHostName(h.Name) || strings.HasPrefix(h.Name, l.prefix) {
		return fmt.Errorf("host name %q (want 1–%d of [A-Za-z0-9._-], no instance id, not %s…): %w",
			h.Name, MaxHostNameLen, l.prefix, ErrInvalid)
	}
	if !validID(model.KindVPC, h.VPC) {
		return fmt.Errorf("host %s: vpc id %q: %w", h.Name, h.VPC, ErrInvalid)
	}
	if !h.IPv4.Is4() || !h.IPv4.IsGlobalUnicast() {
		return fmt.Errorf("host %s: ipv4 %s: %w", h.Name, h.IPv4, ErrInvalid)
	}
	if h.IPv6.IsValid() && (!h.IPv6.Is6() || h.IPv6.Is4In6() || !h.IPv6.IsGlobalUnicast()) {
		return fmt.Errorf("host %s: ipv6 %s: %w", h.Name, h.IPv6, ErrInvalid)
	}
	return nil
}
