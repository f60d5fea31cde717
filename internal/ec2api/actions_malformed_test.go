package ec2api

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Nothing answers 5xx for bad input: every malformed request is the
// client's error.

func TestMalformedRequestsAre4xx(t *testing.T) {
	h := newAPIHarness(t)
	web := first(t, h.ok("CreateSecurityGroup", "GroupName", "web", "GroupDescription", "web"), "groupId")
	cases := []struct {
		code   string
		action string
		params []string
	}{
		{"InvalidParameterValue", "AuthorizeSecurityGroupIngress", []string{"GroupId", web, "IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "x", "IpPermissions.1.ToPort", "22"}},
		{"InvalidParameterValue", "AuthorizeSecurityGroupIngress", []string{"GroupId", web, "IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "99999999999", "IpPermissions.1.ToPort", "22"}},
		{"InvalidPermission.Malformed", "AuthorizeSecurityGroupIngress", []string{"GroupId", web, "IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "70000", "IpPermissions.1.ToPort", "70000", "IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8"}},
		{"InvalidParameterValue", "AuthorizeSecurityGroupIngress", []string{"GroupId", web, "IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "1", "IpPermissions.1.ToPort", "2", "IpPermissions.1.IpRanges.1.CidrIp", "::/0"}},
		{"InvalidParameterValue", "AuthorizeSecurityGroupIngress", []string{"GroupId", web, "IpPermissions.1.IpProtocol", "all", "IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0"}},
		{"InvalidParameterValue", "AuthorizeSecurityGroupIngress", []string{"GroupId", web, "IpPermissions.1.IpProtocol", "", "IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0"}},
		{"InvalidParameterValue", "AuthorizeSecurityGroupIngress", []string{"GroupId", web, "IpPermissions.99999.IpProtocol", "-1"}},
		{"MissingParameter", "AuthorizeSecurityGroupIngress", []string{"GroupId", web, "IpPermissions.1.IpProtocol", "-1"}},
		{"MissingParameter", "AuthorizeSecurityGroupIngress", []string{"GroupId", web}},
		{"MissingParameter", "AuthorizeSecurityGroupEgress", []string{"IpPermissions.1.IpProtocol", "-1", "IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0"}},
		{"UnknownParameter", "AuthorizeSecurityGroupEgress", []string{"GroupName", "web", "IpPermissions.1.IpProtocol", "-1", "IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0"}},
		{"InvalidVpcPeeringConnectionID.NotFound", "AuthorizeSecurityGroupIngress", []string{"GroupId", web, "IpPermissions.1.IpProtocol", "-1", "IpPermissions.1.Groups.1.GroupId", web, "IpPermissions.1.Groups.1.VpcPeeringConnectionId", "pcx-1"}},
		{"InvalidGroup.NotFound", "AuthorizeSecurityGroupIngress", []string{"GroupId", "sg-0123456789abcdef0"}},
		{"UnknownParameter", "AuthorizeSecurityGroupIngress", []string{"GroupId", web, "IpPermissions.0.IpProtocol", "-1"}},
		{"InvalidGroup.NotFound", "AuthorizeSecurityGroupIngress", []string{"GroupId", "sg-123abc", "IpProtocol", "-1", "CidrIp", "0.0.0.0/0"}},
		{"InvalidGroupId.Malformed", "DeleteSecurityGroup", []string{"GroupId", "web"}},
		{"MissingParameter", "DeleteSecurityGroup", nil},
		{"InvalidGroupId.Malformed", "DescribeSecurityGroups", []string{"GroupId.1", "nope"}},
		{"InvalidParameterValue", "DescribeSecurityGroups", []string{"MaxResults", "1"}},
		{"InvalidParameterValue", "DescribeSecurityGroups", []string{"MaxResults", "many"}},
		{"InvalidParameterValue", "DescribeSecurityGroups", []string{"NextToken", "%%%"}},
		{"InvalidParameterValue", "DescribeSecurityGroups", []string{"Filter.1.Name", "color", "Filter.1.Value.1", "blue"}},
		{"InvalidParameterValue", "DescribeSecurityGroups", []string{"Filter.1.Value.1", "blue"}},
		{"InvalidParameterValue", "DescribeSecurityGroups", []string{"DryRun", "maybe"}},
		{"InvalidGroupId.Malformed", "DescribeSecurityGroupRules", []string{"Filter.1.Name", "group-id", "Filter.1.Value.1", "foobar"}},
		{"InvalidSecurityGroupRuleId.Malformed", "DescribeSecurityGroupRules", []string{"SecurityGroupRuleId.1", "rule"}},
		{"MissingParameter", "DescribeSecurityGroupReferences", nil},
		{"MissingParameter", "DescribeStaleSecurityGroups", nil},
		{"InvalidVpcID.Malformed", "DescribeStaleSecurityGroups", []string{"VpcId", "default"}},
		{"MissingParameter", "CreateSecurityGroup", []string{"GroupName", "x"}},
		{"InvalidParameterValue", "CreateSecurityGroup", []string{"GroupName", "sg-x", "GroupDescription", "x"}},
		{"InvalidParameterValue", "CreateSecurityGroup", []string{"GroupName", "x", "GroupDescription", "x", "TagSpecification.1.ResourceType", "security-group", "TagSpecification.1.Tag.1.Key", "aws:x"}},
		{"InvalidParameterValue", "CreateSecurityGroup", []string{"GroupName", "x", "GroupDescription", "x", "TagSpecification.1.Tag.1.Key", "k"}},
		{"MissingParameter", "ModifySecurityGroupRules", []string{"GroupId", web}},
		{"InvalidParameterValue", "ModifySecurityGroupRules", []string{"GroupId", web, "SecurityGroupRule.1.SecurityGroupRuleId", "sgr-0123456789abcdef0", "SecurityGroupRule.1.SecurityGroupRule.FromPort", "--1"}},
		{"MissingParameter", "RevokeSecurityGroupIngress", []string{"GroupId", web}},
		{"InvalidParameterCombination", "RevokeSecurityGroupIngress", []string{"GroupId", web, "SecurityGroupRuleId.1", "sgr-0123456789abcdef0", "IpPermissions.1.IpProtocol", "-1", "IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0"}},
		{"InvalidSecurityGroupRuleId.NotFound", "RevokeSecurityGroupEgress", []string{"GroupId", web, "SecurityGroupRuleId.1", "sgr-0123456789abcdef0"}},
		{"MissingParameter", "UpdateSecurityGroupRuleDescriptionsIngress", []string{"GroupId", web}},
		{"MissingParameter", "CreateVpc", nil},
		{"InvalidParameterValue", "CreateVpc", []string{"CidrBlock", "10.0.0.0/33"}},
		{"InvalidParameterValue", "CreateVpc", []string{"CidrBlock", "10.0.0.0/16", "AmazonProvidedIpv6CidrBlock", "yes"}},
		{"InvalidVpc.Range", "CreateVpc", []string{"CidrBlock", "10.0.0.0/8"}},
		{"MissingParameter", "DeleteVpc", nil},
		{"InvalidVpcID.Malformed", "DeleteVpc", []string{"VpcId", "vpc-XYZ"}},
		{"InvalidVpcID.NotFound", "DescribeVpcs", []string{"VpcId.1", "vpc-0123456789abcdef0"}},
		{"MissingParameter", "CreateSubnet", []string{"CidrBlock", "10.0.0.0/24"}},
		{"InvalidSubnetID.Malformed", "DescribeSubnets", []string{"SubnetId.1", "subnet"}},
		{"MissingParameter", "DeleteSubnet", nil},
		{"DefaultVpcAlreadyExists", "CreateDefaultVpc", nil},
		{"UnknownParameter", "CreateDefaultVpc", []string{"CidrBlock", "10.0.0.0/16"}},
	}
	for _, c := range cases {
		t.Run(c.action+" "+strings.Join(c.params, " "), func(t *testing.T) {
			h.fails(c.code, c.action, c.params...)
		})
	}
}

// TestNoActionAnswers5xx sends every served action a set of hostile
// parameter lists: none may be answered with a server error.
func TestNoActionAnswers5xx(t *testing.T) {
	h := newAPIHarness(t)
	hostile := []string{
		"",
		"DryRun=true",
		"MaxResults=-1&NextToken=x",
		"GroupId=sg-&GroupName=&VpcId=vpc-&SubnetId=&InstanceId=i-",
		"GroupId.1=%00&VpcId.1=%FF&SubnetId.1=x&InstanceId.1=&NetworkInterfaceId.1=eni-zz",
		"Filter.1.Name=tag%3A&Filter.1.Value.1=*&Filter.2.Name=&Filter.10001.Value.1=x",
		"IpPermissions.1.FromPort=2147483648&IpPermissions.1.ToPort=-2147483649",
		"IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=22&IpPermissions.1.ToPort=1&IpPermissions.1.IpRanges.1.CidrIp=1.2.3.4",
		"TagSpecification.1.ResourceType=&TagSpecification.1.Tag.1.Key=" + strings.Repeat("k", 300),
		"ResourceId.1=r-1&Tag.1.Key=&Tag.1.Value=" + strings.Repeat("v", 300),
		"SecurityGroupRule.1.SecurityGroupRule.IpProtocol=-1&SecurityGroupRule.1.SecurityGroupRuleId=sgr-",
		"MinCount=0&MaxCount=1000000&ImageId=&SecurityGroupId.1=sg-0",
		"Attribute=nonsense&InstanceId=i-0123456789abcdef0",
		"ConnectionTrackingSpecification.TcpEstablishedTimeout=1&Description.Value=" + strings.Repeat("d", 300),
		"DeviceIndex=-1&AttachmentId=eni-attach-&NetworkInterfaceId=eni-0123456789abcdef0",
		"Entry.1.Cidr=nonsense&MaxEntries=0&AddressFamily=IPv5&PrefixListId=pl-",
		"a.b.c.d.e.f.g.h=1&%2E%2E=2&Action.1=x",
	}
	var actions []string
	for name := range ec2Actions() {
		actions = append(actions, name)
	}
	slices.Sort(actions)
	for _, action := range actions {
		for _, form := range hostile {
			status, body := h.raw("Action=" + action + "&Version=" + APIVersion + ifSome(form))
			if status >= 500 {
				t.Errorf("%s with %q: status %d\n%s", action, form, status, body)
			}
		}
	}
}

func ifSome(form string) string {
	if form == "" {
		return ""
	}
	return "&" + form
}

// FuzzHandlers sends arbitrary forms to every action; nothing may be a
// server error. go test runs the seeds; go test -fuzz FuzzHandlers explores.
func FuzzHandlers(f *testing.F) {
	f.Add(uint8(0), "GroupName=web&GroupDescription=x")
	f.Add(uint8(3), "GroupId=sg-0123456789abcdef0&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=1&IpPermissions.1.ToPort=2&IpPermissions.1.IpRanges.1.CidrIp=10.0.0.0/8")
	f.Add(uint8(7), "Filter.1.Name=group-id&Filter.1.Value.1=sg-*&MaxResults=5")
	h := newAPIHarness(f)
	var actions []string
	for name := range ec2Actions() {
		actions = append(actions, name)
	}
	slices.Sort(actions)
	f.Fuzz(func(t *testing.T, pick uint8, form string) {
		if _, err := url.ParseQuery(form); err != nil {
			return // the decoder's own fuzzing covers broken encodings
		}
		action := actions[int(pick)%len(actions)]
		if status, body := h.send(t, "Action="+action+"&Version="+APIVersion+ifSome(form)); status >= 500 {
			t.Fatalf("%s with %q: status %d\n%s", action, form, status, body)
		}
	})
}

func TestCommonLaunchOptionsAreAccepted(t *testing.T) {
	h := newAPIHarness(t)
	body := h.ok("RunInstances", "ImageId", "ami-12345678", "MinCount", "1", "MaxCount", "1",
		"UserData", "IyEvYmluL3No", "Monitoring.Enabled", "true", "MetadataOptions.HttpTokens", "required",
		"MetadataOptions.HttpPutResponseHopLimit", "2", "EbsOptimized", "true", "Placement.Tenancy", "default")
	if first(t, body, "instanceId") == "" {
		t.Fatal("no instance")
	}
	// Kept, and described back as AWS does.
	if !regexp.MustCompile(`<monitoring>\s*<state>enabled</state>`).MatchString(body) {
		t.Errorf("RunInstances' monitoring is not enabled:\n%s", body)
	}
	for el, want := range map[string]string{"ebsOptimized": "true", "httpTokens": "required",
		"httpPutResponseHopLimit": "2", "httpEndpoint": "enabled", "instanceMetadataTags": "disabled"} {
		if got := first(t, body, el); !strings.Contains(got, want) {
			t.Errorf("RunInstances' %s: %q, want %s", el, got, want)
		}
	}
	d := h.ok("DescribeInstances", "Filter.1.Name", "metadata-options.http-tokens", "Filter.1.Value.1", "required",
		"Filter.2.Name", "monitoring-state", "Filter.2.Value.1", "enabled", "Filter.3.Name", "ebs-optimized", "Filter.3.Value.1", "true")
	if first(t, d, "instanceId") != first(t, body, "instanceId") {
		t.Errorf("DescribeInstances by the kept options:\n%s", d)
	}
	// Named what Palisade does not have, or a value it cannot honour: refused.
	launch := func(code string, kv ...string) {
		t.Helper()
		h.fails(code, "RunInstances", append([]string{"ImageId", "ami-12345678", "MinCount", "1", "MaxCount", "1"}, kv...)...)
	}
	launch("InvalidBlockDeviceMapping", "BlockDeviceMapping.1.DeviceName", "/dev/xvda", "BlockDeviceMapping.1.Ebs.VolumeSize", "8")
	launch("InvalidParameterValue", "IamInstanceProfile.Name", "web")
	launch("InvalidParameterValue", "IamInstanceProfile.Arn", "arn:aws:iam::123456789012:instance-profile/web")
	launch("InvalidPlacementGroup.Unknown", "Placement.GroupName", "cluster")
	launch("InvalidParameterValue", "Placement.Tenancy", "dedicated")
	launch("InvalidParameterCombination", "Placement.Tenancy", "host")
	launch("InvalidParameterValue", "MetadataOptions.HttpTokens", "always")
	launch("InvalidParameterValue", "MetadataOptions.HttpPutResponseHopLimit", "65")
	launch("InvalidParameterValue", "Monitoring.Enabled", "maybe")
	h.fails("UnknownParameter", "RunInstances", "ImageId", "ami-12345678", "MinCount", "1", "MaxCount", "1", "Bogus", "1")
	// Palisade has no key pairs: a KeyName names one that does not exist.
	h.fails("InvalidKeyPair.NotFound", "RunInstances", "ImageId", "ami-12345678", "MinCount", "1", "MaxCount", "1", "KeyName", "mykey")
	h.fails("InvalidParameterValue", "RunInstances", "ImageId", "ami-12345678", "MinCount", "1", "MaxCount", "1", "UserData", "not base64!")
	// The aws CLI's --no-associate-public-ip-address; there are no public
	// IPv4 addresses to associate.
	h.ok("RunInstances", "ImageId", "ami-12345678", "MinCount", "1", "MaxCount", "1",
		"NetworkInterface.1.DeviceIndex", "0", "NetworkInterface.1.AssociatePublicIpAddress", "false")
	h.fails("InvalidParameterValue", "RunInstances", "ImageId", "ami-12345678", "MinCount", "1", "MaxCount", "1",
		"NetworkInterface.1.DeviceIndex", "0", "NetworkInterface.1.AssociatePublicIpAddress", "true")
	h.ok("CreateVpc", "CidrBlock", "10.9.0.0/16", "InstanceTenancy", "default")
	h.fails("InvalidParameterValue", "CreateVpc", "CidrBlock", "10.8.0.0/16", "InstanceTenancy", "dedicated")
}
