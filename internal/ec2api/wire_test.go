package ec2api

// Response types of the tests: the shape a DescribeSecurityGroups handler
// will declare, with the element names aws-sdk-go-v2 decodes
// (docs/aws-semantics.md#wire-protocol). Lists are Set so that an empty one still renders its element.

type testDescribeSecurityGroups struct {
	SecurityGroups Set[testSecurityGroup] `xml:"securityGroupInfo"`
	NextToken      string                 `xml:"nextToken,omitempty"`
}

type testSecurityGroup struct {
	OwnerID       string                `xml:"ownerId"`
	GroupID       string                `xml:"groupId"`
	GroupName     string                `xml:"groupName"`
	Description   string                `xml:"groupDescription"`
	VpcID         string                `xml:"vpcId,omitempty"`
	ARN           string                `xml:"securityGroupArn,omitempty"`
	IpPermissions Set[testIpPermission] `xml:"ipPermissions"`
	Egress        Set[testIpPermission] `xml:"ipPermissionsEgress"`
	Tags          Set[testTag]          `xml:"tagSet"`
}

type testIpPermission struct {
	IpProtocol    string              `xml:"ipProtocol"`
	FromPort      *int32              `xml:"fromPort,omitempty"`
	ToPort        *int32              `xml:"toPort,omitempty"`
	Groups        Set[testGroupPair]  `xml:"groups"`
	IpRanges      Set[testIpRange]    `xml:"ipRanges"`
	Ipv6Ranges    Set[testIpv6Range]  `xml:"ipv6Ranges"`
	PrefixListIDs Set[testPrefixList] `xml:"prefixListIds"`
}

type testGroupPair struct {
	UserID  string `xml:"userId"`
	GroupID string `xml:"groupId"`
}

type testIpRange struct {
	CidrIP      string `xml:"cidrIp"`
	Description string `xml:"description,omitempty"`
}

type testIpv6Range struct {
	CidrIPv6 string `xml:"cidrIpv6"`
}

type testPrefixList struct {
	PrefixListID string `xml:"prefixListId"`
}

type testTag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

// testReturn is the body of the many EC2 actions that answer <return>true</return>.
type testReturn struct {
	Return bool `xml:"return"`
}

func port(p int32) *int32 { return &p }

// cannedGroups is one group with an SSH rule from a CIDR and from a group.
func cannedGroups() testDescribeSecurityGroups {
	return testDescribeSecurityGroups{SecurityGroups: Set[testSecurityGroup]{{
		OwnerID: "123456789012", GroupID: "sg-0123456789abcdef0", GroupName: "web",
		Description: "web tier & <friends>", VpcID: "vpc-0123456789abcdef0",
		ARN: "arn:aws:ec2:us-east-1:123456789012:security-group/sg-0123456789abcdef0",
		IpPermissions: Set[testIpPermission]{{
			IpProtocol: "tcp", FromPort: port(22), ToPort: port(22),
			Groups:   Set[testGroupPair]{{UserID: "123456789012", GroupID: "sg-0fedcba9876543210"}},
			IpRanges: Set[testIpRange]{{CidrIP: "10.0.0.0/8", Description: "ssh"}},
		}},
		Egress: Set[testIpPermission]{{IpProtocol: "-1", IpRanges: Set[testIpRange]{{CidrIP: "0.0.0.0/0"}}}},
		Tags:   Set[testTag]{{Key: "Name", Value: "web"}},
	}}}
}
