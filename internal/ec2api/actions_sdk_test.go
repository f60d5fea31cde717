package ec2api

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"palisade.dev/palisade/internal/model"
)

// Round trips through aws-sdk-go-v2's EC2 client: what the SDK sends is
// what the handlers read, and what they answer is what the SDK decodes.

func TestSDKSecurityGroupFlow(t *testing.T) {
	ctx := context.Background()
	client := newAPIHarness(t).sdkClient()

	vpc, err := client.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16"), AmazonProvidedIpv6CidrBlock: aws.Bool(true),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeVpc, Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("lab")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	v := vpc.Vpc
	if v.State != types.VpcStatePending || aws.ToString(v.CidrBlock) != "10.0.0.0/16" || len(v.Ipv6CidrBlockAssociationSet) != 1 ||
		v.Ipv6CidrBlockAssociationSet[0].Ipv6CidrBlockState.State != types.VpcCidrBlockStateCodeAssociated || len(v.Tags) != 1 {
		t.Fatalf("vpc %+v", v)
	}
	vpcID := aws.ToString(v.VpcId)
	sn, err := client.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: v.VpcId, CidrBlock: aws.String("10.0.1.0/24"), AvailabilityZone: aws.String("us-east-1a")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(sn.Subnet.AvailableIpAddressCount) != 251 || aws.ToString(sn.Subnet.AvailabilityZoneId) != "use1-az1" || aws.ToString(sn.Subnet.VpcId) != vpcID {
		t.Fatalf("subnet %+v", sn.Subnet)
	}

	web := createGroup(t, client, "web", vpcID)
	db := createGroup(t, client, "db", vpcID)
	auth, err := client.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: &web, IpPermissions: []types.IpPermission{
		{IpProtocol: aws.String("6"), FromPort: aws.Int32(443), ToPort: aws.Int32(443),
			IpRanges:         []types.IpRange{{CidrIp: aws.String("192.0.2.0/24"), Description: aws.String("office")}, {CidrIp: aws.String("198.51.100.7/32")}},
			Ipv6Ranges:       []types.Ipv6Range{{CidrIpv6: aws.String("2001:db8::/32")}},
			UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: &db, Description: aws.String("db")}}},
		{IpProtocol: aws.String("-1"), UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: &web}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !aws.ToBool(auth.Return) || len(auth.SecurityGroupRules) != 5 {
		t.Fatalf("authorize: %+v", auth)
	}

	out, err := client.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{web}})
	if err != nil {
		t.Fatal(err)
	}
	g := out.SecurityGroups[0]
	if aws.ToString(g.GroupName) != "web" || aws.ToString(g.Description) != "the web group" || aws.ToString(g.VpcId) != vpcID ||
		aws.ToString(g.OwnerId) != apiAccount || aws.ToString(g.SecurityGroupArn) != "arn:aws:ec2:us-east-1:123456789012:security-group/"+web {
		t.Fatalf("group %+v", g)
	}
	if len(g.IpPermissions) != 2 {
		t.Fatalf("want 2 merged permissions, got %+v", g.IpPermissions)
	}
	https, all := g.IpPermissions[0], g.IpPermissions[1]
	if aws.ToString(https.IpProtocol) != "tcp" || aws.ToInt32(https.FromPort) != 443 || len(https.IpRanges) != 2 ||
		aws.ToString(https.IpRanges[0].Description) != "office" || aws.ToString(https.Ipv6Ranges[0].CidrIpv6) != "2001:db8::/32" ||
		aws.ToString(https.UserIdGroupPairs[0].GroupId) != db || aws.ToString(https.UserIdGroupPairs[0].UserId) != apiAccount {
		t.Fatalf("https permission %+v", https)
	}
	if aws.ToString(all.IpProtocol) != "-1" || all.FromPort != nil || all.ToPort != nil || aws.ToString(all.UserIdGroupPairs[0].GroupId) != web {
		t.Fatalf("all-traffic permission %+v", all)
	}
	if len(g.IpPermissionsEgress) != 1 || len(g.IpPermissionsEgress[0].Ipv6Ranges) != 1 {
		t.Fatalf("default egress of an IPv6 VPC %+v", g.IpPermissionsEgress)
	}

	rules, err := client.DescribeSecurityGroupRules(ctx, &ec2.DescribeSecurityGroupRulesInput{
		Filters: []types.Filter{{Name: aws.String("group-id"), Values: []string{web}}}})
	if err != nil {
		t.Fatal(err)
	}
	byPeer := map[string]types.SecurityGroupRule{}
	for _, r := range rules.SecurityGroupRules {
		switch {
		case r.ReferencedGroupInfo != nil:
			byPeer[aws.ToString(r.ReferencedGroupInfo.GroupId)] = r
		case r.CidrIpv4 != nil:
			byPeer[aws.ToString(r.CidrIpv4)] = r
		case r.CidrIpv6 != nil:
			byPeer[aws.ToString(r.CidrIpv6)] = r
		}
	}
	self := byPeer[web]
	if len(rules.SecurityGroupRules) != 7 || aws.ToInt32(self.FromPort) != -1 || aws.ToBool(self.IsEgress) ||
		aws.ToString(self.GroupOwnerId) != apiAccount || aws.ToString(self.SecurityGroupRuleArn) == "" {
		t.Fatalf("rules %+v", rules.SecurityGroupRules)
	}
	office := byPeer["192.0.2.0/24"]

	if _, err := client.ModifySecurityGroupRules(ctx, &ec2.ModifySecurityGroupRulesInput{GroupId: &web, SecurityGroupRules: []types.SecurityGroupRuleUpdate{{
		SecurityGroupRuleId: office.SecurityGroupRuleId,
		SecurityGroupRule: &types.SecurityGroupRuleRequest{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(8443), ToPort: aws.Int32(8443),
			CidrIpv4: aws.String("192.0.2.0/24"), Description: aws.String("office alt")},
	}}}); err != nil {
		t.Fatal(err)
	}
	rev, err := client.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: &web,
		SecurityGroupRuleIds: []string{aws.ToString(office.SecurityGroupRuleId)}})
	if err != nil {
		t.Fatal(err)
	}
	if r := rev.RevokedSecurityGroupRules; len(r) != 1 || aws.ToInt32(r[0].FromPort) != 8443 || aws.ToString(r[0].Description) != "office alt" {
		t.Fatalf("revoked %+v", rev.RevokedSecurityGroupRules)
	}

	_, err = client.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: &db})
	checkAPIError(t, err, model.CodeDependencyViolation, 400)
	if _, err := client.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: &web, IpPermissions: []types.IpPermission{
		{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(443), ToPort: aws.Int32(443), UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: &db}}},
	}}); err != nil {
		t.Fatal(err)
	}
	del, err := client.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: &db})
	if err != nil || !aws.ToBool(del.Return) || aws.ToString(del.GroupId) != db {
		t.Fatalf("delete: %+v, %v", del, err)
	}
}

