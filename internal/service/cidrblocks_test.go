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

// TestSecondaryIPv4Blocks: AWS's association restrictions relative to the
// primary block, the quota of five blocks, overlaps, subnets in a
// secondary block, and what may be disassociated.
func TestSecondaryIPv4Blocks(t *testing.T) {
	f := newFixture(t)
	v := f.vpc(bob, "10.1.0.0/16", false)
	for _, c := range []struct{ cidr, code, msg string }{
		{"172.16.0.0/16", "InvalidVpc.Range", "is restricted"},  // another RFC 1918 range
		{"192.168.0.0/20", "InvalidVpc.Range", "is restricted"}, // another RFC 1918 range
		{"198.19.0.0/16", "InvalidVpc.Range", "is restricted"},  // never a secondary block
		{"10.1.128.0/17", "InvalidVpc.Range", "conflicts"},      // inside the primary
		{"10.0.0.0/15", "InvalidVpc.Range", "is invalid"},       // larger than /16
		{"10.2.0.0/29", "InvalidVpc.Range", "is invalid"},       // smaller than /28
		{"10.2.0.0/33", model.CodeInvalidParameterValue, "not a valid CIDR"},
		{"", model.CodeMissingParameter, "cidrBlock"},
	} {
		_, _, err := f.AssociateVpcIPv4Block(ctx, bob, string(v.ID), c.cidr)
		wantErr(t, err, c.code, c.msg)
	}
	_, _, err := f.AssociateVpcIPv4Block(ctx, bob, "vpc-0000000000000dead", "10.2.0.0/16")
	wantErr(t, err, model.CodeInvalidVpcIDNotFound, "")

	var assocs []string
	for _, cidr := range []string{"10.2.0.0/16", "100.64.0.0/16", "203.0.113.0/24", "10.3.0.0/28"} {
		_, b, err := f.AssociateVpcIPv4Block(ctx, bob, string(v.ID), cidr)
		if err != nil || b.CIDR.String() != cidr || b.AssociationID == "" {
			t.Fatalf("associate %s: %+v %v", cidr, b, err)
		}
		assocs = append(assocs, b.AssociationID)
	}
	_, _, err = f.AssociateVpcIPv4Block(ctx, bob, string(v.ID), "10.4.0.0/16")
	wantErr(t, err, "CidrLimitExceeded", "maximum number of allowed CIDRs: 5")

	// A subnet in a secondary block holds it; the primary never goes.
	sn := f.subnet(bob, v.ID, "100.64.1.0/24", "", "")
	_, _, _, err = f.DisassociateVpcIPv4Block(ctx, bob, assocs[1])
	wantErr(t, err, "InvalidCidrBlock.InUse", string(sn.ID))
	_, _, _, err = f.DisassociateVpcIPv4Block(ctx, bob, "vpc-cidr-assoc-"+string(v.ID)[len("vpc-"):])
	wantErr(t, err, model.CodeOperationNotPermitted, "primary")
	_, _, found, err := f.DisassociateVpcIPv4Block(ctx, service.Caller{Account: "123456789012", Region: "us-east-1"}, assocs[0]) // another account's
	if err != nil || found {
		t.Fatalf("another account's association: found %v, %v", found, err)
	}
	vid, b, found, err := f.DisassociateVpcIPv4Block(ctx, bob, assocs[0])
	if err != nil || !found || vid != v.ID || b.CIDR.String() != "10.2.0.0/16" {
		t.Fatalf("disassociate 10.2.0.0/16: %s %+v %v %v", vid, b, found, err)
	}
	_, err = f.CreateSubnet(ctx, bob, service.CreateSubnetInput{VpcID: string(v.ID), CIDR: "10.2.1.0/24"})
	wantErr(t, err, "InvalidSubnet.Range", "")
	// A public primary takes no RFC 1918 block.
	pub := f.vpc(bob, "203.0.112.0/24", false)
	_, _, err = f.AssociateVpcIPv4Block(ctx, bob, string(pub.ID), "10.9.0.0/16")
	wantErr(t, err, "InvalidVpc.Range", "is restricted")
	if _, _, err := f.AssociateVpcIPv4Block(ctx, bob, string(pub.ID), "100.65.0.0/16"); err != nil {
		t.Fatal(err)
	}
}
