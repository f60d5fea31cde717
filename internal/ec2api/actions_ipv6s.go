package ec2api

import (
	"net/netip"

	"palisade.dev/palisade/internal/service"
)

// This file serves IPv6 addresses chosen at creation (Ipv6Addresses.N) and
// AssignIpv6Addresses / UnassignIpv6Addresses (registered in eniActions).

// readIPv6Specs reads a list of InstanceIpv6Address structures
// (list.N.Ipv6Address).
func readIPv6Specs(p *Params, list string) ([]string, error) {
	elems, err := p.List(list)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range elems {
		out = append(out, e.String("Ipv6Address"))
	}
	return out, nil
}

func parseAssignIPv6s(p *Params) (service.AssignIPv6Input, error) {
	in := service.AssignIPv6Input{NetworkInterfaceID: p.String("NetworkInterfaceId")}
	var err error
	if in.Addresses, err = p.Strings("Ipv6Addresses"); err != nil {
		return in, err
	}
	in.Count, err = optInt32(p, "Ipv6AddressCount")
	return in, err
}

func runAssignIPv6s(c *Call, in service.AssignIPv6Input) (any, error) {
	addrs, err := c.Service.AssignIPv6Addresses(c.Ctx, c.Caller, in)
	if err != nil {
		return nil, err
	}
	return assignedIPv6sXML{NetworkInterfaceID: in.NetworkInterfaceID, Assigned: addrStrings(addrs)}, nil
}

func parseUnassignIPv6s(p *Params) (unassignInput, error) {
	addrs, err := p.Strings("Ipv6Addresses")
	return unassignInput{p.String("NetworkInterfaceId"), addrs}, err
}

func runUnassignIPv6s(c *Call, in unassignInput) (any, error) {
	addrs, err := c.Service.UnassignIPv6Addresses(c.Ctx, c.Caller, in.ID, in.Addrs)
	if err != nil {
		return nil, err
	}
	return unassignedIPv6sXML{NetworkInterfaceID: in.ID, Unassigned: addrStrings(addrs)}, nil
}

func addrStrings(addrs []netip.Addr) Set[string] {
	out := make(Set[string], len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}

type assignedIPv6sXML struct {
	NetworkInterfaceID string      `xml:"networkInterfaceId"`
	Assigned           Set[string] `xml:"assignedIpv6Addresses"`
}

type unassignedIPv6sXML struct {
	NetworkInterfaceID string      `xml:"networkInterfaceId"`
	Unassigned         Set[string] `xml:"unassignedIpv6Addresses"`
}
