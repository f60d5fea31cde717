package ec2api

import (
	"strconv"
	"time"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
)

// observeActions answer from the data plane's observation: the flows the
// local agent saw (with the rules that allowed them) and the rules' hit
// counters. They read, never write, and are Palisade's own (no DryRun).
func observeActions() Table {
	flows := Action(parseFlows, runFlows)
	hits := Action(func(p *Params) (string, error) { return p.Required("GroupId") }, runRuleHits)
	flows.DryRun, hits.DryRun = false, false
	return Table{
		"PalisadeFlows":    flows,
		"PalisadeRuleHits": hits,
	}
}

func parseFlows(p *Params) (service.FlowsInput, error) {
	in := service.FlowsInput{ENI: p.String("NetworkInterfaceId"), Instance: p.String("InstanceId")}
	since, err := p.OptInt32("SinceSeconds")
	if err != nil {
		return in, err
	}
	if since != nil {
		in.Since = time.Duration(*since) * time.Second
	}
	if s, ok := p.OptString("After"); ok {
		if in.After, err = strconv.ParseUint(s, 10, 64); err != nil {
			return in, model.Errorf(model.CodeInvalidParameterValue, "Value (%s) for parameter After is invalid. Expecting a record sequence number.", clipValue(s))
		}
	}
	return in, nil
}

// flowXML is one flow record.
type flowXML struct {
	Seq         uint64      `xml:"seq"`
	Flow        string      `xml:"flow"`
	InterfaceID string      `xml:"interfaceId"`
	InstanceID  string      `xml:"instanceId,omitempty"`
	VpcID       string      `xml:"vpcId"`
	SubnetID    string      `xml:"subnetId,omitempty"`
	SrcAddr     string      `xml:"srcAddr"`
	DstAddr     string      `xml:"dstAddr"`
	SrcPort     uint16      `xml:"srcPort"`
	DstPort     uint16      `xml:"dstPort"`
	Protocol    uint8       `xml:"protocol"`
	Packets     uint64      `xml:"packets"`
	Bytes       uint64      `xml:"bytes"`
	Start       int64       `xml:"start"`
	End         int64       `xml:"end"`
	Action      string      `xml:"action"`
	LogStatus   string      `xml:"logStatus"`
	Direction   string      `xml:"flowDirection"`
	RuleIDs     Set[string] `xml:"securityGroupRuleIdSet"`
	RejectSide  string      `xml:"rejectSide,omitempty"`
}

func runFlows(c *Call, in service.FlowsInput) (any, error) {
	recs, err := c.Service.Flows(c.Ctx, c.Caller, in)
	if err != nil {
		return nil, err
	}
	out := make(Set[flowXML], len(recs))
	for i, r := range recs {
		x := flowXML{Seq: r.Seq, Flow: r.Flow, InterfaceID: string(r.ENI), InstanceID: string(r.Instance), VpcID: string(r.VPC),
			SubnetID: string(r.Subnet), SrcAddr: r.Src.String(), DstAddr: r.Dst.String(), SrcPort: r.SrcPort, DstPort: r.DstPort,
			Protocol: uint8(r.Proto), Packets: r.Packets, Bytes: r.Bytes, Start: r.Start.Unix(), End: r.End.Unix(),
			Action: r.Action, LogStatus: r.LogStatus, Direction: r.Field("flow-direction"), RuleIDs: Set[string]{}, RejectSide: r.RejectSide}
		for _, id := range r.Rules {
			x.RuleIDs = append(x.RuleIDs, string(id))
		}
		out[i] = x
	}
	return struct {
		Flows Set[flowXML] `xml:"flowSet"`
	}{out}, nil
}

// ruleHitXML is one rule with its hit counters.
type ruleHitXML struct {
	RuleID   string `xml:"securityGroupRuleId"`
	IsEgress bool   `xml:"isEgress"`
	Rule     string `xml:"rule"`
	Packets  uint64 `xml:"packets"`
	Bytes    uint64 `xml:"bytes"`
	LastHit  string `xml:"lastHit,omitempty"`
}

func runRuleHits(c *Call, group string) (any, error) {
	hits, _, err := c.Service.RuleHits(c.Ctx, c.Caller, group)
	if err != nil {
		return nil, err
	}
	out := make(Set[ruleHitXML], len(hits))
	for i, h := range hits {
		prep := " from "
		if h.Rule.Direction == model.Egress {
			prep = " to "
		}
		out[i] = ruleHitXML{RuleID: string(h.Rule.ID), IsEgress: h.Rule.Direction == model.Egress,
			Rule:    h.Rule.TrafficText() + prep + h.Rule.Peer.String(),
			Packets: h.Hits.Packets, Bytes: h.Hits.Bytes}
		if !h.Hits.LastHit.IsZero() {
			out[i].LastHit = wireTime(h.Hits.LastHit)
		}
	}
	return struct {
		Rules Set[ruleHitXML] `xml:"ruleSet"`
	}{out}, nil
}
