package ec2api

import (
	"net/netip"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
)

// eniActions serves network interfaces, which is where security groups
// attach.
func eniActions() Table {
	return Table{
		"CreateNetworkInterface":            Action(parseCreateNetworkInterface, runCreateNetworkInterface),
		"DeleteNetworkInterface":            Action(parseENIID, runDeleteNetworkInterface),
		"AttachNetworkInterface":            Action(parseAttachNetworkInterface, runAttachNetworkInterface),
		"DetachNetworkInterface":            Action(parseDetachNetworkInterface, runDetachNetworkInterface),
		"DescribeNetworkInterfaces":         Action(parseDescribeNetworkInterfaces, runDescribeNetworkInterfaces),
		"ModifyNetworkInterfaceAttribute":   Action(parseModifyNetworkInterfaceAttribute, runModifyNetworkInterfaceAttribute),
		"DescribeNetworkInterfaceAttribute": Action(parseDescribeNetworkInterfaceAttribute, runDescribeNetworkInterfaceAttribute),
		"AssignPrivateIpAddresses":          Action(parseAssignPrivateIPs, runAssignPrivateIPs),
		"UnassignPrivateIpAddresses":        Action(parseUnassignPrivateIPs, runUnassignPrivateIPs),
		"AssignIpv6Addresses":               Action(parseAssignIPv6s, runAssignIPv6s),
		"UnassignIpv6Addresses":             Action(parseUnassignIPv6s, runUnassignIPv6s),
	}
}

func parseCreateNetworkInterface(p *Params) (service.CreateNetworkInterfaceInput, error) {
	in := service.CreateNetworkInterfaceInput{
		SubnetID: p.String("SubnetId"), PrivateIP: p.String("PrivateIpAddress"),
		Description: p.String("Description"), ClientToken: p.String("ClientToken"),
	}
	var err error
	if in.GroupIDs, err = p.Strings("SecurityGroupId"); err != nil {
		return in, err
	}
	if in.IPv6AddressCount, err = optInt32(p, "Ipv6AddressCount"); err != nil {
		return in, err
	}
	if in.Secondary, err = readSecondaryIPs(p); err != nil {
		return in, err
	}
	if in.IPv6Addresses, err = readIPv6Specs(p, "Ipv6Addresses"); err != nil {
		return in, err
	}
	if in.Conntrack, _, err = readConntrack(p, "ConnectionTrackingSpecification"); err != nil {
		return in, err
	}
	in.TagSpecifications, err = readRawTagSpecs(p)
	return in, err
}

func runCreateNetworkInterface(c *Call, in service.CreateNetworkInterfaceInput) (any, error) {
	n, err := c.Service.CreateNetworkInterface(c.Ctx, c.Caller, in)
	if err != nil {
		return nil, err
	}
	ids, err := zoneIDs(c)
	if err != nil {
		return nil, err
	}
	return createNetworkInterfaceXML{Interface: networkInterfaceOf(n, ids), ClientToken: in.ClientToken}, nil
}

func parseENIID(p *Params) (string, error) { return p.Required("NetworkInterfaceId") }

func runDeleteNetworkInterface(c *Call, id string) (any, error) {
	return returnTrue, c.Service.DeleteNetworkInterface(c.Ctx, c.Caller, id)
}

func parseAttachNetworkInterface(p *Params) (service.AttachNetworkInterfaceInput, error) {
	in := service.AttachNetworkInterfaceInput{NetworkInterfaceID: p.String("NetworkInterfaceId"), InstanceID: p.String("InstanceId")}
	var err error
	in.DeviceIndex, err = p.OptInt32("DeviceIndex")
	return in, err
}

func runAttachNetworkInterface(c *Call, in service.AttachNetworkInterfaceInput) (any, error) {
	id, err := c.Service.AttachNetworkInterface(c.Ctx, c.Caller, in)
	if err != nil {
		return nil, err
	}
	return attachXML{AttachmentID: string(id)}, nil
}

// parseDetachNetworkInterface reads AttachmentId, and Force, which changes
// nothing: detaching is immediate (service.DetachNetworkInterface).
func parseDetachNetworkInterface(p *Params) (string, error) {
	if _, err := p.Bool("Force"); err != nil {
		return "", err
	}
	return p.String("AttachmentId"), nil
}

func runDetachNetworkInterface(c *Call, id string) (any, error) {
	return returnTrue, c.Service.DetachNetworkInterface(c.Ctx, c.Caller, id)
}

func parseDescribeNetworkInterfaces(p *Params) (service.DescribeNetworkInterfacesInput, error) {
	in, err := parseDescribe("NetworkInterfaceId")(p)
	return service.DescribeNetworkInterfacesInput(in), err
}

