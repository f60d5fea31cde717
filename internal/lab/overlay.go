package lab

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/nsexec"
)

// OverlayIfName is the router-side VXLAN interface that joins a VPC's router
// to the same VPC's routers on other hosts. It starts with neither
// ENIIfPrefix nor HostIfPrefix: to the firewall it is an interface to the
// outside of what this host enforces, as a lab host's is (the sender's host
// enforced egress, the receiver's host enforces ingress).
const OverlayIfName = "ovl"

// VXLANPort is the overlay's UDP port on the underlay (IANA's VXLAN port).
const VXLANPort = 4789

// roleOverlay marks the router's VXLAN interface.
const roleOverlay = "overlay"

// Overlay is what one VPC router needs to reach the routers of the same VPC
// on other hosts: a VXLAN interface with the VPC's VNI whose UDP socket
// lives in the host's namespace (Config.HostNamespace) on its underlay
// address, and, per peer host, a static forwarding entry (the peer
// router's MAC → the peer's underlay address), a permanent neighbour entry
// and a host route for each address the peer serves. Nothing is learnt and
// nothing is flooded: every entry comes from the store.
type Overlay struct {
	VNI   uint32           // 1 to 2^24-1, one per VPC (VNI)
	Local netip.Addr       // this host's underlay address
	MAC   net.HardwareAddr // this router's MAC on the overlay (HostMAC)
	Peers []Peer
}

// Peer is another host that has the VPC.
type Peer struct {
	Underlay netip.Addr       // its underlay address
	MAC      net.HardwareAddr // its router's MAC on the overlay (HostMAC)
	Addrs    []netip.Addr     // the VPC addresses it serves: its instances' and lab hosts'
}

// VNI is the VXLAN network identifier of a VPC: 24 bits of a hash of its
// ID, never 0. Two VPCs whose VNIs collide cannot both have routers with
// an overlay on one host (EnsureOverlay then fails for the second).
func VNI(vpcID model.VpcID) uint32 {
	sum := sha256.Sum256([]byte("vni/" + string(vpcID)))
	v := uint32(sum[0])<<16 | uint32(sum[1])<<8 | uint32(sum[2])
	if v == 0 {
		v = 1
	}
	return v
}

// HostMAC is the overlay MAC of the routers on the host named host: a
// locally administered unicast address from a hash of the name, so that
// every host computes every other's without asking.
func HostMAC(host string) net.HardwareAddr {
	sum := sha256.Sum256([]byte("mac/" + host))
	mac := net.HardwareAddr(sum[:6])
	mac[0] = mac[0]&0xfc | 0x02
	return slices.Clone(mac)
}

