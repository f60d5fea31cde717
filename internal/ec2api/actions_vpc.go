package ec2api

import (
	"net/netip"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
)

// vpcActions serves VPCs and subnets.
func vpcActions() Table {
	return Table{
		"CreateVpc":                   Action(parseCreateVpc, runCreateVpc),
		"DescribeVpcs":                Action(parseDescribeVpcs, runDescribeVpcs),
		"DeleteVpc":                   Action(parseVpcID, runDeleteVpc),
		"CreateDefaultVpc":            Action(parseNothing, runCreateDefaultVpc),
		"CreateSubnet":                Action(parseCreateSubnet, runCreateSubnet),
		"DescribeSubnets":             Action(parseDescribeSubnets, runDescribeSubnets),
		"DeleteSubnet":                Action(parseSubnetID, runDeleteSubnet),
		"CreateDefaultSubnet":         Action(parseCreateDefaultSubnet, runCreateDefaultSubnet),
		"ModifySubnetAttribute":       Action(parseModifySubnetAttribute, runModifySubnetAttribute),
		"AssociateVpcCidrBlock":       Action(parseAssociateVpcCidrBlock, runAssociateVpcCidrBlock),
		"DisassociateVpcCidrBlock":    Action(parseAssociationID, runDisassociateVpcCidrBlock),
		"AssociateSubnetCidrBlock":    Action(parseAssociateSubnetCidrBlock, runAssociateSubnetCidrBlock),
		"DisassociateSubnetCidrBlock": Action(parseAssociationID, runDisassociateSubnetCidrBlock),
	}
}

// Wire states of VPCs and subnets. Palisade creates them synchronously, so
// they are always available; CreateVpc answers pending as AWS does
// (docs/aws-semantics.md#vpcs-and-the-default-vpc, LocalStack's AWS-validated snapshot).
const (
	stateAvailable = "available"
	statePending   = "pending"
	stateAssoc     = "associated"
)

func parseNothing(*Params) (struct{}, error) { return struct{}{}, nil }

// describeInput is the request of a Describe action: IDs, filters and a page.
type describeInput struct {
	IDs     []string
	Filters []service.Filter
	Page    service.Page
}

// parseDescribe returns the parser of a Describe action whose IDs come in
// the list idName (VpcId.N, SubnetId.N, …).
func parseDescribe(idName string) func(p *Params) (describeInput, error) {
	return func(p *Params) (describeInput, error) {
		ids, err := p.Strings(idName)
		if err != nil {
			return describeInput{}, err
		}
		filters, page, err := readDescribe(p)
		return describeInput{ids, filters, page}, err
	}
}

func parseCreateVpc(p *Params) (service.CreateVpcInput, error) {
	ipv6, err := p.Bool("AmazonProvidedIpv6CidrBlock")
	if err != nil {
		return service.CreateVpcInput{}, err
	}
	// Instances share hardware in the lab: only the default tenancy exists.
	if t, ok := p.OptString("InstanceTenancy"); ok && t != "default" {
		return service.CreateVpcInput{}, model.Errorf(model.CodeInvalidParameterValue,
			"Value (%s) for parameter instanceTenancy is invalid. Palisade supports only the default instance tenancy.", t)
	}
	tags, err := readTagSpec(p, service.ResourceTypeVPC)
	return service.CreateVpcInput{CIDR: p.String("CidrBlock"), IPv6: ipv6, Tags: tags}, err
}

func runCreateVpc(c *Call, in service.CreateVpcInput) (any, error) {
	v, err := c.Service.CreateVpc(c.Ctx, c.Caller, in)
	if err != nil {
		return nil, err
	}
	out := vpcOf(v)
	out.State = statePending
	return vpcResponse{out}, nil
}

func runCreateDefaultVpc(c *Call, _ struct{}) (any, error) {
	v, err := c.Service.CreateDefaultVpc(c.Ctx, c.Caller)
	if err != nil {
		return nil, err
	}
	return vpcResponse{vpcOf(v)}, nil
}

var parseDescribeVpcs = parseDescribe("VpcId")

func runDescribeVpcs(c *Call, in describeInput) (any, error) {
	vpcs, next, err := c.Service.DescribeVpcs(c.Ctx, c.Caller, in.IDs, in.Filters, in.Page)
	if err != nil {
		return nil, err
	}
	out := describeVpcsXML{Vpcs: make(Set[vpcXML], len(vpcs)), NextToken: next}
	for i := range vpcs {
		out.Vpcs[i] = vpcOf(&vpcs[i])
	}
	return out, nil
}

func parseVpcID(p *Params) (string, error) { return p.Required("VpcId") }

func runDeleteVpc(c *Call, id string) (any, error) {
	return returnTrue, c.Service.DeleteVpc(c.Ctx, c.Caller, id)
}

