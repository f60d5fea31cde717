package ec2api

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

// Tags (and the free-form descriptions and names) are refused when they
// hold what an XML response cannot carry: stored, they came back as U+FFFD
// and could never be deleted by the value a client saw. Every way a tag
// enters is tried through aws-sdk-go-v2; a tag with tab and new lines makes
// the round trip and is deleted by the value read back.
func TestSDKTagsXMLCannotCarry(t *testing.T) {
	ctx := context.Background()
	client := newAPIHarness(t).sdkClient()
	sg := createGroup(t, client, "tagged", "")
	refused := func(what string, err error, msg string) {
		t.Helper()
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidParameterValue" || !strings.Contains(ae.ErrorMessage(), msg) {
			t.Errorf("%s: got %v, want InvalidParameterValue %q", what, err, msg)
		}
	}
	const xmlMsg = "cannot be carried in XML"
	tag := func(k, v string) []types.Tag { return []types.Tag{{Key: aws.String(k), Value: aws.String(v)}} }

	_, err := client.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{sg}, Tags: tag("k", "nul\x00value")})
	refused("CreateTags value", err, "Value for parameter Tag value is invalid. Character U+0000")
	_, err = client.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{sg}, Tags: tag("esc\x1b", "v")})
	refused("CreateTags key", err, "Tag key is invalid. Character U+001B")
	_, err = client.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{sg}, Tags: tag("k", "bad \xff utf-8")})
	refused("CreateTags invalid UTF-8", err, "not valid UTF-8")
	_, err = client.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{sg}, Tags: tag("k", "\x07")})
	refused("DeleteTags", err, xmlMsg)
	spec := func(rt types.ResourceType) []types.TagSpecification {
		return []types.TagSpecification{{ResourceType: rt, Tags: tag("k\x01", "v")}}
	}
	_, err = client.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("g2"), Description: aws.String("d"),
		TagSpecifications: spec(types.ResourceTypeSecurityGroup)})
	refused("CreateSecurityGroup", err, xmlMsg)
	_, err = client.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.9.0.0/16"), TagSpecifications: spec(types.ResourceTypeVpc)})
	refused("CreateVpc", err, xmlMsg)
	_, err = client.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("lab"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		TagSpecifications: spec(types.ResourceTypeInstance)})
	refused("RunInstances", err, xmlMsg)
	_, err = client.CreateManagedPrefixList(ctx, &ec2.CreateManagedPrefixListInput{PrefixListName: aws.String("pl"), MaxEntries: aws.Int32(1),
		AddressFamily: aws.String("IPv4"), TagSpecifications: spec(types.ResourceTypePrefixList)})
	refused("CreateManagedPrefixList tags", err, xmlMsg)
	_, err = client.CreateManagedPrefixList(ctx, &ec2.CreateManagedPrefixListInput{PrefixListName: aws.String("pl\x00"), MaxEntries: aws.Int32(1),
		AddressFamily: aws.String("IPv4")})
	refused("CreateManagedPrefixList name", err, xmlMsg)
	_, err = client.CreateManagedPrefixList(ctx, &ec2.CreateManagedPrefixListInput{PrefixListName: aws.String("pl"), MaxEntries: aws.Int32(1),
		AddressFamily: aws.String("IPv4"), Entries: []types.AddPrefixListEntry{{Cidr: aws.String("10.0.0.0/8"), Description: aws.String("\x02")}}})
	refused("CreateManagedPrefixList entry", err, xmlMsg)

	subnets, err := client.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{})
	if err != nil || len(subnets.Subnets) == 0 {
		t.Fatalf("%+v %v", subnets, err)
	}
	_, err = client.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: subnets.Subnets[0].SubnetId, Description: aws.String("\x03")})
	refused("CreateNetworkInterface description", err, "Value for parameter description is invalid. Character U+0003")
	_, err = client.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: subnets.Subnets[0].SubnetId, TagSpecifications: spec(types.ResourceTypeNetworkInterface)})
	refused("CreateNetworkInterface tags", err, xmlMsg)

	got, err := client.DescribeTags(ctx, &ec2.DescribeTagsInput{})
	if err != nil || len(got.Tags) != 0 {
		t.Fatalf("refused tags were stored: %+v %v", got, err)
	}

	const odd = "tab\there\r\nnext line \U0001F600"
	if _, err := client.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{sg}, Tags: tag(odd, odd)}); err != nil {
		t.Fatal(err)
	}
	got, err = client.DescribeTags(ctx, &ec2.DescribeTagsInput{})
	if err != nil || len(got.Tags) != 1 || aws.ToString(got.Tags[0].Key) != odd || aws.ToString(got.Tags[0].Value) != odd {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	if _, err := client.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{sg}, Tags: []types.Tag{{Key: got.Tags[0].Key, Value: got.Tags[0].Value}}}); err != nil {
		t.Fatal(err)
	}
	if got, err = client.DescribeTags(ctx, &ec2.DescribeTagsInput{}); err != nil || len(got.Tags) != 0 {
		t.Fatalf("deleted by the value read back: %+v %v", got, err)
	}
}
