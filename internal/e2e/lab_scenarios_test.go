package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"palisade.dev/palisade/internal/labtest"
	"palisade.dev/palisade/internal/testutil"
)

// The addresses of the lab hosts: the office is the address the rules
// name, the stranger is anyone else on the internet.
const (
	officeIP    = "203.0.113.5"
	strangerIP  = "198.51.100.7"
	officeIP6   = "2001:db8:a::5"
	strangerIP6 = "2001:db8:b::7"
)

var (
	office   = netip.MustParseAddr(officeIP)
	stranger = netip.MustParseAddr(strangerIP)
)

// TestLabScenarios drives one palisade serve --dataplane lab through the
// user-visible behaviours of security groups, one VPC per scenario (all
// with the same CIDR), checking with real TCP, UDP and ICMP from inside the
// lab's namespaces. The subtests run one after another.
func TestLabScenarios(t *testing.T) {
	l := startLab(t)
	for _, sc := range []struct {
		name string
		run  func(*testing.T, *labServer)
	}{
		{"allowed, blocked, refused, stateful replies", labAllowedBlockedRefused},
		{"revoke keeps a tracked connection", labRevokeTracked},
		{"revoke cuts an untracked flow", labRevokeUntracked},
		{"group reference follows membership", labGroupReference},
		{"secondary address of a member", labSecondaryAddress},
		{"default group", labDefaultGroup},
		{"egress restriction", labEgress},
		{"udp and icmp", labUDPAndICMP},
		{"ipv6", labIPv6},
		{"ipv6-only subnet", labIPv6Only},
		{"secondary ipv4 block", labSecondaryBlock},
		{"union of groups", labUnion},
		{"overlapping vpcs", labOverlappingVPCs},
		{"drift repair", labDriftRepair},
		{"terminate, stop and start", labLifecycle},
		{"delete vpc", labDeleteVPC},
		{"metrics", labMetrics},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, l) })
	}
	l.stop()
}

// labAllowedBlockedRefused: SSH from the office connects, the stranger
// times out, an allowed port without a listener is refused by the instance,
// a port without a rule times out. The group has no egress rule at all, and
// the replies still come back; the instance cannot open a connection out.
func labAllowedBlockedRefused(t *testing.T, l *labServer) {
	v := newVPC(t, l.ec2, false)
	g := newGroup(t, l.ec2, v.ID, tcp(22, officeIP+"/32"), tcp(23, officeIP+"/32"))
	revokeEgress(t, l.ec2, g, allTraffic("0.0.0.0/0"))
	i := launch(t, l.ec2, v, g)
	a := l.addHost(t, "us-east-1", v.ID, officeIP, "")
	b := l.addHost(t, "us-east-1", v.ID, strangerIP, "")
	waitNS(t, i.ID, a, b)
	serveTCP(t, i.ID, 22)
	serveTCP(t, a, 9)

	eventuallyTCP(t, a, port(i.IP, 22), connected)
	c, err := labtest.Dial(a, port(i.IP, 22), okWait)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.RoundTrip(okWait); err != nil {
		t.Errorf("replies of an allowed connection, with no egress rule: %v", err)
	}
	expectTCP(t, b, port(i.IP, 22), timedOut)
	expectTCP(t, a, port(i.IP, 23), refused)
	expectTCP(t, a, port(i.IP, 24), timedOut)
	expectTCP(t, i.ID, port(office, 9), timedOut)
}

// labRevokeTracked: SSH from a /32 is tracked, so revoking its rule leaves
// the open connection working while new connections time out.
func labRevokeTracked(t *testing.T, l *labServer) {
	v := newVPC(t, l.ec2, false)
	rule := tcp(22, officeIP+"/32")
	g := newGroup(t, l.ec2, v.ID, rule)
	i := launch(t, l.ec2, v, g)
	a := l.addHost(t, "us-east-1", v.ID, officeIP, "")
	waitNS(t, i.ID, a)
	serveTCP(t, i.ID, 22)
	ssh := port(i.IP, 22)
	eventuallyTCP(t, a, ssh, connected)
	c, err := labtest.Dial(a, ssh, okWait)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	revokeIngress(t, l.ec2, g, rule)
	eventuallyTCP(t, a, ssh, timedOut)
	for range 3 {
		if err := c.RoundTrip(okWait); err != nil {
			t.Fatalf("the tracked connection died with its rule: %v", err)
		}
	}
}

