package ec2api

import (
	"strings"

	"palisade.dev/palisade/internal/model"
)

// This file serves AssociateVpcCidrBlock, DisassociateVpcCidrBlock,
// AssociateSubnetCidrBlock and DisassociateSubnetCidrBlock (registered in
// vpcActions). Association IDs derive from the VPC's or subnet's ID (see
// vpcOf): vpc-cidr-assoc-6<digits> is the IPv6 block of vpc-<digits>,
// vpc-cidr-assoc-<digits> its primary IPv4 block, subnet-cidr-assoc-<digits>
// the IPv6 block of subnet-<digits>. A secondary IPv4 block (CidrBlock)
// has an association ID of its own, drawn when it is associated.

type vpcCidrInput struct {
	VpcID, CIDR string
	IPv6        bool // AmazonProvidedIpv6CidrBlock
}

func parseAssociateVpcCidrBlock(p *Params) (vpcCidrInput, error) {
	in := vpcCidrInput{VpcID: p.String("VpcId"), CIDR: p.String("CidrBlock")}
	var err error
	in.IPv6, err = p.Bool("AmazonProvidedIpv6CidrBlock")
	switch {
	case err != nil:
	case in.IPv6 && p.Has("CidrBlock"):
		err = model.Errorf(model.CodeInvalidParameterCombination, "The parameter CidrBlock cannot be used with the parameter AmazonProvidedIpv6CidrBlock")
	case !in.IPv6 && !p.Has("CidrBlock"):
		err = model.Errorf(model.CodeMissingParameter, "The request must contain the parameter cidrBlock or amazonProvidedIpv6CidrBlock")
	}
	return in, err
}

func runAssociateVpcCidrBlock(c *Call, in vpcCidrInput) (any, error) {
	if !in.IPv6 {
		vid, b, err := c.Service.AssociateVpcIPv4Block(c.Ctx, c.Caller, in.VpcID, in.CIDR)
		if err != nil {
			return nil, err
		}
		return vpcCidrAssocXML{VpcID: string(vid), IPv4: &cidrAssocXML{b.AssociationID, b.CIDR.String(), cidrStateXML{"associating"}}}, nil
	}
	v, err := c.Service.AssociateVpcIPv6Block(c.Ctx, c.Caller, in.VpcID)
	if err != nil {
		return nil, err
	}
	return vpcCidrAssocOf(v, "associating"), nil
}

func parseAssociationID(p *Params) (string, error) { return p.Required("AssociationId") }

func runDisassociateVpcCidrBlock(c *Call, assoc string) (any, error) {
	vid, b, found, err := c.Service.DisassociateVpcIPv4Block(c.Ctx, c.Caller, assoc)
	switch {
	case err != nil:
		return nil, err
	case found:
		return vpcCidrAssocXML{VpcID: string(vid), IPv4: &cidrAssocXML{b.AssociationID, b.CIDR.String(), cidrStateXML{"disassociating"}}}, nil
	}
	digits, ok := strings.CutPrefix(assoc, "vpc-cidr-assoc-")
	switch {
	case ok && strings.HasPrefix(digits, "6") && isID(model.KindVPC, "vpc-"+digits[1:]):
		v, err := c.Service.DisassociateVpcIPv6Block(c.Ctx, c.Caller, "vpc-"+digits[1:])
		if err != nil {
			return nil, err
		}
		return vpcCidrAssocOf(v, "disassociating"), nil
	}
	return nil, model.Errorf(model.CodeInvalidVpcAssocNotFound, "The vpc CIDR block association ID '%s' does not exist", clipValue(assoc))
}

type subnetCidrInput struct{ SubnetID, CIDR string }

func parseAssociateSubnetCidrBlock(p *Params) (subnetCidrInput, error) {
	return subnetCidrInput{p.String("SubnetId"), p.String("Ipv6CidrBlock")}, nil
}

func runAssociateSubnetCidrBlock(c *Call, in subnetCidrInput) (any, error) {
	sn, err := c.Service.AssociateSubnetIPv6Block(c.Ctx, c.Caller, in.SubnetID, in.CIDR)
	if err != nil {
		return nil, err
	}
	return subnetCidrAssocOf(sn, "associating"), nil
}

func runDisassociateSubnetCidrBlock(c *Call, assoc string) (any, error) {
	digits, ok := strings.CutPrefix(assoc, "subnet-cidr-assoc-")
	if !ok || !isID(model.KindSubnet, "subnet-"+digits) {
		return nil, model.Errorf(model.CodeInvalidSubnetAssocNotFound, "The subnet CIDR block association ID '%s' does not exist", clipValue(assoc))
	}
	sn, err := c.Service.DisassociateSubnetIPv6Block(c.Ctx, c.Caller, "subnet-"+digits)
	if err != nil {
		return nil, err
	}
	return subnetCidrAssocOf(sn, "disassociating"), nil
}

type vpcCidrAssocXML struct {
	VpcID string            `xml:"vpcId"`
	IPv4  *cidrAssocXML     `xml:"cidrBlockAssociation,omitempty"`
	IPv6  *ipv6CidrAssocXML `xml:"ipv6CidrBlockAssociation,omitempty"`
}

func vpcCidrAssocOf(v *model.VPC, state string) vpcCidrAssocXML {
	return vpcCidrAssocXML{VpcID: string(v.ID), IPv6: &ipv6CidrAssocXML{
		AssociationID: "vpc-cidr-assoc-6" + idDigits(string(v.ID)), Ipv6CidrBlock: v.IPv6CIDR.String(),
		State: cidrStateXML{state}, NetworkBorderGroup: v.Region, Ipv6Pool: "Amazon",
	}}
}

type subnetCidrAssocXML struct {
	SubnetID string                 `xml:"subnetId"`
	IPv6     subnetIPv6CidrAssocXML `xml:"ipv6CidrBlockAssociation"`
}

func subnetCidrAssocOf(sn *model.Subnet, state string) subnetCidrAssocXML {
	return subnetCidrAssocXML{SubnetID: string(sn.ID), IPv6: subnetIPv6CidrAssocXML{
		"subnet-cidr-assoc-" + idDigits(string(sn.ID)), sn.IPv6CIDR.String(), cidrStateXML{state},
	}}
}

// isID reports whether s is an ID of kind k.
func isID(k model.Kind, s string) bool {
	_, err := model.ParseID(k, s)
	return err == nil
}
