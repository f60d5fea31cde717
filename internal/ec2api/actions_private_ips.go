package ec2api

import "palisade.dev/palisade/internal/service"

// This file serves secondary private IPv4 addresses: the parameters of a
// new interface (CreateNetworkInterface, RunInstances' NetworkInterface.N)
// and AssignPrivateIpAddresses / UnassignPrivateIpAddresses (registered in
// eniActions).

// readSecondaryIPs reads PrivateIpAddresses.N.{PrivateIpAddress,Primary}
// and SecondaryPrivateIpAddressCount.
func readSecondaryIPs(p *Params) (service.SecondaryIPs, error) {
	var out service.SecondaryIPs
	elems, err := p.List("PrivateIpAddresses")
	if err != nil {
		return out, err
	}
	for _, e := range elems {
		primary, err := e.Bool("Primary")
		if err != nil {
			return out, err
		}
		out.Specs = append(out.Specs, service.PrivateIPSpec{Address: e.String("PrivateIpAddress"), Primary: primary})
	}
	out.Count, err = optInt32(p, "SecondaryPrivateIpAddressCount")
	return out, err
}

func parseAssignPrivateIPs(p *Params) (service.AssignPrivateIPsInput, error) {
	in := service.AssignPrivateIPsInput{NetworkInterfaceID: p.String("NetworkInterfaceId")}
	var err error
	if in.Addresses, err = p.Strings("PrivateIpAddress"); err != nil {
		return in, err
	}
	if in.Count, err = optInt32(p, "SecondaryPrivateIpAddressCount"); err != nil {
		return in, err
	}
	in.AllowReassignment, err = p.Bool("AllowReassignment")
	return in, err
}

func runAssignPrivateIPs(c *Call, in service.AssignPrivateIPsInput) (any, error) {
	addrs, err := c.Service.AssignPrivateIPAddresses(c.Ctx, c.Caller, in)
	if err != nil {
		return nil, err
	}
	out := assignedPrivateIPsXML{NetworkInterfaceID: in.NetworkInterfaceID, Assigned: make(Set[assignedPrivateIPXML], len(addrs))}
	for i, a := range addrs {
		out.Assigned[i] = assignedPrivateIPXML{a.String()}
	}
	return out, nil
}

type unassignInput struct {
	ID    string
	Addrs []string
}

func parseUnassignPrivateIPs(p *Params) (unassignInput, error) {
	addrs, err := p.Strings("PrivateIpAddress")
	return unassignInput{p.String("NetworkInterfaceId"), addrs}, err
}

func runUnassignPrivateIPs(c *Call, in unassignInput) (any, error) {
	return returnTrue, c.Service.UnassignPrivateIPAddresses(c.Ctx, c.Caller, in.ID, in.Addrs)
}

type assignedPrivateIPsXML struct {
	NetworkInterfaceID string                    `xml:"networkInterfaceId"`
	Assigned           Set[assignedPrivateIPXML] `xml:"assignedPrivateIpAddressesSet"`
}

type assignedPrivateIPXML struct {
	PrivateIPAddress string `xml:"privateIpAddress"`
}