// labRevokeUntracked: HTTP from 0.0.0.0/0 with all egress is untracked
// (docs/aws-semantics.md#connection-tracking): revoking that rule cuts an open connection that only
// it allowed, while one that a narrower rule still allows goes on.
func labRevokeUntracked(t *testing.T, l *labServer) {
	v := newVPC(t, l.ec2, false)
	world := tcp(80, "0.0.0.0/0")
	g := newGroup(t, l.ec2, v.ID, world, tcp(80, "203.0.113.0/24"))
	i := launch(t, l.ec2, v, g)
	a := l.addHost(t, "us-east-1", v.ID, officeIP, "")
	b := l.addHost(t, "us-east-1", v.ID, strangerIP, "")
	waitNS(t, i.ID, a, b)
	serveTCP(t, i.ID, 80)
	http := port(i.IP, 80)
	eventuallyTCP(t, b, http, connected)
	ca, err := labtest.Dial(a, http, okWait)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	cb, err := labtest.Dial(b, http, okWait)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close()

	revokeIngress(t, l.ec2, g, world)
	eventuallyTCP(t, b, http, timedOut)
	eventually(t, "the stranger's open connection passes", "no", func() string {
		return yesNo(cb.RoundTrip(blockedWait) == nil)
	})
	// Cut for good: the unanswered lines are retransmitted, and dropped.
	cb.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := cb.Read(make([]byte, 64)); err == nil {
		t.Errorf("the cut connection still delivered %d bytes", n)
	}
	if err := ca.RoundTrip(okWait); err != nil {
		t.Errorf("the office's connection, still allowed by 203.0.113.0/24: %v", err)
	}
	expectTCP(t, a, http, connected)
	t.Logf("server log: %d cut lines for %s", l.logged("untracked flows cut", i.ENI), i.ENI)
}

// labGroupReference: the database opens its port to the members of the
// app group. An instance becomes a member with ModifyInstanceAttribute
// and stops being one with ModifyNetworkInterfaceAttribute; its new
// connections follow.
func labGroupReference(t *testing.T, l *labServer) {
	v := newVPC(t, l.ec2, false)
	app := newGroup(t, l.ec2, v.ID)
	other := newGroup(t, l.ec2, v.ID)
	db := newGroup(t, l.ec2, v.ID, tcpFromGroup(5432, app))
	d := launch(t, l.ec2, v, db)
	member := launch(t, l.ec2, v, app)
	x := launch(t, l.ec2, v, other)
	waitNS(t, d.ID, member.ID, x.ID)
	serveTCP(t, d.ID, 5432)
	pg := port(d.IP, 5432)
	eventuallyTCP(t, member.ID, pg, connected)
	expectTCP(t, x.ID, pg, timedOut)

	if _, err := l.ec2.ModifyInstanceAttribute(t.Context(), &ec2.ModifyInstanceAttributeInput{
		InstanceId: aws.String(x.ID), Groups: []string{app}}); err != nil {
		t.Fatal(err)
	}
	eventuallyTCP(t, x.ID, pg, connected)

	if _, err := l.ec2.ModifyNetworkInterfaceAttribute(t.Context(), &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: aws.String(x.ENI), Groups: []string{other}}); err != nil {
		t.Fatal(err)
	}
	eventuallyTCP(t, x.ID, pg, timedOut)
	expectTCP(t, member.ID, pg, connected)
}