func runDescribeNetworkInterfaces(c *Call, in service.DescribeNetworkInterfacesInput) (any, error) {
	enis, next, err := c.Service.DescribeNetworkInterfaces(c.Ctx, c.Caller, in)
	if err != nil {
		return nil, err
	}
	ids, err := zoneIDs(c)
	if err != nil {
		return nil, err
	}
	out := describeNetworkInterfacesXML{Interfaces: make(Set[networkInterfaceXML], len(enis)), NextToken: next}
	for i := range enis {
		out.Interfaces[i] = networkInterfaceOf(&enis[i], ids)
	}
	return out, nil
}

// parseModifyNetworkInterfaceAttribute reads the attributes EC2 takes, each
// in its wire form: SecurityGroupId.N, Description.Value,
// SourceDestCheck.Value, ConnectionTrackingSpecification.* and
// Attachment.{AttachmentId,DeleteOnTermination}. The service allows one per
// call.
func parseModifyNetworkInterfaceAttribute(p *Params) (service.ModifyNetworkInterfaceAttributeInput, error) {
	in := service.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceID: p.String("NetworkInterfaceId"), AttachmentID: p.String("Attachment.AttachmentId")}
	var err error
	if in.GroupIDs, err = p.Strings("SecurityGroupId"); err != nil {
		return in, err
	}
	if v, ok := p.OptString("Description.Value"); ok {
		in.Description = &v
	}
	if in.SourceDestCheck, err = p.OptBool("SourceDestCheck.Value"); err != nil {
		return in, err
	}
	if in.DeleteOnTermination, err = p.OptBool("Attachment.DeleteOnTermination"); err != nil {
		return in, err
	}
	ct, given, err := readConntrack(p, "ConnectionTrackingSpecification")
	if given {
		in.Conntrack = &ct
	}
	return in, err
}

func runModifyNetworkInterfaceAttribute(c *Call, in service.ModifyNetworkInterfaceAttributeInput) (any, error) {
	return returnTrue, c.Service.ModifyNetworkInterfaceAttribute(c.Ctx, c.Caller, in)
}

// attributeInput is the request of DescribeInstanceAttribute and
// DescribeNetworkInterfaceAttribute: an ID and an attribute name.
type attributeInput struct {
	ID, Attribute string
}

func parseDescribeNetworkInterfaceAttribute(p *Params) (attributeInput, error) {
	return attributeInput{p.String("NetworkInterfaceId"), p.String("Attribute")}, nil
}

func runDescribeNetworkInterfaceAttribute(c *Call, in attributeInput) (any, error) {
	a, err := c.Service.DescribeNetworkInterfaceAttribute(c.Ctx, c.Caller, in.ID, in.Attribute)
	if err != nil {
		return nil, err
	}
	out := eniAttributeXML{NetworkInterfaceID: string(a.NetworkInterfaceID)}
	switch a.Attribute {
	case "description":
		out.Description = &attrValueXML{Value: &a.Description}
	case "groupSet":
		out.GroupSet = groupSetOf(a.GroupSet)
	case "sourceDestCheck":
		out.SourceDestCheck = &attrBoolXML{a.SourceDestCheck}
	case "attachment":
		out.Attachment = attachmentOf(c.Caller.Account, a.Attachment)
		if out.Attachment == nil {
			out.Attachment = &eniAttachmentXML{}
		}
	}
	return out, nil
}

// optInt32 reads an optional integer whose absence means zero.
func optInt32(p *Params, name string) (int32, error) {
	v, err := p.OptInt32(name)
	if v == nil {
		return 0, err
	}
	return *v, nil
}

// groupSetOf renders a groupSet.
func groupSetOf(groups []service.GroupIdentifier) Set[groupIdentifierXML] {
	out := make(Set[groupIdentifierXML], len(groups))
	for i, g := range groups {
		out[i] = groupIdentifierXML{string(g.ID), g.Name}
	}
	return out
}

// Response shapes, with the element names aws-sdk-go-v2 decodes.

type createNetworkInterfaceXML struct {
	Interface   networkInterfaceXML `xml:"networkInterface"`
	ClientToken string              `xml:"clientToken,omitempty"`
}

type attachXML struct {
	AttachmentID     string `xml:"attachmentId"`
	NetworkCardIndex int    `xml:"networkCardIndex"`
}

type describeNetworkInterfacesXML struct {
	Interfaces Set[networkInterfaceXML] `xml:"networkInterfaceSet"`
	NextToken  string                   `xml:"nextToken,omitempty"`
}

