package ec2api

import (
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
)

// ruleActions serves the rules of security groups.
func ruleActions() Table {
	return Table{
		"AuthorizeSecurityGroupIngress":              Action(parseAuthorize(model.Ingress), runAuthorize),
		"AuthorizeSecurityGroupEgress":               Action(parseAuthorize(model.Egress), runAuthorize),
		"RevokeSecurityGroupIngress":                 Action(parseRevoke(model.Ingress), runRevoke),
		"RevokeSecurityGroupEgress":                  Action(parseRevoke(model.Egress), runRevoke),
		"ModifySecurityGroupRules":                   Action(parseModifySecurityGroupRules, runModifySecurityGroupRules),
		"UpdateSecurityGroupRuleDescriptionsIngress": Action(parseUpdateDescriptions(model.Ingress), runUpdateDescriptions),
		"UpdateSecurityGroupRuleDescriptionsEgress":  Action(parseUpdateDescriptions(model.Egress), runUpdateDescriptions),
		"DescribeSecurityGroupRules":                 Action(parseDescribe("SecurityGroupRuleId"), runDescribeSecurityGroupRules),
	}
}

// readTarget reads the group a rule action changes: GroupId or GroupName for
// ingress, GroupId only for egress (EC2 takes no GroupName there, so it is
// left unread and refused as unknown).
func readTarget(p *Params, d model.Direction) service.GroupRef {
	if d == model.Egress {
		return service.GroupRef{ID: p.String("GroupId")}
	}
	return readGroupRef(p)
}

// readDirectionPermissions reads the permissions of a rule action; only
// ingress takes the legacy top-level form.
func readDirectionPermissions(p *Params, d model.Direction) ([]model.PermissionSpec, error) {
	if d == model.Egress {
		return readPermissions(p)
	}
	return readIngressPermissions(p)
}

func parseAuthorize(d model.Direction) func(p *Params) (service.AuthorizeInput, error) {
	return func(p *Params) (service.AuthorizeInput, error) {
		in := service.AuthorizeInput{Group: readTarget(p, d), Direction: d}
		var err error
		if in.Permissions, err = readDirectionPermissions(p, d); err != nil {
			return in, err
		}
		in.Tags, err = readTagSpec(p, service.ResourceTypeSecurityGroupRule)
		return in, err
	}
}

func runAuthorize(c *Call, in service.AuthorizeInput) (any, error) {
	rules, err := c.Service.Authorize(c.Ctx, c.Caller, in)
	if err != nil {
		return nil, err
	}
	return authorizeXML{Return: true, Rules: ruleSet(c, rules)}, nil
}

func parseRevoke(d model.Direction) func(p *Params) (service.RevokeInput, error) {
	return func(p *Params) (service.RevokeInput, error) {
		in := service.RevokeInput{Group: readTarget(p, d), Direction: d}
		var err error
		if in.Permissions, err = readDirectionPermissions(p, d); err != nil {
			return in, err
		}
		in.RuleIDs, err = p.Strings("SecurityGroupRuleId")
		return in, err
	}
}

func runRevoke(c *Call, in service.RevokeInput) (any, error) {
	res, err := c.Service.Revoke(c.Ctx, c.Caller, in)
	if err != nil {
		return nil, err
	}
	out := revokeXML{Return: true, Unknown: permissionsOf(res.Unknown), Revoked: make(Set[revokedRuleXML], len(res.Revoked))}
	for i, gr := range res.Revoked {
		out.Revoked[i] = revokedRuleOf(gr)
	}
	return out, nil
}

// modifyInput is ModifySecurityGroupRules' request.
type modifyInput struct {
	GroupID string
	Updates []service.RuleUpdate
}

func parseModifySecurityGroupRules(p *Params) (modifyInput, error) {
	in := modifyInput{GroupID: p.String("GroupId")}
	elems, err := p.List("SecurityGroupRule")
	if err != nil {
		return in, err
	}
	for _, e := range elems {
		u, err := readRuleUpdate(e)
		if err != nil {
			return in, err
		}
		in.Updates = append(in.Updates, u)
	}
	return in, nil
}

// readRuleUpdate reads SecurityGroupRule.N.{SecurityGroupRuleId,
// SecurityGroupRule.{IpProtocol,FromPort,ToPort,CidrIpv4,CidrIpv6,
// PrefixListId,ReferencedGroupId,Description}}.
func readRuleUpdate(e *Params) (service.RuleUpdate, error) {
	u := service.RuleUpdate{
		RuleID:            e.String("SecurityGroupRuleId"),
		Protocol:          e.String("SecurityGroupRule.IpProtocol"),
		CIDRv4:            e.String("SecurityGroupRule.CidrIpv4"),
		CIDRv6:            e.String("SecurityGroupRule.CidrIpv6"),
		PrefixListID:      e.String("SecurityGroupRule.PrefixListId"),
		ReferencedGroupID: e.String("SecurityGroupRule.ReferencedGroupId"),
		Description:       e.String("SecurityGroupRule.Description"),
	}
	var err error
	if u.FromPort, err = e.OptInt32("SecurityGroupRule.FromPort"); err != nil {
		return u, err
	}
	u.ToPort, err = e.OptInt32("SecurityGroupRule.ToPort")
	return u, err
}

func runModifySecurityGroupRules(c *Call, in modifyInput) (any, error) {
	return returnTrue, c.Service.ModifySecurityGroupRules(c.Ctx, c.Caller, in.GroupID, in.Updates)
}

