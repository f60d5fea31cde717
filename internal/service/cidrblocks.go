package service

import (
	"context"
	"net/netip"

	"palisade.dev/palisade/internal/model"
)

// IPv6 CIDR blocks associated after creation
// (docs/aws-semantics.md#subnets-after-creation): a VPC's Amazon-provided
// /56 and a subnet's /64. Palisade holds one IPv6 block per VPC and per
// subnet; secondary IPv4 blocks are not modelled.

// AssociateVpcIPv6Block gives a VPC without IPv6 a /56 from the pool.
func (s *Service) AssociateVpcIPv6Block(ctx context.Context, c Caller, vpcID string) (*model.VPC, error) {
	vid, err := model.ParseVpcID(vpcID)
	if err != nil {
		return nil, err
	}
	var out *model.VPC
	err = s.txn(ctx, c, "AssociateVpcCidrBlock", func(t *tx) error {
		v, err := t.vpc(vid)
		if err != nil {
			return err
		}
		if v.IPv6CIDR.IsValid() {
			return model.Errorf("CidrLimitExceeded", "The VPC '%s' has an IPv6 CIDR block already; Palisade allows one.", vid)
		}
		if v.IPv6CIDR, err = t.allocIPv6Block(); err != nil {
			return err
		}
		out = v
		return t.put(kindVPC, string(v.ID), v)
	})
	return out, err
}

// DisassociateVpcIPv6Block takes a VPC's IPv6 block away once no subnet of
// it has an IPv6 block, and returns the VPC as it was.
func (s *Service) DisassociateVpcIPv6Block(ctx context.Context, c Caller, vpcID string) (*model.VPC, error) {
	vid, err := model.ParseVpcID(vpcID)
	if err != nil {
		return nil, err
	}
	var out model.VPC
	err = s.txn(ctx, c, "DisassociateVpcCidrBlock", func(t *tx) error {
		v, err := t.vpc(vid)
		if err != nil {
			return err
		}
		if !v.IPv6CIDR.IsValid() {
			return vpcAssocNotFound(vpcID)
		}
		subnets, err := list[model.Subnet](t, kindSubnet)
		if err != nil {
			return err
		}
		for _, sn := range subnets {
			if sn.VPC == vid && sn.IPv6CIDR.IsValid() {
				return model.Errorf(model.CodeDependencyViolation, "The IPv6 CIDR block of '%s' is used by subnet '%s' and cannot be disassociated.", vid, sn.ID)
			}
		}
		out = *v
		v.IPv6CIDR = netip.Prefix{}
		return t.put(kindVPC, string(v.ID), v)
	})
	return &out, err
}

func vpcAssocNotFound(id string) error {
	return model.Errorf("InvalidVpcCidrBlockAssociationID.NotFound", "The vpc CIDR block association ID for '%s' does not exist", id)
}

// AssociateSubnetIPv6Block gives a subnet without IPv6 a /64 of its VPC's
// block that no other subnet has.
func (s *Service) AssociateSubnetIPv6Block(ctx context.Context, c Caller, subnetID, cidr string) (*model.Subnet, error) {
	sid, err := model.ParseSubnetID(subnetID)
	if err != nil {
		return nil, err
	}
	if cidr == "" {
		return nil, model.Errorf(model.CodeMissingParameter, "The request must contain the parameter ipv6CidrBlock")
	}
	var out *model.Subnet
	err = s.txn(ctx, c, "AssociateSubnetCidrBlock", func(t *tx) error {
		sn, err := t.subnet(sid)
		if err != nil {
			return err
		}
		if sn.IPv6CIDR.IsValid() {
			return model.Errorf("CidrLimitExceeded", "The subnet '%s' has an IPv6 CIDR block already.", sid)
		}
		v, err := t.vpc(sn.VPC)
		if err != nil {
			return err
		}
		v6, err := checkSubnetIPv6(cidr, v)
		if err != nil {
			return err
		}
		subnets, err := list[model.Subnet](t, kindSubnet)
		if err != nil {
			return err
		}
		for _, o := range subnets {
			if o.VPC == sn.VPC && o.IPv6CIDR.IsValid() && o.IPv6CIDR.Overlaps(v6) {
				return model.Errorf("InvalidSubnet.Conflict", "The CIDR '%s' conflicts with another subnet", cidr)
			}
		}
		sn.IPv6CIDR = v6
		out = sn
		return t.put(kindSubnet, string(sn.ID), sn)
	})
	return out, err
}

// DisassociateSubnetIPv6Block takes a subnet's IPv6 block away once no
// interface holds an IPv6 address of it, and returns the subnet as it was.
func (s *Service) DisassociateSubnetIPv6Block(ctx context.Context, c Caller, subnetID string) (*model.Subnet, error) {
	sid, err := model.ParseSubnetID(subnetID)
	if err != nil {
		return nil, err
	}
	var out model.Subnet
	err = s.txn(ctx, c, "DisassociateSubnetCidrBlock", func(t *tx) error {
		sn, err := t.subnet(sid)
		if err != nil {
			return err
		}
		if !sn.IPv6CIDR.IsValid() {
			return model.Errorf("InvalidSubnetCidrBlockAssociationID.NotFound", "The subnet CIDR block association ID for '%s' does not exist", sid)
		}
		enis, err := listMentioning[eniRecord](t, kindENI, string(sid))
		if err != nil {
			return err
		}
		for _, e := range enis {
			if e.Subnet == sid && len(e.IPv6s) > 0 {
				return model.Errorf(model.CodeDependencyViolation, "The IPv6 CIDR block of '%s' is used by network interface '%s' and cannot be disassociated.", sid, e.ID)
			}
		}
		out = *sn
		sn.IPv6CIDR, sn.AssignIPv6OnCreation = netip.Prefix{}, false
		return t.put(kindSubnet, string(sn.ID), sn)
	})
	return &out, err
}
