package e2e

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"palisade.dev/palisade/internal/testutil"
)

// TestClientsSecondaryIPv4Blocks: a VPC's secondary IPv4 blocks through
// the aws CLI, boto3 and aws-sdk-go-v2: associated, shown by describe-vpcs,
// a subnet created in one, AWS's errors (a restricted range, an overlap,
// the quota of five, a block in use, the primary block), disassociated.
func TestClientsSecondaryIPv4Blocks(t *testing.T) {
	testutil.RequireCommand(t, awsCLI)
	t.Parallel()
	s := startServer(t, t.TempDir())
	var vpc struct{ Vpc struct{ VpcId string } }
	cliJSON(t, s, &vpc, "ec2", "create-vpc", "--cidr-block", "10.0.0.0/16")
	id := vpc.Vpc.VpcId

	// The aws CLI.
	type assoc struct {
		AssociationId, CidrBlock string
		CidrBlockState           struct{ State string }
	}
	var added struct {
		VpcId                string
		CidrBlockAssociation assoc
	}
	cliJSON(t, s, &added, "ec2", "associate-vpc-cidr-block", "--vpc-id", id, "--cidr-block", "10.1.0.0/16")
	if added.VpcId != id || added.CidrBlockAssociation.CidrBlock != "10.1.0.0/16" ||
		!strings.HasPrefix(added.CidrBlockAssociation.AssociationId, "vpc-cidr-assoc-") ||
		added.CidrBlockAssociation.CidrBlockState.State != "associating" {
		t.Fatalf("associate-vpc-cidr-block: %+v", added)
	}
	var described struct {
		Vpcs []struct{ CidrBlockAssociationSet []assoc }
	}
	cliJSON(t, s, &described, "ec2", "describe-vpcs", "--filters", "Name=cidr-block-association.cidr-block,Values=10.1.0.0/16")
	if len(described.Vpcs) != 1 || len(described.Vpcs[0].CidrBlockAssociationSet) != 2 {
		t.Fatalf("describe-vpcs by the secondary block: %+v", described)
	}
	var subnet struct {
		Subnet struct{ SubnetId, CidrBlock string }
	}
	cliJSON(t, s, &subnet, "ec2", "create-subnet", "--vpc-id", id, "--cidr-block", "10.1.7.0/24")
	for args, code := range map[string]string{
		"--cidr-block 192.168.0.0/16": "(InvalidVpc.Range)", // another RFC 1918 range
		"--cidr-block 10.1.128.0/20":  "(InvalidVpc.Range)", // overlaps the new block
		"--cidr-block 10.2.0.0/12":    "(InvalidVpc.Range)", // larger than /16
		"--cidr-block 10.2.0.0":       "(InvalidParameterValue)",
	} {
		if stderr := cliFails(t, s, append([]string{"ec2", "associate-vpc-cidr-block", "--vpc-id", id}, strings.Fields(args)...)...); !strings.Contains(stderr, code) {
			t.Errorf("associate-vpc-cidr-block %s: %s, want %s", args, stderr, code)
		}
	}
	if stderr := cliFails(t, s, "ec2", "disassociate-vpc-cidr-block", "--association-id", added.CidrBlockAssociation.AssociationId); !strings.Contains(stderr, "(InvalidCidrBlock.InUse)") {
		t.Errorf("disassociating a block a subnet lies in: %s", stderr)
	}

	// boto3: up to the quota, then the primary and a gone association.
	var got map[string]struct {
		Code, Message        string
		CidrBlockAssociation assoc
		Vpcs                 []struct{ CidrBlockAssociationSet []assoc }
	}
	boto3(t, s, `
for i, cidr in enumerate(["100.64.0.0/16", "203.0.113.0/24", "10.3.0.0/28", "10.4.0.0/16"]):
    call("add%d" % i, "associate_vpc_cidr_block", VpcId=sys.argv[2], CidrBlock=cidr)
call("primary", "disassociate_vpc_cidr_block", AssociationId=sys.argv[3])
call("gone", "disassociate_vpc_cidr_block", AssociationId="vpc-cidr-assoc-0123456789abcdef0")
call("described", "describe_vpcs", VpcIds=[sys.argv[2]])
`, &got, id, "vpc-cidr-assoc-"+strings.TrimPrefix(id, "vpc-"))
	for i := range 3 {
		if k := "add" + string(rune('0'+i)); got[k].CidrBlockAssociation.CidrBlockState.State != "associating" {
			t.Errorf("boto3 %s: %+v", k, got[k])
		}
	}
	if got["add3"].Code != "CidrLimitExceeded" || got["primary"].Code != "OperationNotPermitted" ||
		got["gone"].Code != "InvalidVpcCidrBlockAssociationID.NotFound" ||
		len(got["described"].Vpcs) != 1 || len(got["described"].Vpcs[0].CidrBlockAssociationSet) != 5 {
		t.Errorf("boto3: %+v", got)
	}

	// aws-sdk-go-v2: the subnet goes, then its block.
	c := s.ec2(s.adminKey())
	if _, err := c.DeleteSubnet(t.Context(), &ec2.DeleteSubnetInput{SubnetId: aws.String(subnet.Subnet.SubnetId)}); err != nil {
		t.Fatal(err)
	}
	out, err := c.DisassociateVpcCidrBlock(t.Context(), &ec2.DisassociateVpcCidrBlockInput{AssociationId: aws.String(added.CidrBlockAssociation.AssociationId)})
	if err != nil || out.CidrBlockAssociation == nil || aws.ToString(out.CidrBlockAssociation.CidrBlock) != "10.1.0.0/16" ||
		out.CidrBlockAssociation.CidrBlockState.State != "disassociating" || aws.ToString(out.VpcId) != id {
		t.Fatalf("SDK disassociate: %+v %v", out, err)
	}
	_, err = c.AssociateVpcCidrBlock(t.Context(), &ec2.AssociateVpcCidrBlockInput{VpcId: aws.String(id), CidrBlock: aws.String("172.16.0.0/16")})
	wantCode(t, err, "InvalidVpc.Range")
	_, err = c.CreateSubnet(t.Context(), &ec2.CreateSubnetInput{VpcId: aws.String(id), CidrBlock: aws.String("10.1.7.0/24")})
	wantCode(t, err, "InvalidSubnet.Range")
}

