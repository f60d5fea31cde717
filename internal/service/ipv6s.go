package service

import (
	"context"
	"net/netip"
	"slices"

	"palisade.dev/palisade/internal/model"
)

// IPv6 addresses chosen or counted (docs/aws-semantics.md#ipv6-addresses):
// Ipv6Addresses.N or Ipv6AddressCount at CreateNetworkInterface and
// RunInstances, AssignIpv6Addresses and UnassignIpv6Addresses. A group
// reference matches every one of them (policy compiles model.ENI.Addrs).

// parseIPv6s parses given IPv6 addresses: valid, IPv6, each once, and not
// with a count.
func parseIPv6s(texts []string, count int32) ([]netip.Addr, error) {
	if len(texts) > 0 && count > 0 {
		return nil, model.Errorf(model.CodeInvalidParameterCombination, "The parameters ipv6AddressCount and ipv6Addresses cannot be used together.")
	}
	var out []netip.Addr
	for _, s := range texts {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is6() || a.Is4In6() {
			return nil, model.Errorf(model.CodeInvalidParameterValue, "Value (%s) for parameter ipv6Addresses is invalid. This is not a valid IPv6 address.", s)
		}
		if slices.Contains(out, a) {
			return nil, model.Errorf(model.CodeInvalidParameterValue, "The address %s is given twice.", a)
		}
		out = append(out, a)
	}
	if err := checkIPv6Count(int32(len(out)) + count); err != nil {
		return nil, err
	}
	return out, nil
}

// claim6 takes a specific IPv6 address of the subnet: inside its IPv6
// block, not reserved and free.
func (p *addrPool) claim6(a netip.Addr) error {
	v6 := p.subnet.IPv6CIDR
	switch {
	case !v6.IsValid():
		return noIPv6(p.subnet.ID)
	case !v6.Contains(a):
		return model.Errorf(model.CodeInvalidParameterValue, "Address %s does not fall within the subnet's address range", a)
	case isReserved(v6, a):
		return model.Errorf(model.CodeInvalidParameterValue, "Address %s is in subnet's reserved address range", a)
	}
	free, err := p.mark(a)
	if err != nil {
		return err
	}
	if !free {
		return model.Errorf(model.CodeInvalidIPAddressInUse, "Address %s is in use.", a)
	}
	return nil
}

// takeIPv6 claims the given addresses and takes count more from pool.
func takeIPv6(pool *addrPool, given []netip.Addr, count int32) ([]netip.Addr, error) {
	if (len(given) > 0 || count > 0) && !pool.subnet.IPv6CIDR.IsValid() {
		return nil, noIPv6(pool.subnet.ID)
	}
	out := slices.Clone(given)
	for _, a := range given {
		if err := pool.claim6(a); err != nil {
			return nil, err
		}
	}
	for range count {
		a, err := pool.take6()
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// AssignIPv6Input is AssignIpv6Addresses' request.
type AssignIPv6Input struct {
	NetworkInterfaceID string
	Addresses          []string // Ipv6Addresses.N
	Count              int32    // Ipv6AddressCount
}

// AssignIPv6Addresses adds IPv6 addresses to an interface, given or
// counted, and returns them.
func (s *Service) AssignIPv6Addresses(ctx context.Context, c Caller, in AssignIPv6Input) ([]netip.Addr, error) {
	eid, err := model.ParseENIID(in.NetworkInterfaceID)
	if err != nil {
		return nil, err
	}
	if len(in.Addresses) == 0 && in.Count == 0 {
		return nil, model.Errorf(model.CodeMissingParameter, "The request must contain the parameter ipv6AddressCount or ipv6Addresses")
	}
	given, err := parseIPv6s(in.Addresses, in.Count)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	err = s.txn(ctx, c, "AssignIpv6Addresses", func(t *tx) error {
		e, err := t.eniRec(eid)
		if err != nil {
			return err
		}
		if err := checkIPv6Count(int32(len(e.IPv6s)+len(given)) + in.Count); err != nil {
			return err
		}
		pool, err := t.eniPool(e)
		if err != nil {
			return err
		}
		if out, err = takeIPv6(pool, given, in.Count); err != nil {
			return err
		}
		e.IPv6s = append(e.IPv6s, out...)
		return t.putENI(e)
	})
	return out, err
}

// UnassignIPv6Addresses removes IPv6 addresses from an interface and
// returns them. Every address must be one of the interface's.
func (s *Service) UnassignIPv6Addresses(ctx context.Context, c Caller, eniID string, addresses []string) ([]netip.Addr, error) {
	eid, err := model.ParseENIID(eniID)
	if err != nil {
		return nil, err
	}
	if len(addresses) == 0 {
		return nil, model.Errorf(model.CodeMissingParameter, "The request must contain the parameter ipv6Addresses")
	}
	var drop []netip.Addr
	err = s.txn(ctx, c, "UnassignIpv6Addresses", func(t *tx) error {
		e, err := t.eniRec(eid)
		if err != nil {
			return err
		}
		drop = drop[:0]
		for _, text := range addresses {
			a, err := netip.ParseAddr(text)
			if err != nil || !slices.Contains(e.IPv6s, a) {
				return model.Errorf(model.CodeInvalidParameterValue, "Some of the specified addresses are not assigned to interface %s", eid)
			}
			drop = append(drop, a)
		}
		pool, err := t.eniPool(e)
		if err != nil {
			return err
		}
		for _, a := range drop {
			if err := pool.release(a); err != nil {
				return err
			}
		}
		e.IPv6s = slices.DeleteFunc(e.IPv6s, func(a netip.Addr) bool { return slices.Contains(drop, a) })
		return t.putENI(e)
	})
	return drop, err
}

// eniPool is the address pool of e's subnet.
func (t *tx) eniPool(e *eniRecord) (*addrPool, error) {
	sn, err := t.subnet(e.Subnet)
	if err != nil {
		return nil, err
	}
	return t.pools().of(sn)
}
