package lab

import (
	"fmt"
	"net/netip"

	"palisade.dev/palisade/internal/model"
)

// Host is a lab host: an "outside computer" with one address, connected to
// one VPC's router, that reaches the VPC's instances by their private
// addresses with its own address as the source (no NAT).
type Host struct {
	Name string      // namespace name: 1–MaxHostNameLen of [A-Za-z0-9._-], not an instance id
	VPC  model.VpcID // EnsureVPC must have made its router
	IPv4 netip.Addr  // its address, outside the VPC's CIDRs
	IPv6 netip.Addr  // optional (zero when none), outside the VPC's CIDRs
}

// EnsureHost makes the host's namespace with eth0 holding its address(es),
// default routes to the VPC's router, and the router's routes back. A host
// the lab made in another VPC is moved.
func (l *Lab) EnsureHost(h Host) error {
	if err := l.validHost(h); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.ensureHost(h); err != nil {
		return fmt.Errorf("ensure host %s: %w", h.Name, err)
	}
	return nil
}

func (l *Lab) ensureHost(h Host) error {
	r, err := l.openRouter(h.VPC)
	if err != nil {
		return err
	}
	defer r.Close()
	s, err := l.claimMember(h.Name, marker{role: roleHost, vpc: h.VPC, router: r.name})
	if err != nil {
		return err
	}
	defer s.Close()
	outer, inner, err := l.plug(r, s, pair{
		outer: HostIfName(h.Name), inner: "eth0",
		outerMark: marker{role: roleHost, ns: h.Name, dev: "eth0"},
		innerMark: marker{role: roleHost},
	})
	if err != nil {
		return err
	}
	if err := syncAddrs(r.h, outer, gatewayAddrs(hostGateway4)); err != nil {
		return err
	}
	if err := syncRoutes(r.h, outer, hostRoutes(h.IPv4, h.IPv6)); err != nil {
		return err
	}
	if err := syncAddrs(s.h, inner, hostAddrs(h)); err != nil {
		return err
	}
	return syncRoutes(s.h, inner, defaultRoutes(mainTable, hostGateway4, h.IPv6.IsValid()))
}

// hostAddrs are a host's addresses, alone on their link (/32, /128).
func hostAddrs(h Host) []wantAddr {
	as := []wantAddr{{prefix: hostPrefix(h.IPv4)}}
	if h.IPv6.IsValid() {
		as = append(as, wantAddr{prefix: hostPrefix(h.IPv6), flags: noDAD})
	}
	return as
}

// RemoveHost removes the lab host's namespace and its veth.
func (l *Lab) RemoveHost(name string) error {
	if !validHostName(name) {
		return fmt.Errorf("host name %q: %w", name, ErrInvalid)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.release(name, roleHost); err != nil {
		return fmt.Errorf("remove host %s: %w", name, err)
	}
	return nil
}