func parseCreateSubnet(p *Params) (service.CreateSubnetInput, error) {
	tags, err := readTagSpec(p, service.ResourceTypeSubnet)
	native, nerr := p.Bool("Ipv6Native")
	if err == nil {
		err = nerr
	}
	return service.CreateSubnetInput{
		VpcID: p.String("VpcId"), CIDR: p.String("CidrBlock"), IPv6CIDR: p.String("Ipv6CidrBlock"), IPv6Native: native,
		Zone: p.String("AvailabilityZone"), ZoneID: p.String("AvailabilityZoneId"), Tags: tags,
	}, err
}

func runCreateSubnet(c *Call, in service.CreateSubnetInput) (any, error) {
	sn, err := c.Service.CreateSubnet(c.Ctx, c.Caller, in)
	if err != nil {
		return nil, err
	}
	r, err := newSubnetRenderer(c)
	if err != nil {
		return nil, err
	}
	return subnetResponse{r.subnet(sn)}, nil
}

var parseDescribeSubnets = parseDescribe("SubnetId")

func runDescribeSubnets(c *Call, in describeInput) (any, error) {
	subnets, next, err := c.Service.DescribeSubnets(c.Ctx, c.Caller, in.IDs, in.Filters, in.Page)
	if err != nil {
		return nil, err
	}
	r, err := newSubnetRenderer(c)
	if err != nil {
		return nil, err
	}
	out := describeSubnetsXML{Subnets: make(Set[subnetXML], len(subnets)), NextToken: next}
	for i := range subnets {
		out.Subnets[i] = r.subnet(&subnets[i])
	}
	return out, nil
}

func parseSubnetID(p *Params) (string, error) { return p.Required("SubnetId") }

func runDeleteSubnet(c *Call, id string) (any, error) {
	return returnTrue, c.Service.DeleteSubnet(c.Ctx, c.Caller, id)
}

// Response shapes, with the element names aws-sdk-go-v2 decodes.

type vpcResponse struct {
	Vpc vpcXML `xml:"vpc"`
}

type describeVpcsXML struct {
	Vpcs      Set[vpcXML] `xml:"vpcSet"`
	NextToken string      `xml:"nextToken,omitempty"`
}

type vpcXML struct {
	VpcID           string                `xml:"vpcId"`
	OwnerID         string                `xml:"ownerId"`
	State           string                `xml:"state"`
	CidrBlock       string                `xml:"cidrBlock"`
	CidrAssocs      Set[cidrAssocXML]     `xml:"cidrBlockAssociationSet"`
	IPv6Assocs      Set[ipv6CidrAssocXML] `xml:"ipv6CidrBlockAssociationSet"`
	DhcpOptionsID   string                `xml:"dhcpOptionsId"`
	InstanceTenancy string                `xml:"instanceTenancy"`
	IsDefault       bool                  `xml:"isDefault"`
	Tags            Set[tagXML]           `xml:"tagSet"`
}

type cidrAssocXML struct {
	AssociationID string       `xml:"associationId"`
	CidrBlock     string       `xml:"cidrBlock"`
	State         cidrStateXML `xml:"cidrBlockState"`
}

type ipv6CidrAssocXML struct {
	AssociationID      string       `xml:"associationId"`
	Ipv6CidrBlock      string       `xml:"ipv6CidrBlock"`
	State              cidrStateXML `xml:"ipv6CidrBlockState"`
	NetworkBorderGroup string       `xml:"networkBorderGroup,omitempty"`
	Ipv6Pool           string       `xml:"ipv6Pool,omitempty"`
}

type cidrStateXML struct {
	State string `xml:"state"`
}

// vpcOf renders a VPC. Palisade stores no CIDR associations or DHCP option
// sets: association IDs derive from the VPC's ID (so they are stable), the
// IPv6 one with a "6" in front to keep it apart from the IPv4 one, and
// dhcpOptionsId is "default", which is what EC2 shows for a VPC without
// DHCP options.
func vpcOf(v *model.VPC) vpcXML {
	digits := idDigits(string(v.ID))
	out := vpcXML{
		VpcID: string(v.ID), OwnerID: string(v.Account), State: stateAvailable,
		CidrBlock:       v.CIDR.String(),
		CidrAssocs:      Set[cidrAssocXML]{{"vpc-cidr-assoc-" + digits, v.CIDR.String(), cidrStateXML{stateAssoc}}},
		IPv6Assocs:      Set[ipv6CidrAssocXML]{},
		DhcpOptionsID:   "default",
		InstanceTenancy: "default",
		IsDefault:       v.IsDefault,
		Tags:            tagSet(v.Tags),
	}
	for _, b := range v.Secondary {
		out.CidrAssocs = append(out.CidrAssocs, cidrAssocXML{b.AssociationID, b.CIDR.String(), cidrStateXML{stateAssoc}})
	}
	if v.IPv6CIDR.IsValid() {
		out.IPv6Assocs = append(out.IPv6Assocs, ipv6CidrAssocXML{
			AssociationID: "vpc-cidr-assoc-6" + digits, Ipv6CidrBlock: v.IPv6CIDR.String(),
			State: cidrStateXML{stateAssoc}, NetworkBorderGroup: v.Region, Ipv6Pool: "Amazon",
		})
	}
	return out
}

