package lab

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"palisade.dev/palisade/internal/model"
)

// VPC is a VPC the lab has wired: its id and its router namespace.
type VPC struct {
	ID     model.VpcID
	Router string // name of the router namespace
}

// State is what the lab has on this machine, read back from the kernel, in
// the same types the Ensure operations take (so a reconcile can compare
// them with ==, field by field). Each list is sorted by id or name.
type State struct {
	VPCs      []VPC
	Instances []Instance // NICs sorted by device index
	Hosts     []Host
}

// List reads what this lab (its router prefix) has on this machine: every
// marked namespace, whichever process made it.
func (l *Lab) List() (State, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.list()
}

func (l *Lab) list() (State, error) {
	names, err := namespaceNames()
	if err != nil {
		return State{}, err
	}
	var st State
	for _, name := range names {
		if err := l.inspect(name, &st); err != nil {
			return State{}, fmt.Errorf("list lab: %w", err)
		}
	}
	slices.SortFunc(st.VPCs, func(a, b VPC) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(st.Instances, func(a, b Instance) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(st.Hosts, func(a, b Host) int { return cmp.Compare(a.Name, b.Name) })
	return st, nil
}

// inspect adds the named namespace to st when it is this lab's.
func (l *Lab) inspect(name string, st *State) error {
	s, err := openSpace(name)
	if errors.Is(err, errNoNamespace) {
		return nil // gone since the directory was read, or a stale file
	}
	if err != nil {
		return err
	}
	defer s.Close()
	m, err := loMarker(s)
	if err != nil || !l.ours(m) {
		return err
	}
	switch m.role {
	case roleRouter:
		st.VPCs = append(st.VPCs, VPC{ID: m.vpc, Router: name})
	case roleInstance:
		nics, err := readNICs(s)
		st.Instances = append(st.Instances, Instance{ID: model.InstanceID(name), VPC: m.vpc, NICs: nics})
		return err
	case roleHost:
		h, err := readHost(s)
		h.Name, h.VPC = name, m.vpc
		st.Hosts = append(st.Hosts, h)
		return err
	}
	return nil
}

// readNICs reads the lab's NICs of an instance namespace.
func readNICs(s *space) ([]NIC, error) {
	links, err := dump(s.h.LinkList)
	if err != nil {
		return nil, fmt.Errorf("list links of %s: %w", s.name, err)
	}
	var nics []NIC
	for _, k := range links {
		m, ok := linkMarker(k)
		dev, isEth := strings.CutPrefix(k.Attrs().Name, "eth")
		d, err := strconv.Atoi(dev)
		if !ok || m.role != roleNIC || !isEth || err != nil {
			continue
		}
		v4, v6, more, more6, err := readAddrs(s, k)
		if err != nil {
			return nil, err
		}
		nics = append(nics, NIC{ENI: m.eni, Device: d, IPv4: v4, IPv6: v6, Secondary: more, MoreIPv6: more6})
	}
	slices.SortFunc(nics, func(a, b NIC) int { return cmp.Compare(a.Device, b.Device) })
	return nics, nil
}

// readHost reads the addresses of a host namespace's eth0.
func readHost(s *space) (Host, error) {
	eth0, err := linkByName(s.h, "eth0")
	if err != nil || eth0 == nil {
		return Host{}, err
	}
	v4, v6, _, _, err := readAddrs(s, eth0)
	return Host{IPv4: v4.Addr(), IPv6: v6.Addr()}, err
}

// readAddrs returns the primary IPv4 address of l (the one the kernel does
// not flag secondary), the other IPv4 addresses in the kernel's order, and
// the non-link-local IPv6 addresses: the kernel keeps no mark of which
// was the primary, so v6 is the lowest and more6 the others in order.
func readAddrs(s *space, l netlink.Link) (v4, v6 netip.Prefix, more, more6 []netip.Addr, err error) {
	addrs, err := dump(func() ([]netlink.Addr, error) { return s.h.AddrList(l, netlink.FAMILY_ALL) })
	if err != nil {
		return v4, v6, nil, nil, fmt.Errorf("list addresses of %s in %s: %w", l.Attrs().Name, s.name, err)
	}
	var all6 []netip.Prefix
	for _, a := range addrs {
		p := prefixOf(a.IPNet, 0)
		switch {
		case p.Addr().Is4() && !v4.IsValid() && a.Flags&unix.IFA_F_SECONDARY == 0:
			v4 = p
		case p.Addr().Is4():
			more = append(more, p.Addr())
		case p.Addr().Is6() && !p.Addr().IsLinkLocalUnicast():
			all6 = append(all6, p)
		}
	}
	slices.SortFunc(all6, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	for i, p := range all6 {
		if i == 0 {
			v6 = p
		} else {
			more6 = append(more6, p.Addr())
		}
	}
	return v4, v6, more, more6, nil
}

// Down removes every namespace and interface this lab (its router prefix)
// made on this machine, and nothing else. It goes on past errors and
// returns them all.
func (l *Lab) Down() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	st, err := l.list()
	if err != nil {
		return fmt.Errorf("lab down: %w", err)
	}
	var errs []error
	for _, inst := range st.Instances {
		errs = append(errs, l.release(string(inst.ID), roleInstance))
	}
	for _, h := range st.Hosts {
		errs = append(errs, l.release(h.Name, roleHost))
	}
	for _, v := range st.VPCs {
		errs = append(errs, l.removeRouter(v.ID))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lab down: %w", err)
	}
	return nil
}
