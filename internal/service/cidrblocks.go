package service

import (
	"context"
	"net/netip"
	"slices"
	"strings"

	"palisade.dev/palisade/internal/model"
)

// CIDR blocks associated after creation
// (docs/aws-semantics.md#subnets-after-creation): a VPC's secondary IPv4
// blocks, its Amazon-provided /56 and a subnet's /64. Palisade holds one
// IPv6 block per VPC and per subnet.

// maxIPv4Blocks is AWS's default quota of IPv4 blocks per VPC, the primary
// included.
const maxIPv4Blocks = 5

// AssociateVpcIPv4Block adds a secondary IPv4 block to a VPC, with AWS's
// restrictions: /16 to /28, at most maxIPv4Blocks in all, from the same
// RFC 1918 range as the primary block or from outside RFC 1918
// (secondaryAllowed), overlapping none of the VPC's blocks.
func (s *Service) AssociateVpcIPv4Block(ctx context.Context, c Caller, vpcID, cidr string) (model.VpcID, model.CidrBlock, error) {
	vid, err := model.ParseVpcID(vpcID)
	if err != nil {
		return "", model.CidrBlock{}, err
	}
	block, err := checkBlock(cidr, model.CodeInvalidVpcRange)
	if err != nil {
		return "", model.CidrBlock{}, err
	}
	var out model.CidrBlock
	err = s.txn(ctx, c, "AssociateVpcCidrBlock", func(t *tx) error {
		v, err := t.vpc(vid)
		if err != nil {
			return err
		}
		if err := checkSecondary(v, block, cidr); err != nil {
			return err
		}
		out = model.CidrBlock{AssociationID: "vpc-cidr-assoc-" + strings.TrimPrefix(s.newID(model.KindVPC), "vpc-"), CIDR: block}
		v.Secondary = append(v.Secondary, out)
		return t.put(kindVPC, string(v.ID), v)
	})
	return vid, out, err
}

// checkSecondary says why block cannot join v's IPv4 blocks, if it cannot.
func checkSecondary(v *model.VPC, block netip.Prefix, cidr string) error {
	blocks := v.IPv4Blocks()
	if len(blocks) >= maxIPv4Blocks {
		return model.Errorf(model.CodeCidrLimitExceeded, "This network '%s' has met its maximum number of allowed CIDRs: %d", v.ID, maxIPv4Blocks)
	}
	if !secondaryAllowed(v.CIDR, block) {
		return model.Errorf(model.CodeInvalidVpcRange, "The CIDR '%s' is restricted. Use a CIDR from the same private address range "+
			"as the current VPC CIDR, or use a publicly-routable CIDR. For additional restrictions, see "+
			"https://docs.aws.amazon.com/vpc/latest/userguide/vpc-cidr-blocks.html", cidr)
	}
	for _, b := range blocks {
		if b.Overlaps(block) {
			return model.Errorf(model.CodeInvalidVpcRange, "The CIDR '%s' conflicts with another CIDR block of the VPC: %s", cidr, b)
		}
	}
	return nil
}

// The ranges AWS's association restrictions name.
var (
	rfc1918      = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("192.168.0.0/16")}
	benchmarking = netip.MustParsePrefix("198.19.0.0/16")
)

// addrRange names the restricted range p lies in: one of rfc1918, the
// 198.19.0.0/16 block, or "" (publicly routable, or 100.64.0.0/10). Blocks
// are /16 or longer, so none straddles a range's edge.
func addrRange(p netip.Prefix) netip.Prefix {
	for _, r := range append(slices.Clone(rfc1918), benchmarking) {
		if r.Contains(p.Addr()) {
			return r
		}
	}
	return netip.Prefix{}
}

// secondaryAllowed is AWS's table of IPv4 association restrictions: a
// VPC whose primary block is in an RFC 1918 range takes blocks of that
// range or publicly routable ones (100.64.0.0/10 included); one whose
// primary is publicly routable (or 198.19.0.0/16) takes publicly routable
// ones only. 198.19.0.0/16 is never a secondary block.
func secondaryAllowed(primary, block netip.Prefix) bool {
	r := addrRange(block)
	return !r.IsValid() || r != benchmarking && r == addrRange(primary)
}

