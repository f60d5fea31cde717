package ec2api

import (
	"time"

	"palisade.dev/palisade/internal/service"
)

// insightActions answer questions about the caller's groups: what happens
// to a flow, and which rules are risky. They read, never write, and are
// Palisade's own (no DryRun).
func insightActions() Table {
	explain := Action(parseExplain, runExplain)
	aud := Action(parseAudit, runAudit)
	explain.DryRun, aud.DryRun = false, false
	return Table{
		"PalisadeExplain": explain,
		"PalisadeAudit":   aud,
	}
}

func parseExplain(p *Params) (service.ExplainInput, error) {
	port, err := p.OptInt32("Port")
	if err != nil {
		return service.ExplainInput{}, err
	}
	code, err := p.OptInt32("IcmpCode")
	if err != nil {
		return service.ExplainInput{}, err
	}
	return service.ExplainInput{From: p.String("Source"), To: p.String("Destination"),
		Protocol: p.String("Protocol"), Port: port, ICMPCode: code}, nil
}

// explainEndXML is one end of the flow.
type explainEndXML struct {
	Address            string `xml:"address"`
	NetworkInterfaceID string `xml:"networkInterfaceId,omitempty"`
	VpcID              string `xml:"vpcId"`
	InstanceID         string `xml:"instanceId,omitempty"`
	InstanceState      string `xml:"instanceState,omitempty"`
	DeviceIndex        *int   `xml:"deviceIndex"`
	LabHost            string `xml:"labHost,omitempty"`
	LabHostNamespace   string `xml:"labHostNamespace,omitempty"`
}

// explainRuleXML is a rule that allows the flow on one side.
type explainRuleXML struct {
	RuleID  string `xml:"securityGroupRuleId"`
	GroupID string `xml:"groupId"`
	Rule    string `xml:"rule"`
}

// explainSideXML is one side's verdict.
type explainSideXML struct {
	Outside            bool                `xml:"outside"`
	NetworkInterfaceID string              `xml:"networkInterfaceId,omitempty"`
	Allowed            bool                `xml:"allowed"`
	Tracked            bool                `xml:"tracked"`
	Reason             string              `xml:"reason"`
	Rules              Set[explainRuleXML] `xml:"ruleSet"`
	Groups             Set[string]         `xml:"groupSet"`
}

func explainEndOf(e service.ExplainEnd) explainEndXML {
	out := explainEndXML{Address: e.Addr.String(), NetworkInterfaceID: string(e.ENI), VpcID: string(e.VPC),
		InstanceID: string(e.Instance), InstanceState: string(e.State), LabHost: e.LabHost,
		LabHostNamespace: e.LabHostNamespace}
	if e.Instance != "" {
		out.DeviceIndex = &e.Device
	}
	return out
}

func explainSideOf(s service.SideExplanation) explainSideXML {
	out := explainSideXML{Outside: s.Outside, NetworkInterfaceID: string(s.ENI), Allowed: s.Allowed, Tracked: s.Tracked,
		Reason: s.Reason, Rules: Set[explainRuleXML]{}, Groups: Set[string]{}}
	for _, r := range s.Rules {
		out.Rules = append(out.Rules, explainRuleXML{RuleID: string(r.Rule), GroupID: string(r.Group), Rule: r.Text})
	}
	for _, g := range s.Groups {
		out.Groups = append(out.Groups, string(g))
	}
	return out
}

func runExplain(c *Call, in service.ExplainInput) (any, error) {
	e, err := c.Service.Explain(c.Ctx, c.Caller, in)
	if err != nil {
		return nil, err
	}
	out := struct {
		Allowed  bool           `xml:"allowed"`
		UserSees string         `xml:"userSees"`
		Tracked  bool           `xml:"tracked"`
		Reason   string         `xml:"reason"`
		Protocol string         `xml:"protocol"`
		Port     *uint16        `xml:"port"`
		IcmpType *uint8         `xml:"icmpType"`
		IcmpCode *uint8         `xml:"icmpCode"`
		From     explainEndXML  `xml:"source"`
		To       explainEndXML  `xml:"destination"`
		Egress   explainSideXML `xml:"egress"`
		Ingress  explainSideXML `xml:"ingress"`
	}{
		Allowed: e.Allowed, UserSees: e.UserSees(), Tracked: e.Tracked, Reason: e.Reason,
		Protocol: e.Proto.String(), From: explainEndOf(e.From), To: explainEndOf(e.To),
		Egress: explainSideOf(e.Egress), Ingress: explainSideOf(e.Ingress),
	}
	switch {
	case e.Proto.HasPorts():
		out.Port = &e.Port
	case e.Proto.IsICMP():
		t, code := uint8(e.Port>>8), uint8(e.Port)
		out.IcmpType, out.IcmpCode = &t, &code
	}
	return out, nil
}

func parseAudit(p *Params) (service.AuditInput, error) {
	in := service.AuditInput{AuthorizedPorts: p.String("AuthorizedPorts")}
	secs, err := p.OptInt32("UnusedForSeconds")
	if secs != nil {
		in.UnusedFor = time.Duration(*secs) * time.Second
	}
	return in, err
}

// findingXML is one audit finding.
type findingXML struct {
	Control  string `xml:"control"`
	Severity string `xml:"severity"`
	GroupID  string `xml:"groupId"`
	RuleID   string `xml:"securityGroupRuleId,omitempty"`
	Message  string `xml:"message"`
}

func runAudit(c *Call, in service.AuditInput) (any, error) {
	fs, err := c.Service.Audit(c.Ctx, c.Caller, in)
	if err != nil {
		return nil, err
	}
	out := Set[findingXML]{}
	for _, f := range fs {
		out = append(out, findingXML{Control: f.Control, Severity: f.Severity.String(), GroupID: string(f.Group),
			RuleID: string(f.Rule), Message: f.Message})
	}
	return struct {
		Findings Set[findingXML] `xml:"findingSet"`
	}{out}, nil
}