func createGroup(t *testing.T, client *ec2.Client, name, vpc string) string {
	t.Helper()
	out, err := client.CreateSecurityGroup(context.Background(), &ec2.CreateSecurityGroupInput{
		GroupName: aws.String(name), Description: aws.String("the " + name + " group"), VpcId: aws.String(vpc)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.SecurityGroupArn) == "" {
		t.Fatalf("create %s: %+v", name, out)
	}
	return aws.ToString(out.GroupId)
}

func TestSDKErrorsFromHandlers(t *testing.T) {
	ctx := context.Background()
	client := newAPIHarness(t).sdkClient()
	web := createGroup(t, client, "web", "")
	cases := []struct {
		name   string
		call   func() error
		code   string
		status int
	}{
		{"dry run", func() error {
			_, err := client.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: &web, DryRun: aws.Bool(true)})
			return err
		}, model.CodeDryRunOperation, 412},
		{"unknown group", func() error {
			_, err := client.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{"sg-0123456789abcdef0"}})
			return err
		}, model.CodeInvalidGroupNotFound, 400},
		{"malformed group", func() error {
			_, err := client.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String("web")})
			return err
		}, model.CodeInvalidGroupIDMalformed, 400},
		{"duplicate rule", func() error {
			perm := types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
				IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}}}
			if _, err := client.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: &web, IpPermissions: []types.IpPermission{perm}}); err != nil {
				return err
			}
			_, err := client.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: &web, IpPermissions: []types.IpPermission{perm}})
			return err
		}, model.CodeInvalidPermissionDuplicate, 400},
		{"legacy and IpPermissions", func() error {
			_, err := client.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: &web, CidrIp: aws.String("10.0.0.0/8"),
				IpPermissions: []types.IpPermission{{IpProtocol: aws.String("-1"), IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}})
			return err
		}, model.CodeInvalidParameterCombination, 400},
		{"legacy on egress", func() error {
			_, err := client.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: &web, CidrIp: aws.String("10.0.0.0/8"), IpProtocol: aws.String("-1")})
			return err
		}, model.CodeUnknownParameter, 400},
		{"unsupported tenancy", func() error {
			_, err := client.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16"), InstanceTenancy: types.TenancyDedicated})
			return err
		}, model.CodeInvalidParameterValue, 400},
		{"unknown parameter", func() error {
			_, err := client.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16"), Ipv4IpamPoolId: aws.String("ipam-pool-1")})
			return err
		}, model.CodeUnknownParameter, 400},
		{"wrong tag resource type", func() error {
			_, err := client.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("x"), Description: aws.String("x"),
				TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeVpc, Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}}}})
			return err
		}, model.CodeInvalidParameterValue, 400},
		{"stale groups of a missing VPC", func() error {
			_, err := client.DescribeStaleSecurityGroups(ctx, &ec2.DescribeStaleSecurityGroupsInput{VpcId: aws.String("vpc-0123456789abcdef0")})
			return err
		}, model.CodeInvalidVpcIDNotFound, 400},
		{"references of a missing group", func() error {
			_, err := client.DescribeSecurityGroupReferences(ctx, &ec2.DescribeSecurityGroupReferencesInput{GroupId: []string{"sg-0123456789abcdef0"}})
			return err
		}, model.CodeInvalidGroupNotFound, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkAPIError(t, c.call(), c.code, c.status)
		})
	}
	_, err := client.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("WEB"), Description: aws.String("d")})
	checkAPIError(t, err, model.CodeInvalidGroupDuplicate, 400)
}