type networkInterfaceXML struct {
	NetworkInterfaceID string                  `xml:"networkInterfaceId"`
	SubnetID           string                  `xml:"subnetId"`
	VpcID              string                  `xml:"vpcId"`
	AvailabilityZone   string                  `xml:"availabilityZone"`
	AvailabilityZoneID string                  `xml:"availabilityZoneId,omitempty"`
	Description        string                  `xml:"description"`
	OwnerID            string                  `xml:"ownerId"`
	RequesterManaged   bool                    `xml:"requesterManaged"`
	Status             string                  `xml:"status"`
	MacAddress         string                  `xml:"macAddress"`
	PrivateIPAddress   string                  `xml:"privateIpAddress,omitempty"`
	PrivateDNSName     string                  `xml:"privateDnsName,omitempty"`
	SourceDestCheck    bool                    `xml:"sourceDestCheck"`
	GroupSet           Set[groupIdentifierXML] `xml:"groupSet"`
	Attachment         *eniAttachmentXML       `xml:"attachment,omitempty"`
	PrivateIPs         Set[privateIPXML]       `xml:"privateIpAddressesSet"`
	IPv6s              Set[ipv6AddressXML]     `xml:"ipv6AddressesSet"`
	InterfaceType      string                  `xml:"interfaceType"`
	Conntrack          *conntrackXML           `xml:"connectionTrackingConfiguration"`
	Tags               Set[tagXML]             `xml:"tagSet"`
}

type eniAttachmentXML struct {
	AttachmentID        string `xml:"attachmentId,omitempty"`
	InstanceID          string `xml:"instanceId,omitempty"`
	InstanceOwnerID     string `xml:"instanceOwnerId,omitempty"`
	DeviceIndex         *int   `xml:"deviceIndex,omitempty"`
	NetworkCardIndex    *int   `xml:"networkCardIndex,omitempty"`
	Status              string `xml:"status,omitempty"`
	AttachTime          string `xml:"attachTime,omitempty"`
	DeleteOnTermination *bool  `xml:"deleteOnTermination,omitempty"`
}

type privateIPXML struct {
	PrivateIPAddress string `xml:"privateIpAddress"`
	PrivateDNSName   string `xml:"privateDnsName,omitempty"`
	Primary          bool   `xml:"primary"`
}

type ipv6AddressXML struct {
	IPv6Address   string `xml:"ipv6Address"`
	IsPrimaryIPv6 bool   `xml:"isPrimaryIpv6"`
}

type eniAttributeXML struct {
	NetworkInterfaceID string                  `xml:"networkInterfaceId"`
	Description        *attrValueXML           `xml:"description,omitempty"`
	GroupSet           Set[groupIdentifierXML] `xml:"groupSet,omitempty"`
	SourceDestCheck    *attrBoolXML            `xml:"sourceDestCheck,omitempty"`
	Attachment         *eniAttachmentXML       `xml:"attachment,omitempty"`
}

// networkInterfaceOf renders an interface; zoneIDs maps zone names to IDs.
func networkInterfaceOf(n *service.NetworkInterface, zoneIDs map[string]string) networkInterfaceXML {
	out := networkInterfaceXML{
		NetworkInterfaceID: string(n.ID), SubnetID: string(n.Subnet), VpcID: string(n.VPC),
		AvailabilityZone: n.Zone, AvailabilityZoneID: zoneIDs[n.Zone], Description: n.Description,
		OwnerID: string(n.Account), Status: n.Status(), MacAddress: n.MAC,
		PrivateDNSName: n.PrivateDNSName, SourceDestCheck: n.SourceDestCheck,
		GroupSet:   groupSetOf(n.GroupSet),
		Attachment: attachmentOf(n.Account, n.Attachment),
		PrivateIPs: privateIPsOf(n), IPv6s: ipv6sOf(n.IPv6s),
		InterfaceType: "interface", Conntrack: conntrackOf(n.Conntrack), Tags: tagSet(n.Tags),
	}
	if len(n.PrivateIPs) > 0 {
		out.PrivateIPAddress = n.PrivateIPs[0].String()
	}
	return out
}

// attachmentOf renders an interface's attachment (nil when detached). The
// instance is always the interface owner's: Palisade has no cross-account
// attachments.
func attachmentOf(owner model.AccountID, a *model.Attachment) *eniAttachmentXML {
	if a == nil {
		return nil
	}
	card, dev, del := 0, a.DeviceIndex, a.DeleteOnTermination
	return &eniAttachmentXML{
		AttachmentID: string(a.ID), InstanceID: string(a.Instance), InstanceOwnerID: string(owner),
		DeviceIndex: &dev, NetworkCardIndex: &card, Status: "attached",
		AttachTime: wireTime(a.AttachTime), DeleteOnTermination: &del,
	}
}

// privateIPsOf renders the private IPv4 addresses; the first is primary and
// the only one with a DNS name.
func privateIPsOf(n *service.NetworkInterface) Set[privateIPXML] {
	out := make(Set[privateIPXML], len(n.PrivateIPs))
	for i, a := range n.PrivateIPs {
		out[i] = privateIPXML{PrivateIPAddress: a.String(), Primary: i == 0}
		if i == 0 {
			out[i].PrivateDNSName = n.PrivateDNSName
		}
	}
	return out
}

func ipv6sOf(addrs []netip.Addr) Set[ipv6AddressXML] {
	out := make(Set[ipv6AddressXML], len(addrs))
	for i, a := range addrs {
		out[i] = ipv6AddressXML{IPv6Address: a.String()}
	}
	return out
}