// labDefaultGroup: instances launched without groups get the VPC's default
// group, whose members talk to each other on any port and protocol; an
// outside host reaches none of them.
func labDefaultGroup(t *testing.T, l *labServer) {
	v := newVPC(t, l.ec2, false)
	i1, i2 := launch(t, l.ec2, v), launch(t, l.ec2, v)
	a := l.addHost(t, "us-east-1", v.ID, officeIP, "")
	waitNS(t, i1.ID, i2.ID, a)
	serveTCP(t, i2.ID, 31337)
	serveTCP(t, i1.ID, 4000)
	eventuallyTCP(t, i1.ID, port(i2.IP, 31337), connected)
	expectTCP(t, i2.ID, port(i1.IP, 4000), connected)
	if err := ping(i1.ID, i2.IP, okWait); err != nil {
		t.Errorf("ping between members of the default group: %v", err)
	}
	expectTCP(t, a, port(i2.IP, 31337), timedOut)
	expectTCP(t, a, port(i1.IP, 4000), timedOut)
}

// labEgress: with the default egress revoked and one destination
// authorized, only that destination and port can be reached from the
// instance; replies to the office's SSH still go out.
func labEgress(t *testing.T, l *labServer) {
	v := newVPC(t, l.ec2, false)
	g := newGroup(t, l.ec2, v.ID, tcp(22, officeIP+"/32"))
	i := launch(t, l.ec2, v, g)
	a := l.addHost(t, "us-east-1", v.ID, officeIP, "")
	b := l.addHost(t, "us-east-1", v.ID, strangerIP, "")
	waitNS(t, i.ID, a, b)
	serveTCP(t, a, 443)
	serveTCP(t, a, 444)
	serveTCP(t, b, 443)
	serveTCP(t, i.ID, 22)
	eventuallyTCP(t, i.ID, port(stranger, 443), connected)

	revokeEgress(t, l.ec2, g, allTraffic("0.0.0.0/0"))
	authorizeEgress(t, l.ec2, g, tcp(443, officeIP+"/32"))
	eventuallyTCP(t, i.ID, port(stranger, 443), timedOut)
	expectTCP(t, i.ID, port(office, 443), connected)
	expectTCP(t, i.ID, port(office, 444), timedOut)
	expectTCP(t, a, port(i.IP, 22), connected)
}

// labUDPAndICMP: a datagram from the allowed address is answered, one from
// elsewhere never arrives; ICMP rules match by type: echo requests
// (type 8) from the office are answered, the stranger's (only type 3 is
// open to it) are not.
func labUDPAndICMP(t *testing.T, l *labServer) {
	v := newVPC(t, l.ec2, false)
	g := newGroup(t, l.ec2, v.ID, udp(5353, officeIP+"/32"),
		perm("icmp", 8, -1, officeIP+"/32"), perm("icmp", 3, -1, strangerIP+"/32"))
	i := launch(t, l.ec2, v, g)
	a := l.addHost(t, "us-east-1", v.ID, officeIP, "")
	b := l.addHost(t, "us-east-1", v.ID, strangerIP, "")
	waitNS(t, i.ID, a, b)
	seen := serveUDP(t, i.ID, 5353)
	dns := port(i.IP, 5353)
	eventually(t, "udp echo office → instance", "yes", func() string { return yesNo(udpEcho(a, dns, onceWait)) })
	if udpEcho(b, dns, blockedWait) || seen.Saw(stranger) {
		t.Errorf("a datagram from the stranger reached the instance")
	}
	if err := ping(a, i.IP, okWait); err != nil {
		t.Errorf("ping from the office (icmp type 8 allowed): %v", err)
	}
	if err := ping(b, i.IP, blockedWait); err == nil {
		t.Errorf("ping from the stranger answered; only icmp type 3 is open to it")
	}
}

