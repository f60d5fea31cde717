package lab

import (
	"net/netip"
	"testing"

	"palisade.dev/palisade/internal/model"
)

// twoHosts is one VPC with a router on each of two stand-in machines, each
// wired by a Lab of its own, as two agents on two computers would.
type twoHosts struct {
	vpc      model.VpcID
	labs     [2]*Lab
	machines []Machine
}

func newTwoHosts(t *testing.T) *twoHosts {
	t.Helper()
	h := &twoHosts{vpc: vpcID()}
	ms := Machines{Switch: "plsw" + randHex(6), Subnet: pfx("192.168.77.0/24")}
	names := []string{"plm" + randHex(6), "plm" + randHex(6)}
	t.Cleanup(func() {
		if err := ms.Remove(names); err != nil {
			t.Errorf("remove machines: %v", err)
		}
		requireGone(t, append(names, ms.Switch)...)
	})
	var err error
	if h.machines, err = ms.Ensure(names); err != nil {
		t.Fatal(err)
	}
	for _, m := range h.machines {
		if got, err := DefaultUnderlay(m.Name); err != nil || got != m.Underlay {
			t.Fatalf("DefaultUnderlay(%s) = %v, %v; want %v", m.Name, got, err, m.Underlay)
		}
	}
	for i := range h.labs {
		h.labs[i] = newLab(t)
		h.labs[i].hostNS = names[i]
		mustEnsureVPC(t, h.labs[i], h.vpc)
	}
	return h
}

// join gives router i an overlay to the other host, which serves addrs.
func (h *twoHosts) join(t *testing.T, i int, addrs ...netip.Addr) {
	t.Helper()
	j := 1 - i
	o := Overlay{VNI: VNI(h.vpc), Local: h.machines[i].Underlay, MAC: HostMAC(h.machines[i].Name),
		Peers: []Peer{{Underlay: h.machines[j].Underlay, MAC: HostMAC(h.machines[j].Name), Addrs: addrs}}}
	if err := h.labs[i].EnsureOverlay(h.vpc, o); err != nil {
		t.Fatal(err)
	}
}

// TestOverlayJoinsRouters: two instances of one subnet on two hosts reach
// each other over IPv4 and IPv6 through the VXLAN overlay between their
// routers, and see each other's real addresses; an instance the overlay
// does not announce is not reachable, and removing the overlay cuts the
// path while both hosts keep their own instances.
func TestOverlayJoinsRouters(t *testing.T) {
	h := newTwoHosts(t)
	a := with6(instance(h.vpc, "10.0.1.10/24"), "2600:1f18::10/64")
	b := with6(instance(h.vpc, "10.0.1.20/24"), "2600:1f18::20/64")
	mustEnsure(t, h.labs[0], a)
	mustEnsure(t, h.labs[1], b)
	a4, a6 := a.NICs[0].IPv4.Addr(), a.NICs[0].IPv6.Addr()
	b4, b6 := b.NICs[0].IPv4.Addr(), b.NICs[0].IPv6.Addr()
	h.join(t, 0, b4, b6)
	h.join(t, 1, a4, a6)

	mustReach(t, a.ID, serve(t, b.ID, b4), b.ID, a4)
	mustReach(t, a.ID, serve(t, b.ID, b6), b.ID, a6)
	mustReach(t, b.ID, serve(t, a.ID, a4), a.ID, b4)

	// Idempotent: ensuring the same overlay again keeps the path.
	h.join(t, 0, b4, b6)
	mustReach(t, a.ID, serve(t, b.ID, b4), b.ID, a4)

	// Host 0 stops announcing b6: the path over IPv6 is gone, IPv4 stays.
	h.join(t, 0, b4)
	mustNotReach(t, a.ID, serve(t, b.ID, b6))
	mustReach(t, a.ID, serve(t, b.ID, b4), b.ID, a4)

	// No peers: the overlay goes.
	if err := h.labs[0].EnsureOverlay(h.vpc, Overlay{VNI: VNI(h.vpc), Local: h.machines[0].Underlay, MAC: HostMAC(h.machines[0].Name)}); err != nil {
		t.Fatal(err)
	}
	mustNotReach(t, a.ID, serve(t, b.ID, b4))
	// A VPC on one host, of a host with no underlay address (serve's own
	// agent), has nothing to ensure: no error.
	if err := h.labs[0].EnsureOverlay(h.vpc, Overlay{}); err != nil {
		t.Fatalf("no peers, no underlay: %v", err)
	}
}