type subnetResponse struct {
	Subnet subnetXML `xml:"subnet"`
}

type describeSubnetsXML struct {
	Subnets   Set[subnetXML] `xml:"subnetSet"`
	NextToken string         `xml:"nextToken,omitempty"`
}

type subnetXML struct {
	SubnetID                    string                      `xml:"subnetId"`
	SubnetArn                   string                      `xml:"subnetArn"`
	State                       string                      `xml:"state"`
	OwnerID                     string                      `xml:"ownerId"`
	VpcID                       string                      `xml:"vpcId"`
	CidrBlock                   string                      `xml:"cidrBlock,omitempty"` // none when IPv6-only
	IPv6Assocs                  Set[subnetIPv6CidrAssocXML] `xml:"ipv6CidrBlockAssociationSet"`
	AvailableIPAddressCount     int                         `xml:"availableIpAddressCount"`
	AvailabilityZone            string                      `xml:"availabilityZone"`
	AvailabilityZoneID          string                      `xml:"availabilityZoneId"`
	DefaultForAz                bool                        `xml:"defaultForAz"`
	MapPublicIPOnLaunch         bool                        `xml:"mapPublicIpOnLaunch"`
	AssignIpv6AddressOnCreation bool                        `xml:"assignIpv6AddressOnCreation"`
	Ipv6Native                  bool                        `xml:"ipv6Native"`
	Tags                        Set[tagXML]                 `xml:"tagSet"`
}

type subnetIPv6CidrAssocXML struct {
	AssociationID string       `xml:"associationId"`
	Ipv6CidrBlock string       `xml:"ipv6CidrBlock"`
	State         cidrStateXML `xml:"ipv6CidrBlockState"`
}

// subnetRenderer renders subnets with what the subnet record does not
// hold: zone IDs, and the IPv4 addresses network interfaces use.
type subnetRenderer struct {
	zoneIDs map[string]string
	used    map[model.SubnetID]int
}

// newSubnetRenderer reads zone IDs and, from every network interface, the
// IPv4 addresses in use per subnet. (The service has no count of free
// addresses per subnet; this costs one more read.)
func newSubnetRenderer(c *Call) (*subnetRenderer, error) {
	ids, err := zoneIDs(c)
	if err != nil {
		return nil, err
	}
	enis, _, err := c.Service.DescribeNetworkInterfaces(c.Ctx, c.Caller, service.DescribeNetworkInterfacesInput{})
	if err != nil {
		return nil, err
	}
	used := map[model.SubnetID]int{}
	for _, e := range enis {
		used[e.Subnet] += len(e.PrivateIPs)
	}
	return &subnetRenderer{ids, used}, nil
}

// subnet renders a subnet. EC2 reserves five addresses of every subnet
// (network, router, DNS, future use, broadcast).
func (r *subnetRenderer) subnet(sn *model.Subnet) subnetXML {
	out := subnetXML{
		SubnetID: string(sn.ID), SubnetArn: arn(sn.Scope, "subnet", string(sn.ID)), State: stateAvailable,
		OwnerID: string(sn.Account), VpcID: string(sn.VPC),
		IPv6Assocs: Set[subnetIPv6CidrAssocXML]{}, Ipv6Native: sn.IPv6Native,
		AvailabilityZone: sn.Zone, AvailabilityZoneID: r.zoneIDs[sn.Zone],
		DefaultForAz: sn.DefaultForAz, AssignIpv6AddressOnCreation: sn.AssignIPv6OnCreation,
		Tags: tagSet(sn.Tags),
	}
	if sn.CIDR.IsValid() { // an IPv6-only subnet has neither
		out.CidrBlock, out.AvailableIPAddressCount = sn.CIDR.String(), blockSize(sn.CIDR)-5-r.used[sn.ID]
	}
	if sn.IPv6CIDR.IsValid() {
		out.IPv6Assocs = append(out.IPv6Assocs, subnetIPv6CidrAssocXML{
			"subnet-cidr-assoc-" + idDigits(string(sn.ID)), sn.IPv6CIDR.String(), cidrStateXML{stateAssoc},
		})
	}
	return out
}

// blockSize is the number of addresses of an IPv4 prefix.
func blockSize(p netip.Prefix) int { return 1 << (32 - p.Bits()) }
