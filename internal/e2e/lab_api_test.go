package e2e

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Builders of the lab scenarios: each call is one or two EC2 actions
// through aws-sdk-go-v2, and fails the test on an error.

// labVPC is a VPC with one subnet.
type labVPC struct {
	ID, Subnet string
	IPv6       netip.Prefix // the subnet's /64; zero without IPv6
}

// labInstance is a running instance with one network interface.
type labInstance struct {
	ID, ENI string
	IP, IP6 netip.Addr // IP6 is zero without IPv6
}

// newVPC creates a VPC 10.0.0.0/16 with the subnet 10.0.1.0/24 (and, with
// v6, an IPv6 /56 and the subnet's first /64 of it). Every scenario's VPC
// has the same CIDR: the lab keeps them apart.
func newVPC(t *testing.T, c *ec2.Client, v6 bool) labVPC {
	t.Helper()
	v, err := c.CreateVpc(t.Context(), &ec2.CreateVpcInput{
		CidrBlock: aws.String("10.0.0.0/16"), AmazonProvidedIpv6CidrBlock: aws.Bool(v6)})
	if err != nil {
		t.Fatal(err)
	}
	out := labVPC{ID: aws.ToString(v.Vpc.VpcId)}
	in := &ec2.CreateSubnetInput{VpcId: v.Vpc.VpcId, CidrBlock: aws.String("10.0.1.0/24")}
	if v6 {
		d, err := c.DescribeVpcs(t.Context(), &ec2.DescribeVpcsInput{VpcIds: []string{out.ID}})
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Vpcs) != 1 || len(d.Vpcs[0].Ipv6CidrBlockAssociationSet) != 1 {
			t.Fatalf("vpc %s without its IPv6 block: %+v", out.ID, d.Vpcs)
		}
		block := netip.MustParsePrefix(aws.ToString(d.Vpcs[0].Ipv6CidrBlockAssociationSet[0].Ipv6CidrBlock))
		out.IPv6 = netip.PrefixFrom(block.Addr(), 64)
		in.Ipv6CidrBlock = aws.String(out.IPv6.String())
	}
	sn, err := c.CreateSubnet(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	out.Subnet = aws.ToString(sn.Subnet.SubnetId)
	return out
}

// newGroup creates a security group in vpc (the default egress: all
// traffic) and authorizes ingress.
func newGroup(t *testing.T, c *ec2.Client, vpc string, ingress ...types.IpPermission) string {
	t.Helper()
	g, err := c.CreateSecurityGroup(t.Context(), &ec2.CreateSecurityGroupInput{
		GroupName: aws.String(uniqueName("group")), Description: aws.String("lab scenario"), VpcId: aws.String(vpc)})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(g.GroupId)
	if len(ingress) > 0 {
		authorizeIngress(t, c, id, ingress...)
	}
	return id
}

func authorizeIngress(t *testing.T, c *ec2.Client, g string, p ...types.IpPermission) {
	t.Helper()
	if _, err := c.AuthorizeSecurityGroupIngress(t.Context(), &ec2.AuthorizeSecurityGroupIngressInput{GroupId: &g, IpPermissions: p}); err != nil {
		t.Fatal(err)
	}
}

func revokeIngress(t *testing.T, c *ec2.Client, g string, p ...types.IpPermission) {
	t.Helper()
	if _, err := c.RevokeSecurityGroupIngress(t.Context(), &ec2.RevokeSecurityGroupIngressInput{GroupId: &g, IpPermissions: p}); err != nil {
		t.Fatal(err)
	}
}

func authorizeEgress(t *testing.T, c *ec2.Client, g string, p ...types.IpPermission) {
	t.Helper()
	if _, err := c.AuthorizeSecurityGroupEgress(t.Context(), &ec2.AuthorizeSecurityGroupEgressInput{GroupId: &g, IpPermissions: p}); err != nil {
		t.Fatal(err)
	}
}

func revokeEgress(t *testing.T, c *ec2.Client, g string, p ...types.IpPermission) {
	t.Helper()
	if _, err := c.RevokeSecurityGroupEgress(t.Context(), &ec2.RevokeSecurityGroupEgressInput{GroupId: &g, IpPermissions: p}); err != nil {
		t.Fatal(err)
	}
}

// perm is one permission: proto ("tcp", "udp", "icmp", "-1"), a port
// range (for ICMP: type and code, -1 for any) and one CIDR of either
// family.
func perm(proto string, from, to int32, cidr string) types.IpPermission {
	p := types.IpPermission{IpProtocol: aws.String(proto)}
	if proto != "-1" {
		p.FromPort, p.ToPort = aws.Int32(from), aws.Int32(to)
	}
	if strings.Contains(cidr, ":") {
		p.Ipv6Ranges = []types.Ipv6Range{{CidrIpv6: aws.String(cidr)}}
	} else {
		p.IpRanges = []types.IpRange{{CidrIp: aws.String(cidr)}}
	}
	return p
}

