package service

import (
	"context"
	"net/netip"
	"slices"

	"palisade.dev/palisade/internal/model"
)

// This file holds what changes about subnets after creation, and the
// default subnets (docs/aws-semantics.md#subnets-after-creation):
// AvailabilityZoneId, CreateDefaultSubnet and ModifySubnetAttribute.

// zoneOf resolves a subnet's or an instance's zone from AvailabilityZone and
// AvailabilityZoneId (either, or both when they agree; neither: "").
func zoneOf(region, zone, zoneIDText string) (string, error) {
	if zoneIDText == "" {
		return zone, nil
	}
	for _, sfx := range zoneSuffixes {
		if zoneID(region+sfx) == zoneIDText {
			if zone != "" && zone != region+sfx {
				return "", model.Errorf(model.CodeInvalidParameterCombination, "The availability zone %s is not the zone %s.", zone, zoneIDText)
			}
			return region + sfx, nil
		}
	}
	return "", model.Errorf(model.CodeInvalidParameterValue, "Value (%s) for parameter availabilityZoneId is invalid. The zones of %s are %s, %s and %s.",
		zoneIDText, region, zoneID(region+"a"), zoneID(region+"b"), zoneID(region+"c"))
}

// CreateDefaultSubnet makes the default subnet of a zone in the default VPC
// again: the lowest free /20 of 172.31.0.0/16.
func (s *Service) CreateDefaultSubnet(ctx context.Context, c Caller, zone, zoneIDText string) (*model.Subnet, error) {
	zone, err := zoneOf(c.Region, zone, zoneIDText)
	if err != nil {
		return nil, err
	}
	if zone == "" {
		return nil, model.Errorf(model.CodeMissingParameter, "The request must contain the parameter availabilityZone")
	}
	if !validZone(c.Region, zone) {
		return nil, model.Errorf(model.CodeInvalidParameterValue, "Value (%s) for parameter availabilityZone is invalid.", zone)
	}
	var out *model.Subnet
	err = s.txn(ctx, c, "CreateDefaultSubnet", func(t *tx) error {
		v, err := t.defaultVPC()
		if model.CodeOf(err) == model.CodeVPCIDNotSpecified {
			return model.Errorf(model.CodeDefaultVpcDoesNotExist, "No default VPC exists for this account in this region.")
		}
		if err != nil {
			return err
		}
		subnets, err := list[model.Subnet](t, kindSubnet)
		if err != nil {
			return err
		}
		subnets = slices.DeleteFunc(subnets, func(sn model.Subnet) bool { return sn.VPC != v.ID })
		if slices.ContainsFunc(subnets, func(sn model.Subnet) bool { return sn.DefaultForAz && sn.Zone == zone }) {
			return model.Errorf(model.CodeDefaultSubnetAlreadyExists, "A Default Subnet already exists in the availability zone %s.", zone)
		}
		cidr, ok := freeBlock(v.CIDR, 20, subnets)
		if !ok {
			return model.Errorf(model.CodeInsufficientAddresses, "The default VPC has no free /20 block for a default subnet.")
		}
		out = &model.Subnet{Scope: c.scope(), ID: model.SubnetID(s.newID(model.KindSubnet)), VPC: v.ID, Zone: zone, CIDR: cidr, DefaultForAz: true}
		return t.putNewSubnet(out)
	})
	return out, err
}

// freeBlock returns the lowest /bits block of p that overlaps none of
// subnets.
func freeBlock(p netip.Prefix, bits int, subnets []model.Subnet) (netip.Prefix, bool) {
	step := uint32(1) << (32 - bits)
	base := p.Masked().Addr().As4()
	start := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	for off := uint32(0); off < uint32(1)<<(32-p.Bits()); off += step {
		a := start + off
		b := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), bits)
		if !slices.ContainsFunc(subnets, func(sn model.Subnet) bool { return sn.CIDR.Overlaps(b) }) {
			return b, true
		}
	}
	return netip.Prefix{}, false
}

// ModifySubnetAttributeInput is ModifySubnetAttribute's request: one
// attribute per call.
type ModifySubnetAttributeInput struct {
	SubnetID                    string
	AssignIpv6AddressOnCreation *bool
	MapPublicIPOnLaunch         *bool
}

// ModifySubnetAttribute changes one attribute of a subnet.
// AssignIpv6AddressOnCreation needs an IPv6 block; MapPublicIpOnLaunch can
// only be false, Palisade having no public IPv4 addresses [decided].
func (s *Service) ModifySubnetAttribute(ctx context.Context, c Caller, in ModifySubnetAttributeInput) error {
	sid, err := model.ParseSubnetID(in.SubnetID)
	if err != nil {
		return err
	}
	if err := oneAttribute(in.AssignIpv6AddressOnCreation != nil, in.MapPublicIPOnLaunch != nil); err != nil {
		return err
	}
	if in.MapPublicIPOnLaunch != nil && *in.MapPublicIPOnLaunch {
		return model.Errorf(model.CodeInvalidParameterValue, "Palisade assigns no public IPv4 addresses: MapPublicIpOnLaunch can only be false.")
	}
	return s.txn(ctx, c, "ModifySubnetAttribute", func(t *tx) error {
		sn, err := t.subnet(sid)
		if err != nil {
			return err
		}
		if in.AssignIpv6AddressOnCreation == nil {
			return nil
		}
		if *in.AssignIpv6AddressOnCreation && !sn.IPv6CIDR.IsValid() {
			return model.Errorf(model.CodeInvalidParameterValue, "Invalid value 'true' for assignIpv6AddressOnCreation: subnet %s has no IPv6 CIDR block.", sid)
		}
		if !*in.AssignIpv6AddressOnCreation && sn.IPv6Native {
			return model.Errorf(model.CodeInvalidParameterValue, "Invalid value 'false' for assignIpv6AddressOnCreation: "+
				"subnet %s is IPv6-only, and its interfaces need IPv6 addresses.", sid)
		}
		sn.AssignIPv6OnCreation = *in.AssignIpv6AddressOnCreation
		return t.put(kindSubnet, string(sn.ID), sn)
	})
}
