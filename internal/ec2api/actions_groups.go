package ec2api

import (
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
)

// groupActions serves security groups as wholes; their rules are in
// actions_rules.go.
func groupActions() Table {
	return Table{
		"CreateSecurityGroup":             Action(parseCreateSecurityGroup, runCreateSecurityGroup),
		"DeleteSecurityGroup":             Action(parseGroupRef, runDeleteSecurityGroup),
		"DescribeSecurityGroups":          Action(parseDescribeSecurityGroups, runDescribeSecurityGroups),
		"DescribeSecurityGroupReferences": Action(parseDescribeSecurityGroupReferences, runDescribeSecurityGroupReferences),
		"DescribeStaleSecurityGroups":     Action(parseDescribeStaleSecurityGroups, runDescribeStaleSecurityGroups),
	}
}

func parseCreateSecurityGroup(p *Params) (service.CreateSecurityGroupInput, error) {
	tags, err := readTagSpec(p, service.ResourceTypeSecurityGroup)
	return service.CreateSecurityGroupInput{
		Name: p.String("GroupName"), Description: p.String("GroupDescription"), VpcID: p.String("VpcId"), Tags: tags,
	}, err
}

func runCreateSecurityGroup(c *Call, in service.CreateSecurityGroupInput) (any, error) {
	g, err := c.Service.CreateSecurityGroup(c.Ctx, c.Caller, in)
	if err != nil {
		return nil, err
	}
	return createSecurityGroupXML{
		GroupID: string(g.ID), ARN: groupARN(g.Scope, g.ID), Tags: tagSet(g.Tags),
	}, nil
}

func parseGroupRef(p *Params) (service.GroupRef, error) { return readGroupRef(p), nil }

func runDeleteSecurityGroup(c *Call, ref service.GroupRef) (any, error) {
	id, err := c.Service.DeleteSecurityGroup(c.Ctx, c.Caller, ref)
	if err != nil {
		return nil, err
	}
	return deleteSecurityGroupXML{Return: true, GroupID: string(id)}, nil
}

func parseDescribeSecurityGroups(p *Params) (service.DescribeSecurityGroupsInput, error) {
	ids, err := p.Strings("GroupId")
	if err != nil {
		return service.DescribeSecurityGroupsInput{}, err
	}
	names, err := p.Strings("GroupName")
	if err != nil {
		return service.DescribeSecurityGroupsInput{}, err
	}
	filters, page, err := readDescribe(p)
	return service.DescribeSecurityGroupsInput{IDs: ids, Names: names, Filters: filters, Page: page}, err
}

func runDescribeSecurityGroups(c *Call, in service.DescribeSecurityGroupsInput) (any, error) {
	groups, next, err := c.Service.DescribeSecurityGroups(c.Ctx, c.Caller, in)
	if err != nil {
		return nil, err
	}
	out := describeSecurityGroupsXML{Groups: make(Set[securityGroupXML], len(groups)), NextToken: next}
	for i := range groups {
		out.Groups[i] = securityGroupOf(&groups[i])
	}
	return out, nil
}

// parseDescribeSecurityGroupReferences reads GroupId.N, which EC2 requires.
func parseDescribeSecurityGroupReferences(p *Params) ([]string, error) {
	ids, err := p.Strings("GroupId")
	if err == nil && len(ids) == 0 {
		err = model.Errorf(model.CodeMissingParameter, "The request must contain the parameter GroupId")
	}
	return ids, err
}

// runDescribeSecurityGroupReferences answers no references: they come from
// peered VPCs, and Palisade has no peering. Each group must still exist,
// which DescribeSecurityGroups checks.
func runDescribeSecurityGroupReferences(c *Call, ids []string) (any, error) {
	if _, _, err := c.Service.DescribeSecurityGroups(c.Ctx, c.Caller, service.DescribeSecurityGroupsInput{IDs: ids}); err != nil {
		return nil, err
	}
	return securityGroupReferencesXML{References: Set[securityGroupReferenceXML]{}}, nil
}

// staleInput is DescribeStaleSecurityGroups' request. MaxResults and
// NextToken are read (the SDK's paginator sends them) but there is never a
// second page.
type staleInput struct {
	VpcID string
	Page  service.Page
}

func parseDescribeStaleSecurityGroups(p *Params) (staleInput, error) {
	id, err := p.Required("VpcId")
	if err != nil {
		return staleInput{}, err
	}
	page, err := readPage(p)
	return staleInput{id, page}, err
}

// runDescribeStaleSecurityGroups answers no stale groups: a rule goes stale
// when a peer VPC's group or the peering goes away, and Palisade has no
// peering. The VPC must exist, which DescribeVpcs checks.
func runDescribeStaleSecurityGroups(c *Call, in staleInput) (any, error) {
	if _, _, err := c.Service.DescribeVpcs(c.Ctx, c.Caller, []string{in.VpcID}, nil, service.Page{}); err != nil {
		return nil, err
	}
	return staleSecurityGroupsXML{Groups: Set[struct{}]{}}, nil
}

// groupARN is arn:aws:ec2:<region>:<account>:security-group/<id>.
func groupARN(s model.Scope, id model.GroupID) string { return arn(s, "security-group", string(id)) }

// Response shapes, with the element names aws-sdk-go-v2 decodes.

type createSecurityGroupXML struct {
	GroupID string      `xml:"groupId"`
	ARN     string      `xml:"securityGroupArn"`
	Tags    Set[tagXML] `xml:"tagSet"`
}

type deleteSecurityGroupXML struct {
	Return  bool   `xml:"return"`
	GroupID string `xml:"groupId"`
}

type describeSecurityGroupsXML struct {
	Groups    Set[securityGroupXML] `xml:"securityGroupInfo"`
	NextToken string                `xml:"nextToken,omitempty"`
}

type securityGroupXML struct {
	OwnerID     string               `xml:"ownerId"`
	GroupID     string               `xml:"groupId"`
	GroupName   string               `xml:"groupName"`
	Description string               `xml:"groupDescription"`
	VpcID       string               `xml:"vpcId"`
	ARN         string               `xml:"securityGroupArn"`
	Ingress     Set[ipPermissionXML] `xml:"ipPermissions"`
	Egress      Set[ipPermissionXML] `xml:"ipPermissionsEgress"`
	Tags        Set[tagXML]          `xml:"tagSet"`
}

func securityGroupOf(g *model.SecurityGroup) securityGroupXML {
	return securityGroupXML{
		OwnerID: string(g.Account), GroupID: string(g.ID), GroupName: g.Name, Description: g.Description,
		VpcID: string(g.VPC), ARN: groupARN(g.Scope, g.ID),
		Ingress: permissionsOf(g.RulesOf(model.Ingress)),
		Egress:  permissionsOf(g.RulesOf(model.Egress)),
		Tags:    tagSet(g.Tags),
	}
}

type securityGroupReferencesXML struct {
	References Set[securityGroupReferenceXML] `xml:"securityGroupReferenceSet"`
}

// securityGroupReferenceXML is the shape of one reference, never filled
// while Palisade has no peering.
type securityGroupReferenceXML struct {
	GroupID          string `xml:"groupId"`
	ReferencingVpcID string `xml:"referencingVpcId"`
}

type staleSecurityGroupsXML struct {
	Groups Set[struct{}] `xml:"staleSecurityGroupSet"`
}