func TestSDKInstanceFlow(t *testing.T) {
	ctx := context.Background()
	client := newAPIHarness(t).sdkClient()
	web := createGroup(t, client, "web", "")
	run, err := client.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("lab"), MinCount: aws.Int32(2), MaxCount: aws.Int32(2),
		SecurityGroupIds: []string{web}, Placement: &types.Placement{AvailabilityZone: aws.String("us-east-1b")},
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: []types.Tag{{Key: aws.String("app"), Value: aws.String("web")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Instances) != 2 || aws.ToString(run.ReservationId) == "" || aws.ToString(run.OwnerId) != apiAccount {
		t.Fatalf("run: %+v", run)
	}
	first := run.Instances[0]
	if first.State.Name != types.InstanceStateNamePending || aws.ToString(first.Placement.AvailabilityZone) != "us-east-1b" ||
		aws.ToString(first.SecurityGroups[0].GroupId) != web || aws.ToString(first.SecurityGroups[0].GroupName) != "web" ||
		len(first.NetworkInterfaces) != 1 || aws.ToInt32(first.NetworkInterfaces[0].Attachment.DeviceIndex) != 0 ||
		first.LaunchTime == nil || !first.LaunchTime.Equal(apiClock) {
		t.Fatalf("instance: state %s, zone %s, group %s %s (want %s web), %d interfaces, launch %v (want %v)", first.State.Name,
			aws.ToString(first.Placement.AvailabilityZone), aws.ToString(first.SecurityGroups[0].GroupId), aws.ToString(first.SecurityGroups[0].GroupName),
			web, len(first.NetworkInterfaces), first.LaunchTime, apiClock)
	}
	ids := []string{aws.ToString(run.Instances[0].InstanceId), aws.ToString(run.Instances[1].InstanceId)}

	waiter := ec2.NewInstanceRunningWaiter(client, func(o *ec2.InstanceRunningWaiterOptions) { o.MinDelay, o.MaxDelay = time.Millisecond, time.Millisecond })
	if err := waiter.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids}, 5*time.Second); err != nil {
		t.Fatalf("instance-running waiter: %v", err)
	}
	desc, err := client.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("tag:app"), Values: []string{"web"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(desc.Reservations) != 1 || len(desc.Reservations[0].Instances) != 2 {
		t.Fatalf("describe: %+v", desc.Reservations)
	}
	inst := desc.Reservations[0].Instances[0]
	eni := inst.NetworkInterfaces[0]
	if inst.State.Name != types.InstanceStateNameRunning || aws.ToInt32(inst.State.Code) != 16 || inst.Architecture != types.ArchitectureValuesX8664 ||
		inst.RootDeviceType != types.DeviceTypeEbs || aws.ToString(inst.PrivateIpAddress) == "" ||
		aws.ToString(eni.PrivateIpAddress) != aws.ToString(inst.PrivateIpAddress) || eni.Attachment.Status != types.AttachmentStatusAttached ||
		!aws.ToBool(eni.Attachment.DeleteOnTermination) || aws.ToInt32(eni.ConnectionTrackingConfiguration.TcpEstablishedTimeout) != 432000 {
		t.Fatalf("described instance %+v", inst)
	}

	db := createGroup(t, client, "db", "")
	if _, err := client.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: &ids[0], Groups: []string{web, db}}); err != nil {
		t.Fatal(err)
	}
	attr, err := client.DescribeInstanceAttribute(ctx, &ec2.DescribeInstanceAttributeInput{InstanceId: &ids[0], Attribute: types.InstanceAttributeNameGroupSet})
	if err != nil || len(attr.Groups) != 2 || aws.ToString(attr.Groups[1].GroupId) != db {
		t.Fatalf("groupSet: %+v, %v", attr, err)
	}
	_, err = client.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: &db})
	checkAPIError(t, err, model.CodeDependencyViolation, 400)

	stop, err := client.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: ids[:1]})
	if err != nil || stop.StoppingInstances[0].CurrentState.Name != types.InstanceStateNameStopping ||
		stop.StoppingInstances[0].PreviousState.Name != types.InstanceStateNameRunning {
		t.Fatalf("stop: %+v, %v", stop, err)
	}
	if _, err := client.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: ids[:1]}); err != nil {
		t.Fatal(err)
	}
	term, err := client.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids})
	if err != nil || len(term.TerminatingInstances) != 2 || term.TerminatingInstances[0].CurrentState.Name != types.InstanceStateNameShuttingDown {
		t.Fatalf("terminate: %+v, %v", term, err)
	}
	gone := ec2.NewInstanceTerminatedWaiter(client, func(o *ec2.InstanceTerminatedWaiterOptions) {
		o.MinDelay, o.MaxDelay = time.Millisecond, time.Millisecond
	})
	if err := gone.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids}, 5*time.Second); err != nil {
		t.Fatalf("instance-terminated waiter: %v", err)
	}
	if _, err := client.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: &db}); err != nil {
		t.Fatalf("delete after terminate: %v", err)
	}
}