func tcp(port int32, cidr string) types.IpPermission { return perm("tcp", port, port, cidr) }
func udp(port int32, cidr string) types.IpPermission { return perm("udp", port, port, cidr) }

// allTraffic is the rule every new group has as its egress.
func allTraffic(cidr string) types.IpPermission { return perm("-1", 0, 0, cidr) }

// tcpFromGroup opens a TCP port to the members of group g.
func tcpFromGroup(port int32, g string) types.IpPermission {
	return types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port),
		UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: aws.String(g)}}}
}

// launchWith launches one instance as in says (where, with which groups:
// none means the VPC's default group), and waits until it is running, as
// a user does (aws ec2 wait instance-running): then it has its network.
func launchWith(t *testing.T, c *ec2.Client, in ec2.RunInstancesInput) labInstance {
	t.Helper()
	in.ImageId, in.MinCount, in.MaxCount = aws.String("lab"), aws.Int32(1), aws.Int32(1)
	r, err := c.RunInstances(t.Context(), &in)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Instances) != 1 || len(r.Instances[0].NetworkInterfaces) != 1 {
		t.Fatalf("run-instances answered %+v", r.Instances)
	}
	i := r.Instances[0]
	eni := i.NetworkInterfaces[0]
	out := labInstance{ID: aws.ToString(i.InstanceId), ENI: aws.ToString(eni.NetworkInterfaceId),
		IP: netip.MustParseAddr(aws.ToString(i.PrivateIpAddress))}
	if len(eni.Ipv6Addresses) > 0 {
		out.IP6 = netip.MustParseAddr(aws.ToString(eni.Ipv6Addresses[0].Ipv6Address))
	}
	waitRunning(t, c, out.ID)
	return out
}

// waitRunning waits, with the SDK's waiter (polling more often than its
// default 15 s), until the instances are running.
func waitRunning(t *testing.T, c *ec2.Client, ids ...string) {
	t.Helper()
	w := ec2.NewInstanceRunningWaiter(poller(c), func(o *ec2.InstanceRunningWaiterOptions) {
		o.MinDelay, o.MaxDelay = 20*time.Millisecond, 200*time.Millisecond
	})
	if err := w.Wait(t.Context(), &ec2.DescribeInstancesInput{InstanceIds: ids}, applyWait); err != nil {
		t.Fatalf("wait until %v run: %v", ids, err)
	}
}

// poller is c with the SDK's standard retryer, as a user's client has, for
// loops that poll Describe calls back to back: they meet, now and then, a
// response that the SDK cannot read because Go's transport closed the
// connection under it ("use of closed network connection", which the
// standard retryer retries). The tests' other clients retry nothing, so
// that every error shows.
func poller(c *ec2.Client) *ec2.Client {
	return ec2.New(c.Options(), func(o *ec2.Options) { o.Retryer = retry.NewStandard() })
}

// launch launches one instance into the subnet of v with groups.
func launch(t *testing.T, c *ec2.Client, v labVPC, groups ...string) labInstance {
	t.Helper()
	return launchWith(t, c, ec2.RunInstancesInput{SubnetId: aws.String(v.Subnet), SecurityGroupIds: groups})
}

// addHost adds a lab host ("outside computer") with a unique name to vpc
// with `palisade lab host add`, as the admin in region, and returns its
// namespace. ip6 may be "".
func (l *labServer) addHost(t *testing.T, region, vpc, ip, ip6 string) string {
	t.Helper()
	name := uniqueName("host")
	args := []string{"lab", "host", "add", name, "--vpc", vpc, "--ip", ip,
		"--endpoint-url", l.endpoint, "--region", region}
	if ip6 != "" {
		args = append(args, "--ip6", ip6)
	}
	stdout, stderr, code := palisade(t, profileEnv(t, l.dir), args...)
	if code != 0 {
		t.Fatalf("palisade %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
	}
	return hostNamespace(t, stdout)
}

// hostNamespace reads the namespace of the lab host that `palisade lab
// host add` printed (JSON).
func hostNamespace(t *testing.T, out string) string {
	t.Helper()
	var added struct{ Name, Namespace string }
	if err := json.Unmarshal([]byte(out), &added); err != nil || added.Namespace == "" {
		t.Fatalf("palisade lab host add printed %q (%v)", out, err)
	}
	return added.Namespace
}
