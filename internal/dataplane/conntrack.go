package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policy"
)

// Cut ends untracked flows that lost their rule (docs/aws-semantics.md#connection-tracking: they are
// "immediately interrupted if the rule that enables the flow is removed or
// modified"). The kernel tracks every flow, so after an Apply that narrowed
// a policy the router's conntrack table still holds entries that pass the
// packets of such flows as "established". Cut deletes the entries of the
// flows of one interface that fall into one of cuts (policy.Diff.Cuts) and
// that now — the interface's new policy, nil when the interface is gone —
// no longer allows, re-deciding each with policy.Side.Decide; flows that a
// narrower rule still allows keep their entries. The interface's flows are
// those to or from an address of was.Policy (the interface as it was
// applied; its Policy may be nil when now is given) or of now. Call it
// after the Apply of the new policy: the next packet of a cut flow then
// finds no entry and is decided by the new rules as a new flow (TCP
// included: Linux picks up a connection from any of its packets). So a
// client whose flow was cut is dropped from its next packet on; should the
// instance send first, its own egress rules decide, and when they allow it
// the kernel tracks the connection afresh from that side, as a new tracked
// outbound flow would be on AWS. Cut returns the number of entries deleted.
func (t *Table) Cut(was Port, cuts []policy.UntrackedClass, now *policy.Policy) (int, error) {
	f := cutFilter{own: map[netip.Addr]bool{}, cuts: cuts, now: now}
	for _, p := range []*policy.Policy{was.Policy, now} {
		if p != nil {
			for _, a := range p.Addrs {
				f.own[a.Unmap()] = true
			}
		}
	}
	if len(cuts) == 0 || len(f.own) == 0 {
		return 0, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	h, err := netlink.NewHandleAt(netns.NsHandle(t.ns.Fd()), unix.NETLINK_NETFILTER)
	if err != nil {
		return 0, fmt.Errorf("conntrack netlink: %w", err)
	}
	defer h.Close()
	total := 0
	var errs []error
	for _, fam := range []netlink.InetFamily{unix.AF_INET, unix.AF_INET6} {
		if !f.hasFamily(fam == unix.AF_INET6) {
			continue
		}
		n, err := h.ConntrackDeleteFilters(netlink.ConntrackTable, fam, f)
		total += int(n)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return total, fmt.Errorf("cut untracked flows of %s: %w", was.ENI, err)
	}
	if total > 0 {
		t.log.Info("untracked flows cut", "eni", was.ENI, "entries", total)
	}
	return total, nil
}

// cutFilter selects the conntrack entries Cut deletes.
type cutFilter struct {
	own  map[netip.Addr]bool
	cuts []policy.UntrackedClass
	now  *policy.Policy
}

func (f cutFilter) hasFamily(v6 bool) bool {
	for _, c := range f.cuts {
		if c.IPv6 == v6 {
			return true
		}
	}
	return false
}

// MatchConntrackFlow implements netlink.CustomConntrackFilter. The
// original tuple is the flow as its first packet saw it (the lab has no
// NAT): the interface is its destination for ingress classes, its source for
// egress ones.
func (f cutFilter) MatchConntrackFlow(flow *netlink.ConntrackFlow) bool {
	src, dst := ipAddr(flow.Forward.SrcIP), ipAddr(flow.Forward.DstIP)
	proto, port := model.Proto(flow.Forward.Protocol), flow.Forward.DstPort
	for _, c := range f.cuts {
		local, peer := dst, src
		if c.Direction == model.Egress {
			local, peer = src, dst
		}
		if c.Proto != proto || c.IPv6 != peer.Is6() || !f.own[local] || !c.Ports.Contains(port) {
			continue
		}
		if f.now == nil || !f.now.Decide(c.Direction, policy.Flow{Proto: proto, Peer: peer, Port: port}).Allowed {
			return true
		}
	}
	return false
}

func ipAddr(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

var _ netlink.CustomConntrackFilter = cutFilter{}
