package ec2api

import (
	"palisade.dev/palisade/internal/service"
)

// hostActions serves the hosts: the machines that run agents, shown as EC2
// Dedicated Hosts (service/hosts.go).
func hostActions() Table {
	return Table{
		"DescribeHosts": Action(parseDescribeHosts, runDescribeHosts),
	}
}

func parseDescribeHosts(p *Params) (service.DescribeHostsInput, error) {
	in, err := parseDescribe("HostId")(p)
	return service.DescribeHostsInput(in), err
}

func runDescribeHosts(c *Call, in service.DescribeHostsInput) (any, error) {
	hs, next, err := c.Service.DescribeHosts(c.Ctx, c.Caller, in)
	if err != nil {
		return nil, err
	}
	ids, err := zoneIDs(c)
	if err != nil {
		return nil, err
	}
	out := describeHostsXML{Hosts: make(Set[hostXML], len(hs)), NextToken: next}
	for i := range hs {
		out.Hosts[i] = hostOf(&hs[i], ids, string(c.Caller.Account))
	}
	return out, nil
}

// Response shapes, with the element names aws-sdk-go-v2 decodes.

type describeHostsXML struct {
	Hosts     Set[hostXML] `xml:"hostSet"`
	NextToken string       `xml:"nextToken,omitempty"`
}

// hostXML is a Host. Palisade's hosts place instances of any type
// automatically (autoPlacement on, allowsMultipleInstanceTypes on) and have
// no recovery.
type hostXML struct {
	HostID             string               `xml:"hostId"`
	AutoPlacement      string               `xml:"autoPlacement"`
	AvailabilityZone   string               `xml:"availabilityZone"`
	AvailabilityZoneID string               `xml:"availabilityZoneId,omitempty"`
	Instances          Set[hostInstanceXML] `xml:"instances"`
	State              string               `xml:"state"`
	AllocationTime     string               `xml:"allocationTime"`
	Tags               Set[tagXML]          `xml:"tagSet"`
	HostRecovery       string               `xml:"hostRecovery"`
	MultipleTypes      string               `xml:"allowsMultipleInstanceTypes"`
}

type hostInstanceXML struct {
	InstanceID   string `xml:"instanceId"`
	InstanceType string `xml:"instanceType"`
	OwnerID      string `xml:"ownerId"`
}

func hostOf(h *service.HostView, zoneIDs map[string]string, owner string) hostXML {
	out := hostXML{
		HostID: string(h.ID), AutoPlacement: "on", AvailabilityZone: h.Zone, AvailabilityZoneID: zoneIDs[h.Zone],
		Instances: make(Set[hostInstanceXML], len(h.Instances)), State: h.State(), AllocationTime: wireTime(h.Registered),
		Tags: tagSet(h.Tags()), HostRecovery: "off", MultipleTypes: "on",
	}
	for i, in := range h.Instances {
		out.Instances[i] = hostInstanceXML{string(in.ID), in.Type, owner}
	}
	return out
}
