package main

import (
	"net/url"
	"testing"
)

func TestAllowParams(t *testing.T) {
	for _, c := range []struct {
		rule allowedRule
		want url.Values
		err  bool
	}{
		{allowedRule{GroupID: "sg-1", Protocol: "tcp", Port: "22", CIDR: "192.0.2.5/32", ExpiresAt: "2026-12-02T16:00:00Z"}, url.Values{
			"GroupId": {"sg-1"}, "IpPermissions.1.IpProtocol": {"tcp"}, "IpPermissions.1.FromPort": {"22"}, "IpPermissions.1.ToPort": {"22"},
			"IpPermissions.1.IpRanges.1.CidrIp": {"192.0.2.5/32"}, "TagSpecification.1.ResourceType": {"security-group-rule"},
			"TagSpecification.1.Tag.1.Key": {"palisade:expires-at"}, "TagSpecification.1.Tag.1.Value": {"2026-12-02T16:00:00Z"}}, false},
		{allowedRule{GroupID: "sg-1", Protocol: "udp", Port: "8000-8100", CIDR: "2001:db8::1/128"}, url.Values{
			"GroupId": {"sg-1"}, "IpPermissions.1.IpProtocol": {"udp"}, "IpPermissions.1.FromPort": {"8000"}, "IpPermissions.1.ToPort": {"8100"},
			"IpPermissions.1.Ipv6Ranges.1.CidrIpv6": {"2001:db8::1/128"}}, false},
		{allowedRule{GroupID: "sg-1", Protocol: "icmp", Port: "-1", CIDR: "10.0.0.0/8"}, url.Values{
			"GroupId": {"sg-1"}, "IpPermissions.1.IpProtocol": {"icmp"}, "IpPermissions.1.FromPort": {"-1"}, "IpPermissions.1.ToPort": {"-1"},
			"IpPermissions.1.IpRanges.1.CidrIp": {"10.0.0.0/8"}}, false},
		{allowedRule{GroupID: "sg-1", Protocol: "tcp", Port: "ssh", CIDR: "10.0.0.0/8"}, nil, true},
		{allowedRule{GroupID: "sg-1", Protocol: "tcp", Port: "22", CIDR: "10.0.0.0"}, nil, true},
	} {
		got, err := allowParams(c.rule, "")
		if (err != nil) != c.err || err == nil && got.Encode() != c.want.Encode() {
			t.Errorf("%+v: %v, %v; want %v (error %v)", c.rule, got, err, c.want, c.err)
		}
	}
}
