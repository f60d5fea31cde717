package service

import (
	"context"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"palisade.dev/palisade/internal/model"
)

// CreateSubnetInput is CreateSubnet's request.
type CreateSubnetInput struct {
	VpcID    string
	CIDR     string
	IPv6CIDR string // optional /64 inside the VPC's /56; required when IPv6Native
	// IPv6Native makes an IPv6-only subnet: IPv6CIDR and no CIDR.
	IPv6Native bool
	Zone       string // optional; default <region>a
	ZoneID     string // AvailabilityZoneId, instead of Zone
	Tags       model.Tags
}

// CreateSubnet creates a subnet inside a VPC's block, overlapping no other.
func (s *Service) CreateSubnet(ctx context.Context, c Caller, in CreateSubnetInput) (*model.Subnet, error) {
	if in.VpcID == "" {
		return nil, model.Errorf(model.CodeMissingParameter, "The request must contain the parameter vpcId")
	}
	vid, err := model.ParseVpcID(in.VpcID)
	if err != nil {
		return nil, err
	}
	cidr, err := subnetBlock(in)
	if err != nil {
		return nil, err
	}
	zone, err := zoneOf(c.Region, in.Zone, in.ZoneID)
	if err != nil {
		return nil, err
	}
	if zone == "" {
		zone = c.Region + "a"
	} else if !validZone(c.Region, zone) {
		return nil, model.Errorf(model.CodeInvalidParameterValue, "Value (%s) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: %sa, %sb, %sc.", zone, c.Region, c.Region, c.Region)
	}
	var out *model.Subnet
	err = s.txn(ctx, c, "CreateSubnet", func(t *tx) error {
		v, err := t.vpc(vid)
		if err != nil {
			return err
		}
		if !in.IPv6Native && !slices.ContainsFunc(v.IPv4Blocks(), func(b netip.Prefix) bool { return b.Contains(cidr.Addr()) && cidr.Bits() >= b.Bits() }) {
			return model.Errorf(model.CodeInvalidSubnetRange, "The CIDR '%s' is invalid.", in.CIDR)
		}
		v6, err := checkSubnetIPv6(in.IPv6CIDR, v)
		if err != nil {
			return err
		}
		subnets, err := list[model.Subnet](t, kindSubnet)
		if err != nil {
			return err
		}
		for _, sn := range subnets {
			if sn.VPC == vid && cidr.IsValid() && sn.CIDR.Overlaps(cidr) {
				return model.Errorf(model.CodeInvalidSubnetConflict, "The CIDR '%s' conflicts with another subnet", in.CIDR)
			}
			if sn.VPC == vid && v6.IsValid() && sn.IPv6CIDR.IsValid() && sn.IPv6CIDR.Overlaps(v6) {
				return model.Errorf(model.CodeInvalidSubnetConflict, "The CIDR '%s' conflicts with another subnet", in.IPv6CIDR)
			}
		}
		out = &model.Subnet{Scope: c.scope(), ID: model.SubnetID(s.newID(model.KindSubnet)), VPC: vid, Zone: zone, CIDR: cidr, IPv6CIDR: v6, Tags: in.Tags,
			IPv6Native: in.IPv6Native, AssignIPv6OnCreation: in.IPv6Native}
		return t.putNewSubnet(out)
	})
	return out, err
}

// subnetBlock validates CreateSubnet's IPv4 block: none for an IPv6-only
// subnet (which needs an IPv6 one), one of /16 to /28 for the others.
func subnetBlock(in CreateSubnetInput) (netip.Prefix, error) {
	switch {
	case !in.IPv6Native:
		return checkBlock(in.CIDR, model.CodeInvalidSubnetRange)
	case in.CIDR != "":
		return netip.Prefix{}, model.Errorf(model.CodeInvalidParameterCombination,
			"An IPv6-only subnet (ipv6Native) has no IPv4 CIDR block: cidrBlock cannot be used with it.")
	case in.IPv6CIDR == "":
		return netip.Prefix{}, model.Errorf(model.CodeMissingParameter, "The request must contain the parameter ipv6CidrBlock")
	}
	return netip.Prefix{}, nil
}

