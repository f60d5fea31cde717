package ec2api_test

import (
	"fmt"

	"palisade.dev/palisade/internal/ec2api"
)

// A response body is a plain struct with encoding/xml tags: camelCase element
// names as EC2 sends them, ec2api.Set for lists (rendered as
// <name><item>…</item></name>, and as an empty element when empty), pointers
// with omitempty for optional values.
func ExampleMarshalResponse() {
	type ipRange struct {
		CidrIP string `xml:"cidrIp"`
	}
	type permission struct {
		IpProtocol string               `xml:"ipProtocol"`
		FromPort   *int32               `xml:"fromPort,omitempty"`
		IpRanges   ec2api.Set[ipRange]  `xml:"ipRanges"`
		Ipv6Ranges ec2api.Set[struct{}] `xml:"ipv6Ranges"`
	}
	type authorizeResult struct {
		Return bool                   `xml:"return"`
		Rules  ec2api.Set[permission] `xml:"securityGroupRuleSet"`
	}
	port := int32(22)
	doc, err := ec2api.MarshalResponse("AuthorizeSecurityGroupIngress", "59dbff89-35bd-4eac-99ed-be587ebc2d3c", authorizeResult{
		Return: true,
		Rules:  ec2api.Set[permission]{{IpProtocol: "tcp", FromPort: &port, IpRanges: ec2api.Set[ipRange]{{CidrIP: "10.0.0.0/8"}}}},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(doc))
	// Output:
	// <?xml version="1.0" encoding="UTF-8"?>
	// <AuthorizeSecurityGroupIngressResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
	//     <requestId>59dbff89-35bd-4eac-99ed-be587ebc2d3c</requestId>
	//     <return>true</return>
	//     <securityGroupRuleSet>
	//         <item>
	//             <ipProtocol>tcp</ipProtocol>
	//             <fromPort>22</fromPort>
	//             <ipRanges>
	//                 <item>
	//                     <cidrIp>10.0.0.0/8</cidrIp>
	//                 </item>
	//             </ipRanges>
	//             <ipv6Ranges></ipv6Ranges>
	//         </item>
	//     </securityGroupRuleSet>
	// </AuthorizeSecurityGroupIngressResponse>
}

// A handler reads parameters through typed accessors; lists of structures
// come back as views on which nested names are relative.
func ExampleParams_List() {
	p, err := ec2api.ParseForm("GroupId=sg-1&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=22" +
		"&IpPermissions.1.IpRanges.1.CidrIp=10.0.0.0%2F8&IpPermissions.1.IpRanges.2.CidrIp=192.0.2.0%2F24&Color=blue")
	if err != nil {
		panic(err)
	}
	fmt.Println(p.String("GroupId"))
	perms, _ := p.List("IpPermissions")
	for _, perm := range perms {
		from, _ := perm.OptInt32("FromPort")
		ranges, _ := perm.List("IpRanges")
		for _, r := range ranges {
			fmt.Println(perm.String("IpProtocol"), *from, r.String("CidrIp"))
		}
	}
	fmt.Println(p.RejectUnread())
	// Output:
	// sg-1
	// tcp 22 10.0.0.0/8
	// tcp 22 192.0.2.0/24
	// UnknownParameter: The parameter Color is not recognized
}