func TestSDKNetworkInterfaceFlow(t *testing.T) {
	ctx := context.Background()
	client := newAPIHarness(t).sdkClient()
	web := createGroup(t, client, "web", "")
	subnets, err := client.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{{Name: aws.String("availability-zone"), Values: []string{"us-east-1a"}}}})
	if err != nil || len(subnets.Subnets) != 1 || aws.ToInt32(subnets.Subnets[0].AvailableIpAddressCount) != 4091 {
		t.Fatalf("subnets: %+v, %v", subnets, err)
	}
	sn := subnets.Subnets[0].SubnetId
	created, err := client.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: sn, Groups: []string{web},
		ConnectionTrackingSpecification: &types.ConnectionTrackingSpecificationRequest{UdpTimeout: aws.Int32(45)}})
	if err != nil {
		t.Fatal(err)
	}
	n := created.NetworkInterface
	if n.Status != types.NetworkInterfaceStatusAvailable || aws.ToString(n.Groups[0].GroupId) != web || aws.ToString(created.ClientToken) == "" ||
		aws.ToInt32(n.ConnectionTrackingConfiguration.UdpTimeout) != 45 || aws.ToString(n.AvailabilityZoneId) != "use1-az1" {
		t.Fatalf("created %+v (token %q)", n, aws.ToString(created.ClientToken))
	}
	subnets, _ = client.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{aws.ToString(sn)}})
	if got := aws.ToInt32(subnets.Subnets[0].AvailableIpAddressCount); got != 4090 {
		t.Fatalf("available addresses after one interface: %d", got)
	}
	if _, err := client.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: n.NetworkInterfaceId,
		SourceDestCheck: &types.AttributeBooleanValue{Value: aws.Bool(false)}}); err != nil {
		t.Fatal(err)
	}
	attr, err := client.DescribeNetworkInterfaceAttribute(ctx, &ec2.DescribeNetworkInterfaceAttributeInput{NetworkInterfaceId: n.NetworkInterfaceId,
		Attribute: types.NetworkInterfaceAttributeSourceDestCheck})
	if err != nil || attr.SourceDestCheck == nil || aws.ToBool(attr.SourceDestCheck.Value) {
		t.Fatalf("sourceDestCheck: %+v, %v", attr, err)
	}
	groups := []string{web}
	for i := range 5 {
		groups = append(groups, createGroup(t, client, fmt.Sprint("g", i), ""))
	}
	_, err = client.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: n.NetworkInterfaceId, Groups: groups})
	checkAPIError(t, err, model.CodeGroupsPerInterfaceLimitExceeded, 400)
	if _, err := client.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: n.NetworkInterfaceId}); err != nil {
		t.Fatal(err)
	}
}