// TestClientsIPv6OnlySubnets: CreateSubnet --ipv6-native through the aws
// CLI, boto3 and aws-sdk-go-v2: no IPv4 block, interfaces with IPv6 only,
// AWS's errors for an IPv4 block or address asked for in it.
func TestClientsIPv6OnlySubnets(t *testing.T) {
	testutil.RequireCommand(t, awsCLI)
	t.Parallel()
	s := startServer(t, t.TempDir())
	id, first := cliIPv6VPC(t, s)
	block := first.String()

	// The aws CLI.
	var sn struct {
		Subnet struct {
			SubnetId, CidrBlock                     string
			Ipv6Native, AssignIpv6AddressOnCreation bool
		}
	}
	cliJSON(t, s, &sn, "ec2", "create-subnet", "--vpc-id", id, "--ipv6-native", "--ipv6-cidr-block", block)
	if !sn.Subnet.Ipv6Native || sn.Subnet.CidrBlock != "" || !sn.Subnet.AssignIpv6AddressOnCreation {
		t.Fatalf("create-subnet --ipv6-native: %+v", sn)
	}
	if stderr := cliFails(t, s, "ec2", "create-subnet", "--vpc-id", id, "--ipv6-native", "--ipv6-cidr-block", block, "--cidr-block", "10.0.1.0/24"); !strings.Contains(stderr, "(InvalidParameterCombination)") {
		t.Errorf("an IPv6-only subnet with an IPv4 block: %s", stderr)
	}
	if stderr := cliFails(t, s, "ec2", "create-subnet", "--vpc-id", id, "--ipv6-native"); !strings.Contains(stderr, "(MissingParameter)") {
		t.Errorf("an IPv6-only subnet without an IPv6 block: %s", stderr)
	}
	var subnets struct{ Subnets []struct{ SubnetId string } }
	cliJSON(t, s, &subnets, "ec2", "describe-subnets", "--filters", "Name=ipv6-native,Values=true")
	if len(subnets.Subnets) != 1 || subnets.Subnets[0].SubnetId != sn.Subnet.SubnetId {
		t.Errorf("describe-subnets ipv6-native=true: %+v", subnets)
	}

	// boto3: an interface has IPv6 only; an IPv4 address is refused.
	var got map[string]struct {
		Code, Message    string
		NetworkInterface struct {
			PrivateIpAddress   string
			PrivateIpAddresses []any
			Ipv6Addresses      []struct{ Ipv6Address string }
		}
	}
	boto3(t, s, `
call("eni", "create_network_interface", SubnetId=sys.argv[2])
call("v4", "create_network_interface", SubnetId=sys.argv[2], PrivateIpAddress="10.0.1.9")
call("secondary", "create_network_interface", SubnetId=sys.argv[2], SecondaryPrivateIpAddressCount=1)
`, &got, sn.Subnet.SubnetId)
	if n := got["eni"].NetworkInterface; got["eni"].Code != "" || n.PrivateIpAddress != "" || len(n.PrivateIpAddresses) != 0 || len(n.Ipv6Addresses) != 1 {
		t.Errorf("boto3 create_network_interface: %+v", got["eni"])
	}
	if got["v4"].Code != "InvalidParameterValue" || got["secondary"].Code != "InvalidParameterValue" {
		t.Errorf("boto3 IPv4 in an IPv6-only subnet: %+v %+v", got["v4"], got["secondary"])
	}

	// aws-sdk-go-v2: an instance with two IPv6 addresses and no IPv4.
	c := s.ec2(s.adminKey())
	r, err := c.RunInstances(t.Context(), &ec2.RunInstancesInput{ImageId: aws.String("lab"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		SubnetId: aws.String(sn.Subnet.SubnetId), Ipv6AddressCount: aws.Int32(2)})
	if err != nil || len(r.Instances) != 1 || r.Instances[0].PrivateIpAddress != nil || len(r.Instances[0].NetworkInterfaces[0].Ipv6Addresses) != 2 {
		t.Fatalf("SDK run-instances: %+v %v", r, err)
	}
	_, err = c.RunInstances(t.Context(), &ec2.RunInstancesInput{ImageId: aws.String("lab"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		SubnetId: aws.String(sn.Subnet.SubnetId), PrivateIpAddress: aws.String("10.0.1.9")})
	wantCode(t, err, "InvalidParameterValue")
	_, err = c.ModifySubnetAttribute(t.Context(), &ec2.ModifySubnetAttributeInput{SubnetId: aws.String(sn.Subnet.SubnetId),
		AssignIpv6AddressOnCreation: &types.AttributeBooleanValue{Value: aws.Bool(false)}})
	wantCode(t, err, "InvalidParameterValue")
}