func parseUpdateDescriptions(d model.Direction) func(p *Params) (service.UpdateDescriptionsInput, error) {
	return func(p *Params) (service.UpdateDescriptionsInput, error) {
		in := service.UpdateDescriptionsInput{Group: readGroupRef(p), Direction: d}
		var err error
		if in.Permissions, err = readPermissions(p); err != nil {
			return in, err
		}
		elems, err := p.List("SecurityGroupRuleDescription")
		if err != nil {
			return in, err
		}
		for _, e := range elems {
			if in.ByID == nil {
				in.ByID = map[string]string{}
			}
			in.ByID[e.String("SecurityGroupRuleId")] = e.String("Description")
		}
		return in, nil
	}
}

func runUpdateDescriptions(c *Call, in service.UpdateDescriptionsInput) (any, error) {
	return returnTrue, c.Service.UpdateRuleDescriptions(c.Ctx, c.Caller, in)
}

func runDescribeSecurityGroupRules(c *Call, in describeInput) (any, error) {
	rules, next, err := c.Service.DescribeSecurityGroupRules(c.Ctx, c.Caller, in.IDs, in.Filters, in.Page)
	if err != nil {
		return nil, err
	}
	return describeRulesXML{Rules: ruleSet(c, rules), NextToken: next}, nil
}

// Response shapes, with the element names aws-sdk-go-v2 decodes.

type authorizeXML struct {
	Return bool                      `xml:"return"`
	Rules  Set[securityGroupRuleXML] `xml:"securityGroupRuleSet"`
}

type revokeXML struct {
	Return  bool                 `xml:"return"`
	Unknown Set[ipPermissionXML] `xml:"unknownIpPermissionSet"`
	Revoked Set[revokedRuleXML]  `xml:"revokedSecurityGroupRuleSet"`
}

type describeRulesXML struct {
	Rules     Set[securityGroupRuleXML] `xml:"securityGroupRuleSet"`
	NextToken string                    `xml:"nextToken,omitempty"`
}

// securityGroupRuleXML is one SecurityGroupRule: one rule with its own ID.
// Ports are always shown, -1/-1 for protocols without them.
type securityGroupRuleXML struct {
	RuleID          string           `xml:"securityGroupRuleId"`
	GroupID         string           `xml:"groupId"`
	GroupOwnerID    string           `xml:"groupOwnerId"`
	IsEgress        bool             `xml:"isEgress"`
	IPProtocol      string           `xml:"ipProtocol"`
	FromPort        int32            `xml:"fromPort"`
	ToPort          int32            `xml:"toPort"`
	CidrIPv4        string           `xml:"cidrIpv4,omitempty"`
	CidrIPv6        string           `xml:"cidrIpv6,omitempty"`
	PrefixListID    string           `xml:"prefixListId,omitempty"`
	ReferencedGroup *referencedGroup `xml:"referencedGroupInfo,omitempty"`
	Description     string           `xml:"description,omitempty"`
	Tags            Set[tagXML]      `xml:"tagSet"`
	ARN             string           `xml:"securityGroupRuleArn"`
}

type referencedGroup struct {
	GroupID string `xml:"groupId"`
	UserID  string `xml:"userId"`
}

// ruleSet renders rules as SecurityGroupRules. The rule ARN's region is the
// caller's: rules are only ever shown in the region that holds them.
func ruleSet(c *Call, rules []service.GroupRule) Set[securityGroupRuleXML] {
	out := make(Set[securityGroupRuleXML], len(rules))
	for i, gr := range rules {
		r := gr.Rule
		from, to, _ := r.WirePorts()
		x := securityGroupRuleXML{
			RuleID: string(r.ID), GroupID: string(gr.Group), GroupOwnerID: string(gr.Owner),
			IsEgress: r.Direction == model.Egress, IPProtocol: r.Protocol.String(), FromPort: from, ToPort: to,
			Description: r.Description, Tags: tagSet(r.Tags),
			ARN: arn(model.Scope{Account: gr.Owner, Region: c.Caller.Region}, "security-group-rule", string(r.ID)),
		}
		p := peerOf(r.Peer)
		x.CidrIPv4, x.CidrIPv6, x.PrefixListID = p.v4, p.v6, p.prefixList
		if p.group != "" {
			x.ReferencedGroup = &referencedGroup{GroupID: p.group, UserID: p.owner}
		}
		out[i] = x
	}
	return out
}

// revokedRuleXML is one RevokedSecurityGroupRule.
type revokedRuleXML struct {
	RuleID            string `xml:"securityGroupRuleId"`
	GroupID           string `xml:"groupId"`
	IsEgress          bool   `xml:"isEgress"`
	IPProtocol        string `xml:"ipProtocol"`
	FromPort          int32  `xml:"fromPort"`
	ToPort            int32  `xml:"toPort"`
	CidrIPv4          string `xml:"cidrIpv4,omitempty"`
	CidrIPv6          string `xml:"cidrIpv6,omitempty"`
	PrefixListID      string `xml:"prefixListId,omitempty"`
	ReferencedGroupID string `xml:"referencedGroupId,omitempty"`
	Description       string `xml:"description,omitempty"`
}

func revokedRuleOf(gr service.GroupRule) revokedRuleXML {
	r := gr.Rule
	from, to, _ := r.WirePorts()
	p := peerOf(r.Peer)
	return revokedRuleXML{
		RuleID: string(r.ID), GroupID: string(gr.Group), IsEgress: r.Direction == model.Egress,
		IPProtocol: r.Protocol.String(), FromPort: from, ToPort: to,
		CidrIPv4: p.v4, CidrIPv6: p.v6, PrefixListID: p.prefixList, ReferencedGroupID: p.group,
		Description: r.Description,
	}
}
