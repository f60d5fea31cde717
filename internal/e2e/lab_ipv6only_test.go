package e2e

import (
	"net/netip"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// labIPv6Only: an instance in an IPv6-only subnet (Ipv6Native) has no
// IPv4 address and two IPv6 ones; the lab wires it, both addresses answer
// what its group allows, and the group still blocks the rest.
func labIPv6Only(t *testing.T, l *labServer) {
	v := newVPC(t, l.ec2, true)
	only := nextSlash64(v.IPv6) // the next /64 of the VPC
	sn, err := l.ec2.CreateSubnet(t.Context(), &ec2.CreateSubnetInput{VpcId: aws.String(v.ID), Ipv6Native: aws.Bool(true),
		Ipv6CidrBlock: aws.String(only.String())})
	if err != nil {
		t.Fatal(err)
	}
	g := newGroup(t, l.ec2, v.ID, tcp(22, officeIP6+"/128"))
	r, err := l.ec2.RunInstances(t.Context(), &ec2.RunInstancesInput{ImageId: aws.String("lab"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		SubnetId: sn.Subnet.SubnetId, SecurityGroupIds: []string{g}, Ipv6AddressCount: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	inst := r.Instances[0]
	id := aws.ToString(inst.InstanceId)
	if inst.PrivateIpAddress != nil || len(inst.NetworkInterfaces) != 1 || len(inst.NetworkInterfaces[0].Ipv6Addresses) != 2 {
		t.Fatalf("run-instances in an IPv6-only subnet: %+v", inst)
	}
	waitRunning(t, l.ec2, id)
	a := l.addHost(t, "us-east-1", v.ID, officeIP, officeIP6)
	b := l.addHost(t, "us-east-1", v.ID, strangerIP, strangerIP6)
	waitNS(t, a, b) // the instance is wired: it runs (waitNS looks for an IPv4 route)
	serveTCP(t, id, 22)
	for _, x := range inst.NetworkInterfaces[0].Ipv6Addresses {
		ip := netip.MustParseAddr(aws.ToString(x.Ipv6Address))
		if !only.Contains(ip) {
			t.Errorf("address %s outside the subnet %s", ip, only)
		}
		eventuallyTCP(t, a, port(ip, 22), connected)
		expectTCP(t, b, port(ip, 22), timedOut)
	}
}

// labSecondaryBlock: an instance in a subnet of a VPC's secondary IPv4
// block is wired and enforced like one in the primary block.
func labSecondaryBlock(t *testing.T, l *labServer) {
	v := newVPC(t, l.ec2, false)
	if _, err := l.ec2.AssociateVpcCidrBlock(t.Context(), &ec2.AssociateVpcCidrBlockInput{VpcId: aws.String(v.ID),
		CidrBlock: aws.String("100.64.0.0/16")}); err != nil {
		t.Fatal(err)
	}
	sn, err := l.ec2.CreateSubnet(t.Context(), &ec2.CreateSubnetInput{VpcId: aws.String(v.ID), CidrBlock: aws.String("100.64.1.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	g := newGroup(t, l.ec2, v.ID, tcp(22, officeIP+"/32"))
	i := launch(t, l.ec2, labVPC{ID: v.ID, Subnet: aws.ToString(sn.Subnet.SubnetId)}, g)
	if !netip.MustParsePrefix("100.64.1.0/24").Contains(i.IP) {
		t.Fatalf("instance address %s, want one of the secondary block's subnet", i.IP)
	}
	a := l.addHost(t, "us-east-1", v.ID, officeIP, "")
	b := l.addHost(t, "us-east-1", v.ID, strangerIP, "")
	waitNS(t, i.ID, a, b)
	serveTCP(t, i.ID, 22)
	eventuallyTCP(t, a, port(i.IP, 22), connected)
	expectTCP(t, b, port(i.IP, 22), timedOut)
}

// nextSlash64 is the /64 after p (a /64).
func nextSlash64(p netip.Prefix) netip.Prefix {
	b := p.Masked().Addr().As16()
	for i := 7; i >= 0; i-- {
		b[i]++
		if b[i] != 0 {
			break
		}
	}
	return netip.PrefixFrom(netip.AddrFrom16(b), 64)
}