// labIPv6: rules on ::/0 and on a /128 decide IPv6 traffic, an IPv6 rule
// opens nothing for IPv4, and ICMPv6 echo requests (type 128) need their
// rule.
func labIPv6(t *testing.T, l *labServer) {
	v := newVPC(t, l.ec2, true)
	g := newGroup(t, l.ec2, v.ID, tcp(22, "::/0"), tcp(80, officeIP6+"/128"))
	i := launchWith(t, l.ec2, ec2.RunInstancesInput{SubnetId: aws.String(v.Subnet),
		SecurityGroupIds: []string{g}, Ipv6AddressCount: aws.Int32(1)})
	if !i.IP6.IsValid() || !v.IPv6.Contains(i.IP6) {
		t.Fatalf("instance IPv6 address %v, want one in %v", i.IP6, v.IPv6)
	}
	a := l.addHost(t, "us-east-1", v.ID, officeIP, officeIP6)
	b := l.addHost(t, "us-east-1", v.ID, strangerIP, strangerIP6)
	waitNS(t, i.ID, a, b)
	serveTCP(t, i.ID, 22)
	serveTCP(t, i.ID, 80)
	eventuallyTCP(t, a, port(i.IP6, 22), connected)
	expectTCP(t, b, port(i.IP6, 22), connected)
	expectTCP(t, a, port(i.IP6, 80), connected)
	expectTCP(t, b, port(i.IP6, 80), timedOut)
	expectTCP(t, a, port(i.IP, 22), timedOut)
	expectTCP(t, a, port(i.IP, 80), timedOut)

	if err := ping(a, i.IP6, blockedWait); err == nil {
		t.Errorf("ping6 answered without an icmpv6 rule")
	}
	authorizeIngress(t, l.ec2, g, perm("icmpv6", 128, -1, officeIP6+"/128"))
	eventually(t, "ping6 office → instance", "yes", func() string { return yesNo(ping(a, i.IP6, onceWait) == nil) })
	if err := ping(b, i.IP6, blockedWait); err == nil {
		t.Errorf("ping6 from the stranger answered; icmpv6 is open to the office only")
	}
}

// labUnion: an interface's policy is the union of its groups.
func labUnion(t *testing.T, l *labServer) {
	v := newVPC(t, l.ec2, false)
	g1 := newGroup(t, l.ec2, v.ID, tcp(8001, "0.0.0.0/0"))
	g2 := newGroup(t, l.ec2, v.ID, tcp(8002, "0.0.0.0/0"))
	both, one := launch(t, l.ec2, v, g1, g2), launch(t, l.ec2, v, g1)
	a := l.addHost(t, "us-east-1", v.ID, officeIP, "")
	waitNS(t, both.ID, one.ID, a)
	for _, i := range []labInstance{both, one} {
		for _, p := range []uint16{8001, 8002, 8003} {
			serveTCP(t, i.ID, p)
		}
	}
	eventuallyTCP(t, a, port(both.IP, 8001), connected)
	expectTCP(t, a, port(both.IP, 8002), connected)
	expectTCP(t, a, port(both.IP, 8003), timedOut)
	expectTCP(t, a, port(one.IP, 8001), connected)
	expectTCP(t, a, port(one.IP, 8002), timedOut)
}

