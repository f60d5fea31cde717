package ec2api

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Golden responses, one per action (testdata/golden/<Action>.xml, rewritten
// with go test ./internal/ec2api -run Golden -args -update). Real clients
// ignore a wrong root element or an element name they do not know, so only
// a golden file catches one. Each test drives the real Server through a
// scenario on a deterministic service: IDs and times are the same on every
// run.

func TestGoldenVPCs(t *testing.T) {
	h := newAPIHarness(t)
	body := h.ok("CreateVpc", "CidrBlock", "10.0.0.0/16", "AmazonProvidedIpv6CidrBlock", "true",
		"TagSpecification.1.ResourceType", "vpc", "TagSpecification.1.Tag.1.Key", "Name", "TagSpecification.1.Tag.1.Value", "lab")
	goldenXML(t, "CreateVpc", body)
	vpc := first(t, body, "vpcId")
	v6 := strings.Replace(first(t, body, "ipv6CidrBlock"), "/56", "/64", 1)

	goldenXML(t, "DescribeVpcs", h.ok("DescribeVpcs", "VpcId.1", vpc))
	body = h.ok("CreateSubnet", "VpcId", vpc, "CidrBlock", "10.0.1.0/24", "Ipv6CidrBlock", v6, "AvailabilityZone", "us-east-1b",
		"TagSpecification.1.ResourceType", "subnet", "TagSpecification.1.Tag.1.Key", "tier", "TagSpecification.1.Tag.1.Value", "web")
	goldenXML(t, "CreateSubnet", body)
	subnet := first(t, body, "subnetId")
	goldenXML(t, "DescribeSubnets", h.ok("DescribeSubnets", "Filter.1.Name", "vpc-id", "Filter.1.Value.1", vpc))
	goldenXML(t, "ModifySubnetAttribute", h.ok("ModifySubnetAttribute", "SubnetId", subnet, "AssignIpv6AddressOnCreation.Value", "true"))
	goldenXML(t, "DescribeSubnets_assignIpv6", h.ok("DescribeSubnets", "SubnetId.1", subnet))
	goldenXML(t, "DescribeStaleSecurityGroups", h.ok("DescribeStaleSecurityGroups", "VpcId", vpc))
	// An IPv6-only subnet: no IPv4 block, its interfaces IPv6 only.
	v6only := strings.Replace(v6, "::/64", ":0:0:9::/64", 1) // fd00:0:0:9::/64
	body = h.ok("CreateSubnet", "VpcId", vpc, "Ipv6Native", "true", "Ipv6CidrBlock", v6only, "AvailabilityZone", "us-east-1b")
	goldenXML(t, "CreateSubnet_ipv6Native", body)
	native := first(t, body, "subnetId")
	goldenXML(t, "CreateNetworkInterface_ipv6Native", h.ok("CreateNetworkInterface", "SubnetId", native))
	h.fails("InvalidParameterValue", "CreateNetworkInterface", "SubnetId", native, "PrivateIpAddress", "10.0.9.9")
	h.fails("InvalidParameterCombination", "CreateSubnet", "VpcId", vpc, "Ipv6Native", "true", "CidrBlock", "10.0.9.0/24", "Ipv6CidrBlock", v6only)
	h.fails("MissingParameter", "CreateSubnet", "VpcId", vpc, "Ipv6Native", "true")
	h.fails("InvalidParameterValue", "ModifySubnetAttribute", "SubnetId", native, "AssignIpv6AddressOnCreation.Value", "false")
	h.ok("DeleteNetworkInterface", "NetworkInterfaceId", first(t, h.ok("DescribeNetworkInterfaces", "Filter.1.Name", "subnet-id", "Filter.1.Value.1", native), "networkInterfaceId"))
	h.ok("DeleteSubnet", "SubnetId", native)
	// The subnet's and the VPC's IPv6 blocks go and come back; not while
	// the subnet gives new interfaces IPv6 addresses.
	subnetAssoc := first(t, h.ok("DescribeSubnets", "SubnetId.1", subnet), "associationId")
	h.fails("InvalidCidrBlock.InUse", "DisassociateSubnetCidrBlock", "AssociationId", subnetAssoc)
	h.ok("ModifySubnetAttribute", "SubnetId", subnet, "AssignIpv6AddressOnCreation.Value", "false")
	body = h.ok("DisassociateSubnetCidrBlock", "AssociationId", subnetAssoc)
	goldenXML(t, "DisassociateSubnetCidrBlock", body)
	assoc := allOf(h.ok("DescribeVpcs", "VpcId.1", vpc), "associationId")[1]
	goldenXML(t, "DisassociateVpcCidrBlock", h.ok("DisassociateVpcCidrBlock", "AssociationId", assoc))
	body = h.ok("AssociateVpcCidrBlock", "VpcId", vpc, "AmazonProvidedIpv6CidrBlock", "true")
	goldenXML(t, "AssociateVpcCidrBlock", body)
	goldenXML(t, "AssociateSubnetCidrBlock", h.ok("AssociateSubnetCidrBlock", "SubnetId", subnet, "Ipv6CidrBlock", v6))
	h.fails("OperationNotPermitted", "DisassociateVpcCidrBlock", "AssociationId", allOf(h.ok("DescribeVpcs", "VpcId.1", vpc), "associationId")[0])
	h.fails("DependencyViolation", "DisassociateVpcCidrBlock", "AssociationId", assoc)
	// A secondary IPv4 block: a subnet in it holds it.
	body = h.ok("AssociateVpcCidrBlock", "VpcId", vpc, "CidrBlock", "10.1.0.0/16")
	goldenXML(t, "AssociateVpcCidrBlock_ipv4", body)
	second := first(t, body, "associationId")
	goldenXML(t, "DescribeVpcs_secondary", h.ok("DescribeVpcs", "VpcId.1", vpc))
	inSecond := first(t, h.ok("CreateSubnet", "VpcId", vpc, "CidrBlock", "10.1.2.0/24"), "subnetId")
	h.fails("InvalidCidrBlock.InUse", "DisassociateVpcCidrBlock", "AssociationId", second)
	h.ok("DeleteSubnet", "SubnetId", inSecond)
	goldenXML(t, "DisassociateVpcCidrBlock_ipv4", h.ok("DisassociateVpcCidrBlock", "AssociationId", second))
	h.fails("InvalidVpcCidrBlockAssociationID.NotFound", "DisassociateVpcCidrBlock", "AssociationId", second)
	goldenXML(t, "DeleteSubnet", h.ok("DeleteSubnet", "SubnetId", subnet))
	goldenXML(t, "DeleteVpc", h.ok("DeleteVpc", "VpcId", vpc))

	// The default VPC goes (subnets first) and comes back.
	body = h.ok("DescribeVpcs", "Filter.1.Name", "is-default", "Filter.1.Value.1", "true")
	def := first(t, body, "vpcId")
	for _, sn := range allOf(h.ok("DescribeSubnets", "Filter.1.Name", "vpc-id", "Filter.1.Value.1", def), "subnetId") {
		h.ok("DeleteSubnet", "SubnetId", sn)
	}
	h.ok("DeleteVpc", "VpcId", def)
	goldenXML(t, "CreateDefaultVpc", h.ok("CreateDefaultVpc"))
	// A default subnet goes and comes back, by zone ID.
	def = first(t, h.ok("DescribeVpcs", "Filter.1.Name", "is-default", "Filter.1.Value.1", "true"), "vpcId")
	body = h.ok("DescribeSubnets", "Filter.1.Name", "vpc-id", "Filter.1.Value.1", def, "Filter.2.Name", "availability-zone", "Filter.2.Value.1", "us-east-1b")
	h.ok("DeleteSubnet", "SubnetId", first(t, body, "subnetId"))
	goldenXML(t, "CreateDefaultSubnet", h.ok("CreateDefaultSubnet", "AvailabilityZoneId", "use1-az2"))
	h.fails("DefaultSubnetAlreadyExistsInAvailabilityZone", "CreateDefaultSubnet", "AvailabilityZone", "us-east-1b")
}

func TestGoldenSecurityGroups(t *testing.T) {
	h := newAPIHarness(t)
	vpc := first(t, h.ok("CreateVpc", "CidrBlock", "10.0.0.0/16", "AmazonProvidedIpv6CidrBlock", "true"), "vpcId")
	body := h.ok("CreateSecurityGroup", "GroupName", "web", "GroupDescription", "web tier & friends", "VpcId", vpc,
		"TagSpecification.1.ResourceType", "security-group", "TagSpecification.1.Tag.1.Key", "Name", "TagSpecification.1.Tag.1.Value", "web")
	goldenXML(t, "CreateSecurityGroup", body)
	web := first(t, body, "groupId")
	db := first(t, h.ok("CreateSecurityGroup", "GroupName", "db", "GroupDescription", "database", "VpcId", vpc), "groupId")

	body = h.ok("AuthorizeSecurityGroupIngress", "GroupId", web,
		"IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "22", "IpPermissions.1.ToPort", "22",
		"IpPermissions.1.IpRanges.1.CidrIp", "10.1.2.3/8", "IpPermissions.1.IpRanges.1.Description", "ssh",
		"IpPermissions.1.Ipv6Ranges.1.CidrIpv6", "2001:db8::/32",
		"IpPermissions.1.Groups.1.GroupId", db, "IpPermissions.1.Groups.1.Description", "from db",
		"IpPermissions.2.IpProtocol", "icmp", "IpPermissions.2.FromPort", "-1", "IpPermissions.2.ToPort", "-1",
		"IpPermissions.2.IpRanges.1.CidrIp", "0.0.0.0/0",
		"TagSpecification.1.ResourceType", "security-group-rule", "TagSpecification.1.Tag.1.Key", "owner", "TagSpecification.1.Tag.1.Value", "ops")
	goldenXML(t, "AuthorizeSecurityGroupIngress", body)
	ssh := first(t, body, "securityGroupRuleId")
	body = h.ok("AuthorizeSecurityGroupEgress", "GroupId", web,
		"IpPermissions.1.IpProtocol", "17", "IpPermissions.1.FromPort", "53", "IpPermissions.1.ToPort", "53",
		"IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.2/32")
	goldenXML(t, "AuthorizeSecurityGroupEgress", body)
	dns := first(t, body, "securityGroupRuleId")

	goldenXML(t, "DescribeSecurityGroups", h.ok("DescribeSecurityGroups", "GroupId.1", web))
	goldenXML(t, "DescribeSecurityGroupRules", h.ok("DescribeSecurityGroupRules", "Filter.1.Name", "group-id", "Filter.1.Value.1", web, "MaxResults", "5"))
	goldenXML(t, "ModifySecurityGroupRules", h.ok("ModifySecurityGroupRules", "GroupId", web,
		"SecurityGroupRule.1.SecurityGroupRuleId", ssh, "SecurityGroupRule.1.SecurityGroupRule.IpProtocol", "tcp",
		"SecurityGroupRule.1.SecurityGroupRule.FromPort", "2222", "SecurityGroupRule.1.SecurityGroupRule.ToPort", "2222",
		"SecurityGroupRule.1.SecurityGroupRule.CidrIpv4", "10.0.0.0/8", "SecurityGroupRule.1.SecurityGroupRule.Description", "ssh alt"))
	goldenXML(t, "UpdateSecurityGroupRuleDescriptionsIngress", h.ok("UpdateSecurityGroupRuleDescriptionsIngress", "GroupId", web,
		"SecurityGroupRuleDescription.1.SecurityGroupRuleId", ssh, "SecurityGroupRuleDescription.1.Description", "ssh from the office"))
	goldenXML(t, "UpdateSecurityGroupRuleDescriptionsEgress", h.ok("UpdateSecurityGroupRuleDescriptionsEgress", "GroupId", web,
		"IpPermissions.1.IpProtocol", "udp", "IpPermissions.1.FromPort", "53", "IpPermissions.1.ToPort", "53",
		"IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.2/32", "IpPermissions.1.IpRanges.1.Description", "dns"))
	goldenXML(t, "DescribeSecurityGroupReferences", h.ok("DescribeSecurityGroupReferences", "GroupId.1", web))

	goldenXML(t, "RevokeSecurityGroupIngress", h.ok("RevokeSecurityGroupIngress", "GroupId", web, "SecurityGroupRuleId.1", ssh))
	goldenXML(t, "RevokeSecurityGroupEgress", h.ok("RevokeSecurityGroupEgress", "GroupId", web,
		"IpPermissions.1.IpProtocol", "udp", "IpPermissions.1.FromPort", "53", "IpPermissions.1.ToPort", "53",
		"IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.2/32"))
	_ = dns
	goldenXML(t, "DeleteSecurityGroup_DependencyViolation", h.fails("DependencyViolation", "DeleteSecurityGroup", "GroupId", db))
	goldenXML(t, "DeleteSecurityGroup", h.ok("DeleteSecurityGroup", "GroupId", web))

	// In the default VPC, revoking a rule that is not there is no error:
	// the rule comes back in unknownIpPermissionSet.
	h.ok("CreateSecurityGroup", "GroupName", "legacy", "GroupDescription", "classic style")
	h.ok("AuthorizeSecurityGroupIngress", "GroupName", "legacy", "IpProtocol", "tcp", "FromPort", "80", "ToPort", "80", "CidrIp", "0.0.0.0/0")
	goldenXML(t, "RevokeSecurityGroupIngress_unknown", h.ok("RevokeSecurityGroupIngress", "GroupName", "legacy",
		"IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "80", "IpPermissions.1.ToPort", "80",
		"IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0",
		"IpPermissions.2.IpProtocol", "tcp", "IpPermissions.2.FromPort", "8080", "IpPermissions.2.ToPort", "8080",
		"IpPermissions.2.IpRanges.1.CidrIp", "192.0.2.0/24"))
}

func TestGoldenInstancesAndInterfaces(t *testing.T) {
	h := newAPIHarness(t)
	vpc := first(t, h.ok("CreateVpc", "CidrBlock", "10.0.0.0/16", "AmazonProvidedIpv6CidrBlock", "true"), "vpcId")
	v6 := "fd00::/64"
	subnet := first(t, h.ok("CreateSubnet", "VpcId", vpc, "CidrBlock", "10.0.1.0/24", "Ipv6CidrBlock", v6), "subnetId")
	web := first(t, h.ok("CreateSecurityGroup", "GroupName", "web", "GroupDescription", "web", "VpcId", vpc), "groupId")
	db := first(t, h.ok("CreateSecurityGroup", "GroupName", "db", "GroupDescription", "db", "VpcId", vpc), "groupId")

	body := h.ok("RunInstances", "ImageId", "lab", "MinCount", "1", "MaxCount", "1", "SubnetId", subnet,
		"SecurityGroupId.1", web, "Ipv6AddressCount", "1", "ClientToken", "run-1", "UserData", "IyEvYmluL3NoCg==",
		"TagSpecification.1.ResourceType", "instance", "TagSpecification.1.Tag.1.Key", "Name", "TagSpecification.1.Tag.1.Value", "web-1")
	goldenXML(t, "RunInstances", body)
	inst := first(t, body, "instanceId")
	goldenXML(t, "DescribeInstances", h.ok("DescribeInstances", "Filter.1.Name", "instance.group-id", "Filter.1.Value.1", web))

	body = h.ok("CreateNetworkInterface", "SubnetId", subnet, "SecurityGroupId.1", web, "SecurityGroupId.2", db,
		"Description", "second leg", "ConnectionTrackingSpecification.TcpEstablishedTimeout", "3600",
		"TagSpecification.1.ResourceType", "network-interface", "TagSpecification.1.Tag.1.Key", "role", "TagSpecification.1.Tag.1.Value", "data")
	goldenXML(t, "CreateNetworkInterface", body)
	eni := first(t, body, "networkInterfaceId")
	body = h.ok("AttachNetworkInterface", "NetworkInterfaceId", eni, "InstanceId", inst, "DeviceIndex", "1")
	goldenXML(t, "AttachNetworkInterface", body)
	attachment := first(t, body, "attachmentId")
	goldenXML(t, "DescribeNetworkInterfaces", h.ok("DescribeNetworkInterfaces", "NetworkInterfaceId.1", eni))
	body = h.ok("AssignPrivateIpAddresses", "NetworkInterfaceId", eni, "SecondaryPrivateIpAddressCount", "2")
	goldenXML(t, "AssignPrivateIpAddresses", body)
	goldenXML(t, "UnassignPrivateIpAddresses", h.ok("UnassignPrivateIpAddresses", "NetworkInterfaceId", eni,
		"PrivateIpAddress.1", allOf(body, "privateIpAddress")[0]))
	goldenXML(t, "DescribeNetworkInterfaces_secondary", h.ok("DescribeNetworkInterfaces", "NetworkInterfaceId.1", eni))
	body = h.ok("AssignIpv6Addresses", "NetworkInterfaceId", eni, "Ipv6Addresses.1", "fd00::40", "Ipv6Addresses.2", "fd00::41")
	goldenXML(t, "AssignIpv6Addresses", body)
	goldenXML(t, "UnassignIpv6Addresses", h.ok("UnassignIpv6Addresses", "NetworkInterfaceId", eni, "Ipv6Addresses.1", "fd00::41"))
	goldenXML(t, "ModifyNetworkInterfaceAttribute", h.ok("ModifyNetworkInterfaceAttribute", "NetworkInterfaceId", eni,
		"ConnectionTrackingSpecification.UdpTimeout", "60"))
	goldenXML(t, "DescribeNetworkInterfaceAttribute", h.ok("DescribeNetworkInterfaceAttribute", "NetworkInterfaceId", eni, "Attribute", "groupSet"))
	goldenXML(t, "DescribeNetworkInterfaceAttribute_attachment", h.ok("DescribeNetworkInterfaceAttribute", "NetworkInterfaceId", eni, "Attribute", "attachment"))
	goldenXML(t, "ModifyInstanceAttribute_InvalidInstanceID", h.fails("InvalidInstanceID", "ModifyInstanceAttribute", "InstanceId", inst, "GroupId.1", db))
	goldenXML(t, "DetachNetworkInterface", h.ok("DetachNetworkInterface", "AttachmentId", attachment))
	goldenXML(t, "DeleteNetworkInterface", h.ok("DeleteNetworkInterface", "NetworkInterfaceId", eni))

	goldenXML(t, "ModifyInstanceAttribute", h.ok("ModifyInstanceAttribute", "InstanceId", inst, "GroupId.1", web, "GroupId.2", db))
	goldenXML(t, "DescribeInstanceAttribute", h.ok("DescribeInstanceAttribute", "InstanceId", inst, "Attribute", "groupSet"))
	goldenXML(t, "DescribeInstanceAttribute_instanceType", h.ok("DescribeInstanceAttribute", "InstanceId", inst, "Attribute", "instanceType"))
	goldenXML(t, "DescribeInstanceAttribute_kernel", h.ok("DescribeInstanceAttribute", "InstanceId", inst, "Attribute", "kernel"))
	goldenXML(t, "DescribeInstanceAttribute_userData", h.ok("DescribeInstanceAttribute", "InstanceId", inst, "Attribute", "userData"))
	goldenXML(t, "DescribeInstanceStatus", h.ok("DescribeInstanceStatus", "InstanceId.1", inst))
	goldenXML(t, "RebootInstances", h.ok("RebootInstances", "InstanceId.1", inst))
	goldenXML(t, "StopInstances", h.ok("StopInstances", "InstanceId.1", inst))
	goldenXML(t, "DescribeInstances_stopped", h.ok("DescribeInstances", "InstanceId.1", inst))
	goldenXML(t, "DescribeInstanceStatus_stopped", h.ok("DescribeInstanceStatus", "InstanceId.1", inst, "IncludeAllInstances", "true"))
	h.ok("ModifyInstanceAttribute", "InstanceId", inst, "Attribute", "instanceType", "Value", "t3.large")
	goldenXML(t, "StartInstances", h.ok("StartInstances", "InstanceId.1", inst))
	goldenXML(t, "TerminateInstances", h.ok("TerminateInstances", "InstanceId.1", inst))
	goldenXML(t, "DescribeInstances_terminated", h.ok("DescribeInstances", "InstanceId.1", inst))
}

func TestGoldenTagsAndPrefixLists(t *testing.T) {
	h := newAPIHarness(t)
	body := h.ok("CreateManagedPrefixList", "PrefixListName", "offices", "AddressFamily", "IPv4", "MaxEntries", "5",
		"Entry.1.Cidr", "192.0.2.0/24", "Entry.1.Description", "hq", "Entry.2.Cidr", "198.51.100.7/32", "ClientToken", "pl-1",
		"TagSpecification.1.ResourceType", "prefix-list", "TagSpecification.1.Tag.1.Key", "team", "TagSpecification.1.Tag.1.Value", "net")
	goldenXML(t, "CreateManagedPrefixList", body)
	pl := first(t, body, "prefixListId")
	goldenXML(t, "ModifyManagedPrefixList", h.ok("ModifyManagedPrefixList", "PrefixListId", pl, "CurrentVersion", "1",
		"AddEntry.1.Cidr", "203.0.113.0/24", "AddEntry.1.Description", "branch", "RemoveEntry.1.Cidr", "198.51.100.7/32"))
	goldenXML(t, "DescribeManagedPrefixLists", h.ok("DescribeManagedPrefixLists", "PrefixListId.1", pl))
	goldenXML(t, "GetManagedPrefixListEntries", h.ok("GetManagedPrefixListEntries", "PrefixListId", pl, "TargetVersion", "1"))

	web := first(t, h.ok("CreateSecurityGroup", "GroupName", "web", "GroupDescription", "web"), "groupId")
	h.ok("AuthorizeSecurityGroupIngress", "GroupId", web, "IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "443",
		"IpPermissions.1.ToPort", "443", "IpPermissions.1.PrefixListIds.1.PrefixListId", pl, "IpPermissions.1.PrefixListIds.1.Description", "offices")
	goldenXML(t, "DescribeSecurityGroups_prefixList", h.ok("DescribeSecurityGroups", "GroupName.1", "web"))
	goldenXML(t, "CreateTags", h.ok("CreateTags", "ResourceId.1", web, "ResourceId.2", pl, "Tag.1.Key", "env", "Tag.1.Value", "prod", "Tag.2.Key", "empty"))
	goldenXML(t, "DescribeTags", h.ok("DescribeTags", "Filter.1.Name", "key", "Filter.1.Value.1", "env", "Filter.1.Value.2", "team"))
	goldenXML(t, "DeleteTags", h.ok("DeleteTags", "ResourceId.1", web, "Tag.1.Key", "env", "Tag.1.Value", "prod", "Tag.2.Key", "empty"))
	goldenXML(t, "DeleteManagedPrefixList_referenced", h.ok("DeleteManagedPrefixList", "PrefixListId", pl))
	goldenXML(t, "DescribeManagedPrefixLists_deleteFailed", h.ok("DescribeManagedPrefixLists", "PrefixListId.1", pl))
	h.ok("RevokeSecurityGroupIngress", "GroupId", web, "IpPermissions.1.IpProtocol", "tcp", "IpPermissions.1.FromPort", "443",
		"IpPermissions.1.ToPort", "443", "IpPermissions.1.PrefixListIds.1.PrefixListId", pl)
	goldenXML(t, "DeleteManagedPrefixList", h.ok("DeleteManagedPrefixList", "PrefixListId", pl))
}

func TestGoldenAccount(t *testing.T) {
	h := newAPIHarness(t)
	goldenXML(t, "DescribeAccountAttributes", h.ok("DescribeAccountAttributes", "AttributeName.1", "default-vpc", "AttributeName.2", "max-security-groups-per-interface"))
	goldenXML(t, "DescribeRegions", h.ok("DescribeRegions", "RegionName.1", "us-east-1", "RegionName.2", "af-south-1"))
	goldenXML(t, "DescribeAvailabilityZones", h.ok("DescribeAvailabilityZones", "AllAvailabilityZones", "true"))
}

func TestGoldenLabHosts(t *testing.T) {
	h := newAPIHarness(t)
	vpc := first(t, h.ok("CreateVpc", "CidrBlock", "10.0.0.0/16", "AmazonProvidedIpv6CidrBlock", "true"), "vpcId")
	goldenXML(t, "PalisadeCreateLabHost", h.ok("PalisadeCreateLabHost", "Name", "office", "VpcId", vpc, "Ipv4Address", "203.0.113.5", "Ipv6Address", "2001:db8::5"))
	goldenXML(t, "PalisadeDescribeLabHosts", h.ok("PalisadeDescribeLabHosts"))
	h.fails("InvalidLabHost.Duplicate", "PalisadeCreateLabHost", "Name", "office", "VpcId", vpc, "Ipv4Address", "203.0.113.6")
	h.fails("MissingParameter", "PalisadeCreateLabHost", "Name", "x", "VpcId", vpc)
	h.fails("UnknownParameter", "PalisadeDescribeLabHosts", "DryRun", "true")
	goldenXML(t, "PalisadeDeleteLabHost", h.ok("PalisadeDeleteLabHost", "Name", "office"))
	h.fails("InvalidLabHost.NotFound", "PalisadeDeleteLabHost", "Name", "office")
}

func TestGoldenCallerAddress(t *testing.T) {
	h := newAPIHarness(t)
	goldenXML(t, "PalisadeGetCallerAddress", h.ok("PalisadeGetCallerAddress"))
	h.fails("UnknownParameter", "PalisadeGetCallerAddress", "DryRun", "true")
}

// handlerTables are the action tables of the actions_*.go files.
var handlerTables = []func() Table{
	vpcActions, groupActions, ruleActions, tagActions, eniActions, instanceActions, prefixListActions, accountActions, labActions,
	callerActions,
}

// TestGoldenCoverage fails when an action of the actions_*.go files has no
// golden response.
func TestGoldenCoverage(t *testing.T) {
	var missing []string
	for _, table := range handlerTables {
		for name := range table() {
			if _, err := os.Stat(filepath.Join("testdata", "golden", name+".xml")); err != nil {
				missing = append(missing, name)
			}
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Fatalf("actions without a golden response: %v", missing)
	}
}

// allOf returns the text of every element named el in an XML body.
func allOf(body, el string) []string {
	var out []string
	for _, part := range strings.Split(body, "<"+el+">")[1:] {
		out = append(out, part[:strings.Index(part, "</"+el+">")])
	}
	return out
}