func TestSDKTagsPrefixListsAndAccount(t *testing.T) {
	ctx := context.Background()
	client := newAPIHarness(t).sdkClient()
	pl, err := client.CreateManagedPrefixList(ctx, &ec2.CreateManagedPrefixListInput{PrefixListName: aws.String("offices"), AddressFamily: aws.String("IPv4"),
		MaxEntries: aws.Int32(3), Entries: []types.AddPrefixListEntry{{Cidr: aws.String("192.0.2.0/24"), Description: aws.String("hq")}}})
	if err != nil || aws.ToInt64(pl.PrefixList.Version) != 1 || pl.PrefixList.State != types.PrefixListStateCreateComplete {
		t.Fatalf("create prefix list: %+v, %v", pl, err)
	}
	id := pl.PrefixList.PrefixListId
	mod, err := client.ModifyManagedPrefixList(ctx, &ec2.ModifyManagedPrefixListInput{PrefixListId: id, CurrentVersion: aws.Int64(1),
		AddEntries: []types.AddPrefixListEntry{{Cidr: aws.String("203.0.113.0/24")}}})
	if err != nil || aws.ToInt64(mod.PrefixList.Version) != 2 {
		t.Fatalf("modify: %+v, %v", mod, err)
	}
	entries, err := client.GetManagedPrefixListEntries(ctx, &ec2.GetManagedPrefixListEntriesInput{PrefixListId: id})
	if err != nil || len(entries.Entries) != 2 || aws.ToString(entries.Entries[0].Description) != "hq" {
		t.Fatalf("entries: %+v, %v", entries, err)
	}
	web := createGroup(t, client, "web", "")
	if _, err := client.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: &web, IpPermissions: []types.IpPermission{{
		IpProtocol: aws.String("tcp"), FromPort: aws.Int32(443), ToPort: aws.Int32(443), PrefixListIds: []types.PrefixListId{{PrefixListId: id}}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{web, aws.ToString(id)}, Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
		t.Fatal(err)
	}
	tags, err := client.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []types.Filter{{Name: aws.String("resource-id"), Values: []string{web}}}})
	if err != nil || len(tags.Tags) != 1 || tags.Tags[0].ResourceType != types.ResourceTypeSecurityGroup || aws.ToString(tags.Tags[0].Value) != "prod" {
		t.Fatalf("tags: %+v, %v", tags, err)
	}
	if _, err := client.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{web}, Tags: []types.Tag{{Key: aws.String("env")}}}); err != nil {
		t.Fatal(err)
	}
	// A list in use: the delete is accepted and fails afterwards.
	deleted, err := client.DeleteManagedPrefixList(ctx, &ec2.DeleteManagedPrefixListInput{PrefixListId: id})
	if err != nil || deleted.PrefixList.State != types.PrefixListStateDeleteInProgress {
		t.Fatalf("delete of a referenced list: %+v %v", deleted, err)
	}
	lists, err := client.DescribeManagedPrefixLists(ctx, &ec2.DescribeManagedPrefixListsInput{PrefixListIds: []string{aws.ToString(id)}})
	if err != nil || len(lists.PrefixLists) != 1 || lists.PrefixLists[0].State != types.PrefixListStateDeleteFailed {
		t.Fatalf("after a failed delete: %+v %v", lists, err)
	}

	attrs, err := client.DescribeAccountAttributes(ctx, &ec2.DescribeAccountAttributesInput{AttributeNames: []types.AccountAttributeName{types.AccountAttributeNameDefaultVpc}})
	if err != nil || len(attrs.AccountAttributes) != 1 || !strings.HasPrefix(aws.ToString(attrs.AccountAttributes[0].AttributeValues[0].AttributeValue), "vpc-") {
		t.Fatalf("account attributes: %+v, %v", attrs, err)
	}
	regions, err := client.DescribeRegions(ctx, &ec2.DescribeRegionsInput{AllRegions: aws.Bool(true)})
	if err != nil || len(regions.Regions) < 17 || aws.ToString(regions.Regions[0].Endpoint) == "" {
		t.Fatalf("regions: %+v, %v", regions, err)
	}
	zones, err := client.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{})
	if err != nil || len(zones.AvailabilityZones) != 3 || zones.AvailabilityZones[2].State != types.AvailabilityZoneStateAvailable {
		t.Fatalf("zones: %+v, %v", zones, err)
	}
}