// validZone reports whether zone is one of region's zones (zoneSuffixes).
func validZone(region, zone string) bool {
	sfx, ok := strings.CutPrefix(zone, region)
	return ok && slices.Contains(zoneSuffixes, sfx)
}

func checkSubnetIPv6(s string, v *model.VPC) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is6() || p.Bits() != 64 {
		return netip.Prefix{}, model.Errorf(model.CodeInvalidParameterValue, "Value (%s) for parameter ipv6CidrBlock is invalid. This is not a valid /64 IPv6 CIDR block.", s)
	}
	if !v.IPv6CIDR.IsValid() || !v.IPv6CIDR.Contains(p.Addr()) {
		return netip.Prefix{}, model.Errorf(model.CodeInvalidSubnetRange, "The IPv6 CIDR '%s' is invalid: it is not inside the VPC's IPv6 block.", s)
	}
	return p.Masked(), nil
}

// DescribeSubnets lists the caller's subnets.
func (s *Service) DescribeSubnets(ctx context.Context, c Caller, ids []string, filters []Filter, p Page) ([]model.Subnet, string, error) {
	if err := checkFilters(filters, subnetFields(&model.Subnet{})); err != nil {
		return nil, "", err
	}
	var out []model.Subnet
	err := s.read(ctx, c, "DescribeSubnets", func(t *tx) error {
		all, err := list[model.Subnet](t, kindSubnet)
		if err != nil {
			return err
		}
		if out, err = selectByID(all, ids, model.KindSubnet, func(v model.Subnet) string { return string(v.ID) }); err != nil {
			return err
		}
		out = keep(out, func(v *model.Subnet) bool { return matchFilters(filters, subnetFields(v)) })
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return paginate(out, func(v model.Subnet) string { return string(v.ID) }, p)
}

func subnetFields(v *model.Subnet) fieldsFunc {
	return func(name string) ([]string, bool) {
		switch name {
		case "subnet-id":
			return []string{string(v.ID)}, true
		case "vpc-id":
			return []string{string(v.VPC)}, true
		case "cidr", "cidr-block", "cidrBlock":
			return nonEmpty(prefixString(v.CIDR)), true
		case "ipv6-cidr-block-association.ipv6-cidr-block":
			return nonEmpty(prefixString(v.IPv6CIDR)), true
		case "ipv6-cidr-block-association.state":
			return nonEmpty(ifValid(v.IPv6CIDR, "associated")), true
		case "ipv6-native":
			return []string{strconv.FormatBool(v.IPv6Native)}, true
		case "map-public-ip-on-launch":
			return []string{"false"}, true
		case "availability-zone", "availabilityZone":
			return []string{v.Zone}, true
		case "availability-zone-id":
			return nonEmpty(zoneID(v.Zone)), true
		case "default-for-az", "defaultForAz":
			return []string{strconv.FormatBool(v.DefaultForAz)}, true
		case "state":
			return []string{"available"}, true
		case "owner-id":
			return []string{string(v.Account)}, true
		}
		return tagFields(v.Tags, name)
	}
}

// DeleteSubnet deletes a subnet that no network interface uses.
func (s *Service) DeleteSubnet(ctx context.Context, c Caller, id string) error {
	sid, err := model.ParseSubnetID(id)
	if err != nil {
		return err
	}
	return s.txn(ctx, c, "DeleteSubnet", func(t *tx) error {
		if _, err := t.subnet(sid); err != nil {
			return err
		}
		enis, err := listMentioning[eniPlace](t, kindENI, string(sid))
		if err != nil {
			return err
		}
		for _, e := range enis {
			if e.Subnet == sid {
				return model.Errorf(model.CodeDependencyViolation, "The subnet '%s' has dependencies and cannot be deleted.", id)
			}
		}
		// No interface, so no address in use: the index is its head alone.
		t.dropIndex(poolHeadKey(c, sid))
		return t.del(kindSubnet, id)
	})
}