// labOverlappingVPCs: the default VPCs of two regions are both
// 172.31.0.0/16; an instance in each has the same private address, and
// each answers its own VPC's host (which has the same address too). An
// address that exists only in the other VPC is out of reach.
func labOverlappingVPCs(t *testing.T, l *labServer) {
	same := netip.MustParseAddr("172.31.5.9")
	var insts [2]labInstance
	var hosts [2]string
	var twin labInstance // us-west-2 only
	for k, c := range []*ec2.Client{l.ec2, l.ec2In(l.adminKey(), "us-west-2")} {
		vpc := defaultVPC(t, c)
		g := newGroup(t, c, vpc, tcp(7000, "0.0.0.0/0"))
		insts[k] = launchWith(t, c, ec2.RunInstancesInput{SecurityGroupIds: []string{g}, PrivateIpAddress: aws.String(same.String())})
		hosts[k] = l.addHost(t, c.Options().Region, vpc, officeIP, "")
		if k == 1 {
			twin = launchWith(t, c, ec2.RunInstancesInput{SecurityGroupIds: []string{g}, PrivateIpAddress: aws.String("172.31.5.10")})
		}
	}
	waitNS(t, insts[0].ID, insts[1].ID, twin.ID, hosts[0], hosts[1])
	for _, i := range []labInstance{insts[0], insts[1], twin} {
		serveTCP(t, i.ID, 7000)
	}
	dst := port(same, 7000)
	for k := range insts {
		eventually(t, fmt.Sprintf("greeting of %s to %s", dst, hosts[k]), insts[k].ID, func() string {
			c, err := labtest.Dial(hosts[k], dst, okWait)
			if err != nil {
				return outcome(err)
			}
			c.Close()
			return c.Server
		})
	}
	expectTCP(t, insts[1].ID, port(twin.IP, 7000), connected)
	for _, from := range []string{insts[0].ID, hosts[0]} {
		if got := knock(from, port(twin.IP, 7000), timedOut); got == connected {
			t.Errorf("%s in us-east-1 reached %s, which exists only in us-west-2", from, twin.IP)
		}
	}
}

// defaultVPC returns the caller's default VPC in c's region, 172.31.0.0/16.
func defaultVPC(t *testing.T, c *ec2.Client) string {
	t.Helper()
	vpcs, err := c.DescribeVpcs(t.Context(), &ec2.DescribeVpcsInput{
		Filters: []types.Filter{{Name: aws.String("is-default"), Values: []string{"true"}}}})
	if err != nil || len(vpcs.Vpcs) != 1 || aws.ToString(vpcs.Vpcs[0].CidrBlock) != "172.31.0.0/16" {
		t.Fatalf("default vpc of %s: %v %+v", c.Options().Region, err, vpcs)
	}
	return aws.ToString(vpcs.Vpcs[0].VpcId)
}

// What the agent logs when it finds a router's table changed by hand, and
// when it has replaced the whole table.
const (
	driftLine      = `msg="firewall table changed outside palisade; restoring it"`
	programmedLine = `msg="firewall programmed"`
)

// labDriftRepair: deleting or flushing the palisade table in the router
// namespace by hand, or adding a rule to it, is noticed and repaired by the
// agent, which says so in its log, and the rules are back in force.
func labDriftRepair(t *testing.T, l *labServer) {
	testutil.RequireCommand(t, "nft")
	v := newVPC(t, l.ec2, false)
	g := newGroup(t, l.ec2, v.ID, tcp(22, officeIP+"/32"))
	i := launch(t, l.ec2, v, g)
	a := l.addHost(t, "us-east-1", v.ID, officeIP, "")
	b := l.addHost(t, "us-east-1", v.ID, strangerIP, "")
	router := "palisade-" + v.ID
	waitNS(t, i.ID, a, b, router)
	serveTCP(t, i.ID, 22)
	ssh := port(i.IP, 22)
	eventuallyTCP(t, a, ssh, connected)

	for _, edit := range [][]string{
		{"delete", "table", "inet", "palisade"},
		{"flush", "table", "inet", "palisade"},
		{"insert", "rule", "inet", "palisade", "fwd_ingress", "accept"}, // opens every port to every host
	} {
		noticed, rebuilt := l.logged(driftLine, v.ID), l.logged(programmedLine, v.ID)
		if out, err := exec.Command("ip", append([]string{"netns", "exec", router, "nft"}, edit...)...).CombinedOutput(); err != nil {
			t.Fatalf("nft %s: %v\n%s", strings.Join(edit, " "), err, out)
		}
		eventually(t, "the agent noticed and rebuilt after nft "+strings.Join(edit, " "), "yes", func() string {
			return yesNo(l.logged(driftLine, v.ID) > noticed && l.logged(programmedLine, v.ID) > rebuilt)
		})
		expectTCP(t, a, ssh, connected)
		expectTCP(t, b, ssh, timedOut)
		out, err := exec.Command("ip", "netns", "exec", router, "nft", "list", "table", "inet", "palisade").CombinedOutput()
		if err != nil || !strings.Contains(string(out), officeIP) {
			t.Errorf("after the repair the table lacks the rule's address %s: %v\n%s", officeIP, err, out)
		}
	}
}

