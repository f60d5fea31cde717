package ec2api

import (
	"encoding/xml"
	"reflect"
	"strings"
	"testing"

	"palisade.dev/palisade/internal/model"
)

// TestPermissionRoundTrip holds the one conversion between wire
// IpPermissions and model rules together: what a request says, read,
// canonicalized and rendered, reads back as DescribeSecurityGroups shows it.
func TestPermissionRoundTrip(t *testing.T) {
	p, err := ParseForm("IpPermissions.1.IpProtocol=6&IpPermissions.1.FromPort=22&IpPermissions.1.ToPort=22" +
		"&IpPermissions.1.IpRanges.1.CidrIp=10.1.2.3/8&IpPermissions.1.IpRanges.1.Description=ssh" +
		"&IpPermissions.1.Ipv6Ranges.1.CidrIpv6=2001:db8::1/32&IpPermissions.1.PrefixListIds.1.PrefixListId=pl-0123456789abcdef0" +
		"&IpPermissions.1.Groups.1.GroupId=sg-0123456789abcdef0&IpPermissions.1.Groups.1.UserId=210987654321" +
		"&IpPermissions.2.IpProtocol=-1&IpPermissions.2.FromPort=1&IpPermissions.2.IpRanges.1.CidrIp=0.0.0.0/0" +
		"&IpPermissions.3.IpProtocol=TCP&IpPermissions.3.FromPort=22&IpPermissions.3.ToPort=22&IpPermissions.3.IpRanges.1.CidrIp=192.0.2.0/24")
	if err != nil {
		t.Fatal(err)
	}
	specs, err := readPermissions(p)
	if err != nil || p.RejectUnread() != nil {
		t.Fatalf("read: %v, %v", err, p.RejectUnread())
	}
	var rules []model.Rule
	for _, s := range specs {
		rs, err := s.Rules(model.Ingress, apiAccount, false)
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, rs...)
	}
	type doc struct {
		P Set[ipPermissionXML] `xml:"ipPermissions"`
	}
	b, err := xml.Marshal(doc{permissionsOf(rules)})
	if err != nil {
		t.Fatal(err)
	}
	want := `<ipPermissions><item><ipProtocol>tcp</ipProtocol><fromPort>22</fromPort><toPort>22</toPort>` +
		`<groups><item><userId>210987654321</userId><groupId>sg-0123456789abcdef0</groupId></item></groups>` +
		`<ipRanges><item><cidrIp>10.0.0.0/8</cidrIp><description>ssh</description></item><item><cidrIp>192.0.2.0/24</cidrIp></item></ipRanges>` +
		`<ipv6Ranges><item><cidrIpv6>2001:db8::/32</cidrIpv6></item></ipv6Ranges>` +
		`<prefixListIds><item><prefixListId>pl-0123456789abcdef0</prefixListId></item></prefixListIds></item>` +
		`<item><ipProtocol>-1</ipProtocol><groups></groups><ipRanges><item><cidrIp>0.0.0.0/0</cidrIp></item></ipRanges>` +
		`<ipv6Ranges></ipv6Ranges><prefixListIds></prefixListIds></item></ipPermissions>`
	if !strings.Contains(string(b), want) {
		t.Fatalf("got\n%s\nwant\n%s", b, want)
	}
}

func TestLegacyIngressPermission(t *testing.T) {
	cases := []struct {
		form string
		want []model.PermissionSpec
		code string
	}{
		{form: "IpProtocol=tcp&FromPort=80&ToPort=81&CidrIp=0.0.0.0/0",
			want: []model.PermissionSpec{{Protocol: "tcp", FromPort: ptr32(80), ToPort: ptr32(81), IPv4: []model.SourceSpec{{Value: "0.0.0.0/0"}}}}},
		{form: "IpProtocol=-1&SourceSecurityGroupName=web&SourceSecurityGroupOwnerId=123456789012",
			want: []model.PermissionSpec{{Protocol: "-1", Groups: []model.GroupSourceSpec{{GroupName: "web", UserID: "123456789012"}}}}},
		{form: "IpPermissions.1.IpProtocol=-1&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0/0",
			want: []model.PermissionSpec{{Protocol: "-1", IPv4: []model.SourceSpec{{Value: "0.0.0.0/0"}}}}},
		{form: "CidrIp=0.0.0.0/0&IpPermissions.1.IpProtocol=-1", code: model.CodeInvalidParameterCombination},
		{form: "IpProtocol=tcp&FromPort=x", code: model.CodeInvalidParameterValue},
	}
	for _, c := range cases {
		p, err := ParseForm(c.form)
		if err != nil {
			t.Fatal(err)
		}
		got, err := readIngressPermissions(p)
		if model.CodeOf(err) != c.code || (c.code == "" && !reflect.DeepEqual(got, c.want)) {
			t.Errorf("%s: got %+v, %v", c.form, got, err)
		}
	}
}

func ptr32(v int32) *int32 { return &v }
