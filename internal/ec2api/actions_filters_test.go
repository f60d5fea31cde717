package ec2api

import (
	"strings"
	"testing"
)

// items counts the list items in a response body.
func items(body string) int { return strings.Count(body, "<item>") }

// TestFilterWithoutValuesMatchesNothing: on AWS, Filter.1.Name without a
// Value answers an empty list, for every Describe action.
func TestFilterWithoutValuesMatchesNothing(t *testing.T) {
	h := newAPIHarness(t)
	h.ok("RunInstances", "ImageId", "ami-12345678", "MinCount", "1", "MaxCount", "1",
		"TagSpecification.1.ResourceType", "instance", "TagSpecification.1.Tag.1.Key", "role", "TagSpecification.1.Tag.1.Value", "web")
	h.ok("CreateManagedPrefixList", "PrefixListName", "office", "MaxEntries", "5", "AddressFamily", "IPv4")
	for _, c := range []struct{ action, filter string }{
		{"DescribeVpcs", "vpc-id"},
		{"DescribeSubnets", "subnet-id"},
		{"DescribeSecurityGroups", "group-id"},
		{"DescribeSecurityGroupRules", "group-id"},
		{"DescribeInstances", "instance-id"},
		{"DescribeNetworkInterfaces", "network-interface-id"},
		{"DescribeManagedPrefixLists", "prefix-list-id"},
		{"DescribeTags", "key"},
		{"DescribeRegions", "region-name"},
		{"DescribeAvailabilityZones", "zone-name"},
	} {
		if n := items(h.ok(c.action)); n == 0 {
			t.Fatalf("%s lists nothing without a filter", c.action)
		}
		if body := h.ok(c.action, "Filter.1.Name", c.filter); items(body) != 0 {
			t.Errorf("%s with filter %s and no values listed %d items:\n%s", c.action, c.filter, items(body), body)
		}
	}
}

// TestFilterNamesClientsSend: names AWS accepts beyond its documentation
// (Terraform's aws_vpc data source sends cidr, dhcp-options-id and
// isDefault; Ansible's ec2_vpc_net sends cidr-block) and documented ones
// that were missing.
func TestFilterNamesClientsSend(t *testing.T) {
	h := newAPIHarness(t)
	h.ok("CreateVpc", "CidrBlock", "10.0.0.0/16")
	for _, c := range []struct {
		action, name, value string
		want                int
	}{
		{"DescribeVpcs", "cidr-block", "172.31.0.0/16", 1},
		{"DescribeVpcs", "cidr-block", "10.0.0.0/16", 1},
		{"DescribeVpcs", "cidr", "10.*", 1},
		{"DescribeVpcs", "isDefault", "true", 1},
		{"DescribeVpcs", "isDefault", "false", 1},
		{"DescribeVpcs", "dhcp-options-id", "default", 2},
		{"DescribeVpcs", "cidr-block-association.state", "associated", 2},
		{"DescribeVpcs", "ipv6-cidr-block-association.state", "associated", 0},
		{"DescribeSubnets", "availability-zone-id", "use1-az2", 1},
		{"DescribeSubnets", "ipv6-native", "false", 3},
		{"DescribeSubnets", "map-public-ip-on-launch", "false", 3},
	} {
		body := h.ok(c.action, "Filter.1.Name", c.name, "Filter.1.Value.1", c.value)
		el := map[string]string{"DescribeVpcs": "<vpcId>", "DescribeSubnets": "<subnetId>"}[c.action]
		if n := strings.Count(body, el); n != c.want {
			t.Errorf("%s %s=%s: %d, want %d\n%s", c.action, c.name, c.value, n, c.want, body)
		}
	}
	h.fails("InvalidParameterValue", "DescribeVpcs", "Filter.1.Name", "is-defaultt", "Filter.1.Value.1", "true")
}
