package service_test

import (
	"strings"
	"testing"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
)

func TestSubnetsAfterCreation(t *testing.T) {
	f := newFixture(t)
	v := f.vpc(bob, "10.1.0.0/16", true)
	sn, err := f.CreateSubnet(ctx, bob, service.CreateSubnetInput{VpcID: string(v.ID), CIDR: "10.1.1.0/24", IPv6CIDR: subnet64(v, 3), ZoneID: "use1-az3"})
	if err != nil || sn.Zone != "us-east-1c" {
		t.Fatalf("by zone ID: %+v %v", sn, err)
	}
	// RunInstances' Placement.AvailabilityZoneId picks the zone's default subnet.
	one := int32(1)
	res, err := f.RunInstances(ctx, bob, service.RunInstancesInput{ImageID: "ami-12345678", MinCount: &one, MaxCount: &one, ZoneID: "use1-az3"})
	if err != nil || res.Instances[0].Zone != "us-east-1c" {
		t.Fatalf("launch by zone ID: %+v %v", res, err)
	}
	_, err = f.RunInstances(ctx, bob, service.RunInstancesInput{ImageID: "ami-12345678", MinCount: &one, MaxCount: &one, ZoneID: "use1-az7"})
	wantErr(t, err, model.CodeInvalidParameterValue, "availabilityZoneId")
	// AssignIpv6AddressOnCreation: a new interface that asks for no IPv6
	// address gets one.
	if err := f.ModifySubnetAttribute(ctx, bob, service.ModifySubnetAttributeInput{SubnetID: string(sn.ID), AssignIpv6AddressOnCreation: pbool(true)}); err != nil {
		t.Fatal(err)
	}
	if n := f.eni(bob, service.CreateNetworkInterfaceInput{SubnetID: string(sn.ID)}); len(n.IPv6s) != 1 {
		t.Errorf("interface in an assign-on-creation subnet: %v", n.IPv6s)
	}
	// The default subnet of a zone comes back in the lowest free /20.
	def := f.defaultSubnet(bob, "us-east-1b")
	if err := f.DeleteSubnet(ctx, bob, string(def.ID)); err != nil {
		t.Fatal(err)
	}
	again, err := f.CreateDefaultSubnet(ctx, bob, "", "use1-az2")
	if err != nil || again.Zone != "us-east-1b" || again.CIDR.String() != "172.31.16.0/20" || !again.DefaultForAz {
		t.Fatalf("default subnet again: %+v %v", again, err)
	}

	noV6 := string(f.defaultSubnet(bob, "us-east-1a").ID)
	for _, c := range []struct {
		name string
		err  error
		code string
		msg  string
	}{
		{"default subnet exists", func() error { _, err := f.CreateDefaultSubnet(ctx, bob, "us-east-1a", ""); return err }(), "DefaultSubnetAlreadyExistsInAvailabilityZone", "us-east-1a"},
		{"no zone", func() error { _, err := f.CreateDefaultSubnet(ctx, bob, "", ""); return err }(), model.CodeMissingParameter, "availabilityZone"},
		{"unknown zone ID", func() error { _, err := f.CreateDefaultSubnet(ctx, bob, "", "use1-az9"); return err }(), model.CodeInvalidParameterValue, "availabilityZoneId"},
		{"zone and another zone's ID", func() error {
			_, err := f.CreateSubnet(ctx, bob, service.CreateSubnetInput{VpcID: string(v.ID), CIDR: "10.1.2.0/24", Zone: "us-east-1a", ZoneID: "use1-az2"})
			return err
		}(), model.CodeInvalidParameterCombination, ""},
		{"IPv6 on creation without IPv6", f.ModifySubnetAttribute(ctx, bob, service.ModifySubnetAttributeInput{SubnetID: noV6, AssignIpv6AddressOnCreation: pbool(true)}), model.CodeInvalidParameterValue, "no IPv6 CIDR block"},
		{"public IPv4", f.ModifySubnetAttribute(ctx, bob, service.ModifySubnetAttributeInput{SubnetID: noV6, MapPublicIPOnLaunch: pbool(true)}), model.CodeInvalidParameterValue, "MapPublicIpOnLaunch"},
		{"nothing to modify", f.ModifySubnetAttribute(ctx, bob, service.ModifySubnetAttributeInput{SubnetID: noV6}), model.CodeMissingParameter, ""},
	} {
		if model.CodeOf(c.err) != c.code || !strings.Contains(errText(c.err), c.msg) {
			t.Errorf("%s: %v, want %s %q", c.name, c.err, c.code, c.msg)
		}
	}
}
