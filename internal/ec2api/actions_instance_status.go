package ec2api

import "palisade.dev/palisade/internal/service"

// This file serves DescribeInstanceStatus and RebootInstances (registered
// in instanceActions).

func parseDescribeInstanceStatus(p *Params) (service.DescribeInstanceStatusInput, error) {
	in, err := parseDescribe("InstanceId")(p)
	if err != nil {
		return service.DescribeInstanceStatusInput{}, err
	}
	all, err := p.Bool("IncludeAllInstances")
	return service.DescribeInstanceStatusInput{IDs: in.IDs, Filters: in.Filters, Page: in.Page, IncludeAll: all}, err
}

func runDescribeInstanceStatus(c *Call, in service.DescribeInstanceStatusInput) (any, error) {
	statuses, next, err := c.Service.DescribeInstanceStatus(c.Ctx, c.Caller, in)
	if err != nil {
		return nil, err
	}
	ids, err := zoneIDs(c)
	if err != nil {
		return nil, err
	}
	out := describeInstanceStatusXML{Statuses: make(Set[instanceStatusXML], len(statuses)), NextToken: next}
	for i, st := range statuses {
		out.Statuses[i] = instanceStatusOf(st, ids)
	}
	return out, nil
}

func parseRebootInstances(p *Params) ([]string, error) { return p.Strings("InstanceId") }

func runRebootInstances(c *Call, ids []string) (any, error) {
	return returnTrue, c.Service.RebootInstances(c.Ctx, c.Caller, ids)
}

type describeInstanceStatusXML struct {
	Statuses  Set[instanceStatusXML] `xml:"instanceStatusSet"`
	NextToken string                 `xml:"nextToken,omitempty"`
}

type instanceStatusXML struct {
	InstanceID         string           `xml:"instanceId"`
	AvailabilityZone   string           `xml:"availabilityZone"`
	AvailabilityZoneID string           `xml:"availabilityZoneId"`
	State              instanceStateXML `xml:"instanceState"`
	SystemStatus       statusSummaryXML `xml:"systemStatus"`
	InstanceStatus     statusSummaryXML `xml:"instanceStatus"`
	Events             Set[struct{}]    `xml:"eventsSet"`
}

type statusSummaryXML struct {
	Status  string               `xml:"status"`
	Details Set[statusDetailXML] `xml:"details"`
}

type statusDetailXML struct {
	Name   string `xml:"name"`
	Status string `xml:"status"`
}

func instanceStatusOf(st service.InstanceStatus, zoneIDs map[string]string) instanceStatusXML {
	sum := statusSummaryXML{Status: st.Status, Details: Set[statusDetailXML]{}}
	if st.Reachability != "" {
		sum.Details = Set[statusDetailXML]{{Name: "reachability", Status: st.Reachability}}
	}
	return instanceStatusXML{
		InstanceID: string(st.ID), AvailabilityZone: st.Zone, AvailabilityZoneID: zoneIDs[st.Zone],
		State: stateOf(st.State), SystemStatus: sum, InstanceStatus: sum, Events: Set[struct{}]{},
	}
}