// DisassociateVpcIPv4Block removes the secondary IPv4 block whose
// association ID is assoc once no subnet lies in it; found is false when
// no VPC of the caller has that association. The primary block's
// association is OperationNotPermitted.
func (s *Service) DisassociateVpcIPv4Block(ctx context.Context, c Caller, assoc string) (vpc model.VpcID, block model.CidrBlock, found bool, err error) {
	err = s.txn(ctx, c, "DisassociateVpcCidrBlock", func(t *tx) error {
		found = false
		vpcs, err := list[model.VPC](t, kindVPC)
		if err != nil {
			return err
		}
		for i := range vpcs {
			v := &vpcs[i]
			if assoc == primaryAssociation(v.ID) {
				return model.Errorf(model.CodeOperationNotPermitted, "The vpc CIDR block with association ID %s may not be disassociated. "+
					"It is the primary IPv4 CIDR block of the VPC", assoc)
			}
			k := slices.IndexFunc(v.Secondary, func(b model.CidrBlock) bool { return b.AssociationID == assoc })
			if k < 0 {
				continue
			}
			found, vpc, block = true, v.ID, v.Secondary[k]
			if err := t.checkBlockUnused(v.ID, block); err != nil {
				return err
			}
			v.Secondary = slices.Delete(v.Secondary, k, k+1)
			return t.put(kindVPC, string(v.ID), v)
		}
		return nil
	})
	return vpc, block, found, err
}

// primaryAssociation is the association ID of a VPC's primary IPv4 block,
// which derives from the VPC's ID.
func primaryAssociation(id model.VpcID) string {
	return "vpc-cidr-assoc-" + strings.TrimPrefix(string(id), "vpc-")
}

// checkBlockUnused refuses to take away a block that a subnet lies in.
func (t *tx) checkBlockUnused(vid model.VpcID, b model.CidrBlock) error {
	subnets, err := list[model.Subnet](t, kindSubnet)
	if err != nil {
		return err
	}
	for _, sn := range subnets {
		if sn.VPC == vid && b.CIDR.Overlaps(sn.CIDR) {
			return model.Errorf(model.CodeInvalidCidrBlockInUse, "The vpc CIDR block with association ID %s may not be disassociated, "+
				"because subnet '%s' lies in it.", b.AssociationID, sn.ID)
		}
	}
	return nil
}

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
			// AWS: one Amazon-provided block per network border group,
			// and a VPC of a region has the region's group only.
			return model.Errorf(model.CodeCidrLimitExceeded, "The VPC '%s' has an Amazon-provided IPv6 CIDR block in network border group %s already: "+
				"a VPC takes one per network border group.", vid, v.Region)
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
	return model.Errorf(model.CodeInvalidVpcAssocNotFound, "The vpc CIDR block association ID for '%s' does not exist", id)
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
			return model.Errorf(model.CodeCidrLimitExceeded, "The subnet '%s' has an IPv6 CIDR block already.", sid)
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
				return model.Errorf(model.CodeInvalidSubnetConflict, "The CIDR '%s' conflicts with another subnet", cidr)
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
			return model.Errorf(model.CodeInvalidSubnetAssocNotFound, "The subnet CIDR block association ID for '%s' does not exist", sid)
		}
		if sn.AssignIPv6OnCreation { // an IPv6-only subnet's always is
			return model.Errorf(model.CodeInvalidCidrBlockInUse, "The subnet IPv6 CIDR block with association ID subnet-cidr-assoc-%s may not be "+
				"disassociated, because its subnet has assign-ipv6-address-on-creation set to true.", strings.TrimPrefix(string(sid), "subnet-"))
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
		sn.IPv6CIDR = netip.Prefix{}
		return t.put(kindSubnet, string(sn.ID), sn)
	})
	return &out, err
}
