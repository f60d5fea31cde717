package service

import (
	"context"
	"net/netip"
	"slices"

	"palisade.dev/palisade/internal/model"
)

// Secondary private IPv4 addresses (docs/aws-semantics.md#secondary-addresses).
// An interface's PrivateIPs[0] is its primary address, the others are
// secondary; a group reference matches all of them (policy compiles
// model.ENI.Addrs).

// maxPrivateIPsPerInterface caps an interface's IPv4 addresses, primary
// included. AWS's cap depends on the instance type (2 on a t3.micro, up to
// 50); Palisade has no per-type table [decided].
const maxPrivateIPsPerInterface = 10

// PrivateIPSpec is one PrivateIpAddresses.N of CreateNetworkInterface and
// RunInstances' NetworkInterface.N.
type PrivateIPSpec struct {
	Address string
	Primary bool
}

// SecondaryIPs are the secondary addresses asked for a new interface:
// given (PrivateIpAddresses.N) or counted (SecondaryPrivateIpAddressCount).
type SecondaryIPs struct {
	Specs []PrivateIPSpec
	Count int32
}

// resolve merges PrivateIpAddress (primary, may be zero) with the specs:
// it returns the primary (zero: the lowest free) and the given secondary
// addresses. The first spec marked Primary, else PrivateIpAddress, else
// the first spec is the primary.
func (s SecondaryIPs) resolve(primary netip.Addr) (netip.Addr, []netip.Addr, error) {
	var primaries, all []netip.Addr
	for _, sp := range s.Specs {
		a, err := parsePrivateIP(sp.Address)
		if err != nil {
			return primary, nil, err
		}
		if !a.IsValid() {
			return primary, nil, model.Errorf(model.CodeMissingParameter, "The request must contain the parameter privateIpAddress")
		}
		if slices.Contains(all, a) {
			return primary, nil, model.Errorf(model.CodeInvalidParameterValue, "The address %s is given twice.", a)
		}
		all = append(all, a)
		if sp.Primary {
			primaries = append(primaries, a)
		}
	}
	switch {
	case len(primaries) > 1:
		return primary, nil, model.Errorf(model.CodeInvalidParameterValue, "Only one primary private IP address can be specified.")
	case len(primaries) == 1 && primary.IsValid() && primaries[0] != primary:
		return primary, nil, model.Errorf(model.CodeInvalidParameterCombination, "The primary private IP address %s differs from privateIpAddress %s.", primaries[0], primary)
	case len(primaries) == 1:
		primary = primaries[0]
	case !primary.IsValid() && len(all) > 0:
		primary = all[0]
	}
	secondary := slices.DeleteFunc(all, func(a netip.Addr) bool { return a == primary })
	if s.Count < 0 {
		return primary, nil, model.Errorf(model.CodeInvalidParameterValue, "Value (%d) for parameter secondaryPrivateIpAddressCount is invalid. Expected a positive integer.", s.Count)
	}
	if s.Count > 0 && len(secondary) > 0 {
		return primary, nil, model.Errorf(model.CodeInvalidParameterCombination, "A count of secondary private IP addresses cannot be given with specific ones.")
	}
	if 1+len(secondary)+int(s.Count) > maxPrivateIPsPerInterface {
		return primary, nil, privateIPLimit()
	}
	return primary, secondary, nil
}

func privateIPLimit() error {
	return model.Errorf(model.CodePrivateIPAddressLimitExceeded, "Number of private addresses will exceed limit.")
}

// takeSecondary claims the given addresses and takes count more from pool.
func takeSecondary(pool *addrPool, given []netip.Addr, count int32) ([]netip.Addr, error) {
	out := slices.Clone(given)
	for _, a := range given {
		if err := pool.claim(a); err != nil {
			return nil, err
		}
	}
	for range count {
		a, err := pool.take4()
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// AssignPrivateIPsInput is AssignPrivateIpAddresses' request.
type AssignPrivateIPsInput struct {
	NetworkInterfaceID string
	Addresses          []string // PrivateIpAddress.N
	Count              int32    // SecondaryPrivateIpAddressCount
	AllowReassignment  bool
}

// AssignPrivateIPAddresses adds secondary addresses to an interface, given
// or counted, and returns them. Palisade does not move an address from
// another interface (AllowReassignment) [decided].
func (s *Service) AssignPrivateIPAddresses(ctx context.Context, c Caller, in AssignPrivateIPsInput) ([]netip.Addr, error) {
	eid, err := model.ParseENIID(in.NetworkInterfaceID)
	if err != nil {
		return nil, err
	}
	if in.AllowReassignment {
		return nil, model.Errorf(model.CodeInvalidParameterValue, "Palisade does not reassign addresses between interfaces: AllowReassignment must be false.")
	}
	if (len(in.Addresses) == 0) == (in.Count == 0) {
		return nil, model.Errorf(model.CodeInvalidParameterCombination, "Either privateIpAddress or secondaryPrivateIpAddressCount must be given, and not both.")
	}
	specs := make([]PrivateIPSpec, len(in.Addresses))
	for i, a := range in.Addresses {
		specs[i] = PrivateIPSpec{Address: a}
	}
	var out []netip.Addr
	err = s.txn(ctx, c, "AssignPrivateIpAddresses", func(t *tx) error {
		e, err := t.eniRec(eid)
		if err != nil {
			return err
		}
		if len(e.PrivateIPs) == 0 {
			return ipv6OnlyError(e.Subnet)
		}
		_, given, err := SecondaryIPs{Specs: specs, Count: in.Count}.resolve(e.PrivateIPs[0])
		if err != nil {
			return err
		}
		if len(e.PrivateIPs)+len(given)+int(in.Count) > maxPrivateIPsPerInterface {
			return privateIPLimit()
		}
		sn, err := t.subnet(e.Subnet)
		if err != nil {
			return err
		}
		pool, err := t.pools().of(sn)
		if err != nil {
			return err
		}
		if out, err = takeSecondary(pool, given, in.Count); err != nil {
			return err
		}
		e.PrivateIPs = append(e.PrivateIPs, out...)
		return t.putENI(e)
	})
	return out, err
}

// UnassignPrivateIPAddresses removes secondary addresses from an interface.
// Every address must be a secondary address of it.
func (s *Service) UnassignPrivateIPAddresses(ctx context.Context, c Caller, eniID string, addresses []string) error {
	eid, err := model.ParseENIID(eniID)
	if err != nil {
		return err
	}
	if len(addresses) == 0 {
		return model.Errorf(model.CodeMissingParameter, "The request must contain the parameter privateIpAddress")
	}
	return s.txn(ctx, c, "UnassignPrivateIpAddresses", func(t *tx) error {
		e, err := t.eniRec(eid)
		if err != nil {
			return err
		}
		var drop []netip.Addr
		for _, text := range addresses {
			a, err := netip.ParseAddr(text)
			if err != nil || !slices.Contains(e.PrivateIPs[1:], a) {
				return model.Errorf(model.CodeInvalidParameterValue, "Some of the specified addresses are not assigned to interface %s", eid)
			}
			drop = append(drop, a)
		}
		sn, err := t.subnet(e.Subnet)
		if err != nil {
			return err
		}
		pool, err := t.pools().of(sn)
		if err != nil {
			return err
		}
		for _, a := range drop {
			if err := pool.release(a); err != nil {
				return err
			}
		}
		e.PrivateIPs = slices.DeleteFunc(e.PrivateIPs, func(a netip.Addr) bool { return slices.Contains(drop, a) })
		return t.putENI(e)
	})
}
