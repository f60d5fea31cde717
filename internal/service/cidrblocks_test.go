package service_test

import (
	"testing"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
)

func TestIPv6BlocksAfterCreation(t *testing.T) {
	f := newFixture(t)
	v := f.vpc(bob, "10.1.0.0/16", false)
	sn := f.subnet(bob, v.ID, "10.1.1.0/24", "", "")
	_, err := f.AssociateSubnetIPv6Block(ctx, bob, string(sn.ID), "fd00::/64")
	wantErr(t, err, "InvalidSubnet.Range", "not inside the VPC's IPv6 block")

	got, err := f.AssociateVpcIPv6Block(ctx, bob, string(v.ID))
	if err != nil || !got.IPv6CIDR.IsValid() || got.IPv6CIDR.Bits() != 56 {
		t.Fatalf("associate a /56: %+v %v", got, err)
	}
	_, err = f.AssociateVpcIPv6Block(ctx, bob, string(v.ID))
	wantErr(t, err, "CidrLimitExceeded", "")
	v.IPv6CIDR = got.IPv6CIDR
	withV6, err := f.AssociateSubnetIPv6Block(ctx, bob, string(sn.ID), subnet64(v, 2))
	if err != nil || withV6.IPv6CIDR.String() != subnet64(v, 2) {
		t.Fatalf("associate a /64: %+v %v", withV6, err)
	}
	n := f.eni(bob, service.CreateNetworkInterfaceInput{SubnetID: string(sn.ID), IPv6AddressCount: 1})
	if len(n.IPv6s) != 1 || !withV6.IPv6CIDR.Contains(n.IPv6s[0]) {
		t.Fatalf("interface in the subnet: %v", n.IPv6s)
	}
	// In use: neither block goes.
	_, err = f.DisassociateSubnetIPv6Block(ctx, bob, string(sn.ID))
	wantErr(t, err, model.CodeDependencyViolation, string(n.ID))
	_, err = f.DisassociateVpcIPv6Block(ctx, bob, string(v.ID))
	wantErr(t, err, model.CodeDependencyViolation, string(sn.ID))
	if err := f.DeleteNetworkInterface(ctx, bob, string(n.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.DisassociateSubnetIPv6Block(ctx, bob, string(sn.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.DisassociateVpcIPv6Block(ctx, bob, string(v.ID)); err != nil {
		t.Fatal(err)
	}
	_, err = f.DisassociateVpcIPv6Block(ctx, bob, string(v.ID))
	wantErr(t, err, "InvalidVpcCidrBlockAssociationID.NotFound", "")
	_, err = f.CreateNetworkInterface(ctx, bob, service.CreateNetworkInterfaceInput{SubnetID: string(sn.ID), IPv6AddressCount: 1})
	wantErr(t, err, model.CodeInvalidParameterValue, "no IPv6 CIDR block")
}