// labLifecycle: terminating an instance removes its namespace; stopping
// removes it too and starting brings it back, with the same address and
// rules.
func labLifecycle(t *testing.T, l *labServer) {
	v := newVPC(t, l.ec2, false)
	g := newGroup(t, l.ec2, v.ID, tcp(22, officeIP+"/32"))
	doomed, sleeper := launch(t, l.ec2, v, g), launch(t, l.ec2, v, g)
	a := l.addHost(t, "us-east-1", v.ID, officeIP, "")
	waitNS(t, doomed.ID, sleeper.ID, a)
	serveTCP(t, sleeper.ID, 22)
	eventuallyTCP(t, a, port(sleeper.IP, 22), connected)

	if _, err := l.ec2.TerminateInstances(t.Context(), &ec2.TerminateInstancesInput{InstanceIds: []string{doomed.ID}}); err != nil {
		t.Fatal(err)
	}
	waitNSGone(t, doomed.ID)

	if _, err := l.ec2.StopInstances(t.Context(), &ec2.StopInstancesInput{InstanceIds: []string{sleeper.ID}}); err != nil {
		t.Fatal(err)
	}
	waitNSGone(t, sleeper.ID)
	if _, err := l.ec2.StartInstances(t.Context(), &ec2.StartInstancesInput{InstanceIds: []string{sleeper.ID}}); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, l.ec2, sleeper.ID)
	serveTCP(t, sleeper.ID, 22)
	eventuallyTCP(t, a, port(sleeper.IP, 22), connected)
}

// labDeleteVPC: deleting a VPC removes its router namespace, and the server
// keeps no descriptor of it (which would keep the namespace, its firewall
// and its connection tracking alive in the kernel).
func labDeleteVPC(t *testing.T, l *labServer) {
	v := newVPC(t, l.ec2, false)
	router := "palisade-" + v.ID
	waitNS(t, router) // a namespace is mounted on the name: before, its identity is a plain file's
	var ns syscall.Stat_t
	if err := syscall.Stat(filepath.Join(netnsDir, router), &ns); err != nil {
		t.Fatal(err)
	}
	// The agent opens the namespace to install its table right after the
	// lab creates it.
	for deadline := time.Now().Add(5 * time.Second); !holds(l.cmd.Process.Pid, ns); time.Sleep(retryEvery) {
		if time.Now().After(deadline) {
			t.Fatalf("palisade serve holds no descriptor of %s: the check below would prove nothing", router)
		}
	}
	if _, err := l.ec2.DeleteSubnet(t.Context(), &ec2.DeleteSubnetInput{SubnetId: aws.String(v.Subnet)}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ec2.DeleteVpc(t.Context(), &ec2.DeleteVpcInput{VpcId: aws.String(v.ID)}); err != nil {
		t.Fatal(err)
	}
	waitNSGone(t, router)
	// The agent lets go right after it deletes the namespace.
	for deadline := time.Now().Add(10 * time.Second); holds(l.cmd.Process.Pid, ns); time.Sleep(retryEvery) {
		if time.Now().After(deadline) {
			t.Fatalf("palisade serve still holds the deleted router namespace of %s open", v.ID)
		}
	}
}

// holds reports whether process pid has a descriptor open on the file
// (here: the namespace) that st describes.
func holds(pid int, st syscall.Stat_t) bool {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		var fd syscall.Stat_t
		if syscall.Stat(filepath.Join(dir, e.Name()), &fd) == nil && fd.Dev == st.Dev && fd.Ino == st.Ino {
			return true
		}
	}
	return false
}