// EnsureOverlay makes the VPC router's overlay match o. An overlay with no
// peers is removed: a VPC on one host needs none.
func (l *Lab) EnsureOverlay(vpcID model.VpcID, o Overlay) error {
	if !validID(model.KindVPC, vpcID) {
		return fmt.Errorf("vpc id %q: %w", vpcID, ErrInvalid)
	}
	if len(o.Peers) == 0 {
		return l.RemoveOverlay(vpcID) // a VPC on one host needs no overlay, nor an underlay
	}
	if err := validOverlay(o); err != nil {
		return fmt.Errorf("overlay of %s: %w", vpcID, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	r, err := l.openRouter(vpcID)
	if err != nil {
		return fmt.Errorf("ensure overlay of %s: %w", vpcID, err)
	}
	defer r.Close()
	link, err := l.overlayLink(r, o)
	if err != nil {
		return fmt.Errorf("ensure overlay of %s: %w", vpcID, err)
	}
	if err := syncOverlayEntries(r.h, link, o); err != nil {
		return fmt.Errorf("ensure overlay of %s: %w", vpcID, err)
	}
	return nil
}

// RemoveOverlay removes the VPC router's overlay, if it has one.
func (l *Lab) RemoveOverlay(vpcID model.VpcID) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, err := l.openRouter(vpcID)
	if errors.Is(err, ErrNoVPC) {
		return nil
	}
	if err != nil {
		return err
	}
	defer r.Close()
	return l.removeOverlay(r)
}

func (l *Lab) removeOverlay(r *space) error {
	link, err := linkByName(r.h, OverlayIfName)
	if err != nil || link == nil {
		return err
	}
	return delLink(r.h, link)
}

func validOverlay(o Overlay) error {
	if o.VNI == 0 || o.VNI >= 1<<24 {
		return fmt.Errorf("vni %d: %w", o.VNI, ErrInvalid)
	}
	if !o.Local.IsGlobalUnicast() {
		return fmt.Errorf("underlay address %s (a host with peers needs one): %w", o.Local, ErrInvalid)
	}
	macs := map[string]bool{o.MAC.String(): true}
	if len(o.MAC) != 6 {
		return fmt.Errorf("mac %s: %w", o.MAC, ErrInvalid)
	}
	for _, p := range o.Peers {
		if len(p.MAC) != 6 || macs[p.MAC.String()] {
			return fmt.Errorf("peer %s: mac %s missing or twice: %w", p.Underlay, p.MAC, ErrInvalid)
		}
		macs[p.MAC.String()] = true
		if !p.Underlay.IsValid() || p.Underlay.Is4() != o.Local.Is4() {
			return fmt.Errorf("peer underlay %s (local %s): %w", p.Underlay, o.Local, ErrInvalid)
		}
	}
	return nil
}

// overlayLink returns the router's VXLAN link, made as o says: an existing
// one with another VNI, local address or MAC is made again.
func (l *Lab) overlayLink(r *space, o Overlay) (netlink.Link, error) {
	alias := marker{role: roleOverlay}.String()
	link, err := linkByName(r.h, OverlayIfName)
	if err != nil {
		return nil, err
	}
	if vx, ok := link.(*netlink.Vxlan); ok && vx.VxlanId == int(o.VNI) && vx.Port == VXLANPort &&
		addrOf(vx.SrcAddr) == o.Local && bytes.Equal(vx.HardwareAddr, o.MAC) && vx.Index == nsexec.IfIndex(OverlayIfName) {
		return link, prepareLink(r.h, link, alias, l.mtu)
	}
	if link != nil {
		if err := delLink(r.h, link); err != nil {
			return nil, err
		}
	}
	// The link is created by a netlink socket in the host's namespace,
	// straight into the router's: its UDP socket stays bound where the
	// underlay address is, the interface lives in the router.
	h, err := l.hostHandle()
	if err != nil {
		return nil, err
	}
	defer h.Close()
	vx := &netlink.Vxlan{
		LinkAttrs: netlink.LinkAttrs{Name: OverlayIfName, Index: nsexec.IfIndex(OverlayIfName), HardwareAddr: o.MAC, Namespace: netlink.NsFd(r.ns)},
		VxlanId:   int(o.VNI),
		SrcAddr:   o.Local.AsSlice(),
		Port:      VXLANPort,
		Learning:  false,
	}
	if err := h.LinkAdd(vx); err != nil {
		return nil, fmt.Errorf("create vxlan %d on %s: %w", o.VNI, o.Local, err)
	}
	link, err = linkByName(r.h, OverlayIfName)
	if err != nil || link == nil {
		return nil, fmt.Errorf("find %s after creating it: %v", OverlayIfName, err)
	}
	if err := setSysctls(r, overlaySysctls...); err != nil {
		return nil, err
	}
	return link, prepareLink(r.h, link, alias, l.mtu)
}

// overlaySysctls: the router neither learns nor answers on the overlay by
// itself (every entry is static), and accepts packets from other hosts'
// instances whatever its reverse path (the route back is the overlay).
var overlaySysctls = []sysctl{
	{"net/ipv4/conf/" + OverlayIfName + "/rp_filter", "0"},
	{"net/ipv6/conf/" + OverlayIfName + "/accept_dad", "0"},
}

// hostHandle is a netlink socket in the host's namespace (where the
// underlay lives): Config.HostNamespace, or the process's own.
func (l *Lab) hostHandle() (*netlink.Handle, error) {
	if l.hostNS == "" {
		return netlink.NewHandle(unix.NETLINK_ROUTE)
	}
	ns, err := openNamespace(l.hostNS)
	if err != nil {
		return nil, fmt.Errorf("host namespace %s: %w", l.hostNS, err)
	}
	defer ns.Close()
	return netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
}

// syncOverlayEntries makes the overlay's forwarding entries, neighbours
// and routes exactly those of o's peers.
func syncOverlayEntries(h *netlink.Handle, link netlink.Link, o Overlay) error {
	idx := link.Attrs().Index
	type fdbKey struct{ mac, dst string }
	wantFDB := map[fdbKey]bool{}
	wantNeigh := map[netip.Addr]string{}
	var routes []netlink.Route
	for _, p := range o.Peers {
		wantFDB[fdbKey{p.MAC.String(), p.Underlay.String()}] = true
		for _, a := range p.Addrs {
			wantNeigh[a] = p.MAC.String()
			routes = append(routes, netlink.Route{Dst: ipNet(hostPrefix(a)), Scope: netlink.SCOPE_LINK})
		}
	}
	fdb, err := dump(func() ([]netlink.Neigh, error) { return h.NeighList(idx, unix.AF_BRIDGE) })
	if err != nil {
		return fmt.Errorf("list overlay forwarding entries: %w", err)
	}
	for _, n := range fdb {
		k := fdbKey{n.HardwareAddr.String(), addrOf(n.IP).String()}
		if n.State&unix.NUD_PERMANENT == 0 || wantFDB[k] {
			delete(wantFDB, k)
			continue
		}
		if err := h.NeighDel(&n); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("delete overlay forwarding entry %s: %w", k.mac, err)
		}
	}
	for k := range wantFDB {
		mac, _ := net.ParseMAC(k.mac)
		dst := netip.MustParseAddr(k.dst)
		n := &netlink.Neigh{LinkIndex: idx, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF,
			State: netlink.NUD_PERMANENT | netlink.NUD_NOARP, HardwareAddr: mac, IP: dst.AsSlice()}
		if err := h.NeighAppend(n); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("add overlay forwarding entry %s → %s: %w", k.mac, k.dst, err)
		}
	}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		have, err := dump(func() ([]netlink.Neigh, error) { return h.NeighList(idx, fam) })
		if err != nil {
			return fmt.Errorf("list overlay neighbours: %w", err)
		}
		for _, n := range have {
			a := addrOf(n.IP)
			if mac, ok := wantNeigh[a]; ok && mac == n.HardwareAddr.String() && n.State&netlink.NUD_PERMANENT != 0 {
				delete(wantNeigh, a)
				continue
			}
			if n.State&netlink.NUD_PERMANENT == 0 && wantNeigh[a] == "" {
				continue // the kernel's own (link-local and the like)
			}
			if err := h.NeighDel(&n); err != nil && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("delete overlay neighbour %s: %w", a, err)
			}
		}
	}
	for a, m := range wantNeigh {
		mac, _ := net.ParseMAC(m)
		fam := netlink.FAMILY_V4
		if a.Is6() {
			fam = netlink.FAMILY_V6
		}
		n := &netlink.Neigh{LinkIndex: idx, Family: fam, State: netlink.NUD_PERMANENT, HardwareAddr: mac, IP: a.AsSlice()}
		if err := h.NeighSet(n); err != nil {
			return fmt.Errorf("add overlay neighbour %s → %s: %w", a, m, err)
		}
	}
	return syncRoutes(h, link, routes)
}

// DefaultUnderlay is the address the host is reached at by default: the
// first global address of the interface that holds the IPv4 default route
// in the host's namespace (hostNS, "" for the process's own).
func DefaultUnderlay(hostNS string) (netip.Addr, error) {
	l := &Lab{hostNS: hostNS}
	h, err := l.hostHandle()
	if err != nil {
		return netip.Addr{}, err
	}
	defer h.Close()
	routes, err := dump(func() ([]netlink.Route, error) { return h.RouteList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return netip.Addr{}, fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst != nil && r.Dst.IP.To4() != nil && !r.Dst.IP.IsUnspecified() {
			continue
		}
		link, err := h.LinkByIndex(r.LinkIndex)
		if err != nil {
			continue
		}
		addrs, err := h.AddrList(link, netlink.FAMILY_V4)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("addresses of %s: %w", link.Attrs().Name, err)
		}
		for _, a := range addrs {
			if ip := addrOf(a.IP); ip.IsGlobalUnicast() {
				return ip, nil
			}
		}
	}
	return netip.Addr{}, errors.New("no interface holds a default route with an IPv4 address: give --underlay")
}
