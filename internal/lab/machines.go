package lab

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"

	"palisade.dev/palisade/internal/nsexec"
)

// Machines stand in for several computers on one machine: each is a
// network namespace that plays a host's own namespace (an agent runs with
// Config.HostNamespace set to it), and a switch namespace joins them with a
// bridge, the network their underlay addresses live on. This is how the
// tests, the benchmarks and a curious user run a cluster of hosts on one
// machine: the VXLAN overlay between the hosts' routers really crosses it.
type Machines struct {
	Switch string       // the switch namespace's name
	Subnet netip.Prefix // the underlay network, e.g. 192.168.77.0/24
}

// Machine is one stand-in computer.
type Machine struct {
	Name     string     // its namespace
	Underlay netip.Addr // the address of its eth0
}

// machinesBridge is the bridge in the switch namespace.
const machinesBridge = "br0"

// underlayMTU leaves room for the overlay's 50 bytes of headers around the
// lab's 1,500-byte frames.
const underlayMTU = 1600

// roleMachine marks the namespaces and links of Machines.
const roleMachine = "machine"

// Ensure makes the switch and one machine per name, the k-th (from 0)
// holding the subnet's (k+1)-th address, and returns them in order. It
// adopts what an earlier call made.
func (ms Machines) Ensure(names []string) ([]Machine, error) {
	if !validHostName(ms.Switch) || !ms.Subnet.Addr().Is4() || ms.Subnet.Bits() > 30 {
		return nil, fmt.Errorf("machines %s on %s: %w", ms.Switch, ms.Subnet, ErrInvalid)
	}
	sw, err := ensureMachineNamespace(ms.Switch)
	if err != nil {
		return nil, err
	}
	defer sw.Close()
	br, err := linkByName(sw.h, machinesBridge)
	if err != nil {
		return nil, err
	}
	if br == nil {
		if err := sw.h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: machinesBridge, MTU: underlayMTU}}); err != nil {
			return nil, fmt.Errorf("create bridge in %s: %w", ms.Switch, err)
		}
		if br, err = linkByName(sw.h, machinesBridge); err != nil || br == nil {
			return nil, fmt.Errorf("find bridge in %s: %v", ms.Switch, err)
		}
	}
	if err := prepareLink(sw.h, br, marker{role: roleMachine}.String(), underlayMTU); err != nil {
		return nil, err
	}
	var out []Machine
	addr := ms.Subnet.Masked().Addr()
	for i, name := range names {
		addr = addr.Next()
		if !validHostName(name) || name == ms.Switch || !ms.Subnet.Contains(addr) {
			return nil, fmt.Errorf("machine %d %q on %s: %w", i, name, ms.Subnet, ErrInvalid)
		}
		if err := ms.ensureMachine(sw, br, name, i, netip.PrefixFrom(addr, ms.Subnet.Bits())); err != nil {
			return nil, fmt.Errorf("machine %s: %w", name, err)
		}
		out = append(out, Machine{Name: name, Underlay: addr})
	}
	return out, nil
}

func ensureMachineNamespace(name string) (*space, error) {
	s, err := openSpace(name)
	if errors.Is(err, errNoNamespace) {
		if err := createNamespace(name); err != nil {
			return nil, fmt.Errorf("create namespace %s: %w", name, err)
		}
		s, err = openSpace(name)
	}
	if err != nil {
		return nil, err
	}
	lo, err := s.h.LinkByName("lo")
	if err == nil {
		err = prepareLink(s.h, lo, marker{role: roleMachine}.String(), 0)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("lo of %s: %w", name, err)
	}
	return s, nil
}

// ensureMachine makes machine name with eth0 holding addr, plugged into the
// switch's bridge by the switch-side port "m<i>".
func (ms Machines) ensureMachine(sw *space, br netlink.Link, name string, i int, addr netip.Prefix) error {
	m, err := ensureMachineNamespace(name)
	if err != nil {
		return err
	}
	defer m.Close()
	port := fmt.Sprintf("m%d", i)
	outer, err := linkByName(sw.h, port)
	if err != nil {
		return err
	}
	inner, err := linkByName(m.h, "eth0")
	if err != nil {
		return err
	}
	if outer == nil || inner == nil || outer.Attrs().ParentIndex != inner.Attrs().Index {
		for _, l := range []struct {
			h    *netlink.Handle
			link netlink.Link
		}{{sw.h, outer}, {m.h, inner}} {
			if l.link != nil {
				if err := delLink(l.h, l.link); err != nil {
					return err
				}
			}
		}
		v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: port, MTU: underlayMTU}, PeerName: "eth0",
			PeerNamespace: netlink.NsFd(m.ns)}
		if err := sw.h.LinkAdd(v); err != nil {
			return fmt.Errorf("create veth to %s: %w", name, err)
		}
		if outer, err = linkByName(sw.h, port); err != nil || outer == nil {
			return fmt.Errorf("find %s: %v", port, err)
		}
		if inner, err = linkByName(m.h, "eth0"); err != nil || inner == nil {
			return fmt.Errorf("find eth0 of %s: %v", name, err)
		}
	}
	if err := sw.h.LinkSetMaster(outer, br); err != nil {
		return fmt.Errorf("plug %s into the bridge: %w", port, err)
	}
	mark := marker{role: roleMachine, ns: name}.String()
	if err := prepareLink(sw.h, outer, mark, underlayMTU); err != nil {
		return err
	}
	if err := prepareLink(m.h, inner, marker{role: roleMachine}.String(), underlayMTU); err != nil {
		return err
	}
	if err := syncAddrs(m.h, inner, []wantAddr{{prefix: addr}}); err != nil {
		return err
	}
	// The machine's default route is its LAN, as a host's holds its
	// underlay address (DefaultUnderlay finds it so).
	def := netlink.Route{Dst: ipNet(netip.PrefixFrom(netip.IPv4Unspecified(), 0)), Scope: netlink.SCOPE_LINK}
	return syncRoutes(m.h, inner, []netlink.Route{def})
}

// Remove deletes the machines named and the switch. Whatever the lab
// wired inside the machines' overlays goes with them; the routers and
// instances of the agents that ran there are removed by those agents' labs
// (Down).
func (ms Machines) Remove(names []string) error {
	var errs []error
	for _, n := range append(names, ms.Switch) {
		m, found, err := namespaceMarker(n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !found {
			continue
		}
		if m.role != roleMachine {
			errs = append(errs, fmt.Errorf("namespace %s is not a machine: not removed", n))
			continue
		}
		if err := nsexec.RemoveNamed(n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
