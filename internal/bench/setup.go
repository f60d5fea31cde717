package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"palisade.dev/palisade/internal/model"
)

// Ports of the benchmark's traffic on the server instance.
const (
	connPort   = 5201 // connection rate (the traffic helper)
	bulkPort   = 5202 // throughput (the traffic helper)
	memberPort = 7001 // membership latency: open to the referenced group
	rulePort   = 7100 // rule-change latency: sample i opens rulePort+i for the lab host
)

// Addressing of the benchmark's VPC: instances in the first /20, the
// referenced group's member interfaces in the /20s after it.
const (
	vpcCIDR      = "10.0.0.0/16"
	benchHostIP  = "198.51.100.10"
	membersPerSN = 4000 // of the 4,091 usable addresses of a /20
)

// instanceInfo is one instance the benchmark launched.
type instanceInfo struct {
	id   string
	eni  string
	addr netip.Addr
}

// scenario is what the benchmark creates through the API: the VPC, its
// groups, the instances that carry traffic and rules, the referenced
// group's members and a lab host.
type scenario struct {
	vpc, subnet string
	member      string   // R: the referenced group
	server      string   // S: lets R reach the traffic and membership ports
	heavy       string   // H: the one interface's 1,000 rules
	prober      string   // P: the prober's group (default egress only)
	ruleGroups  []string // one per rule-carrying interface
	manyGroups  []string // the many-groups server's CIDR-rule groups
	srv, cli    instanceInfo
	many        instanceInfo // the many-groups server: manyGroups, then S
	probe       instanceInfo // joins R and leaves it again (membership latency)
	ruleInst    []instanceInfo
	hostName    string // the lab host's namespace
	hostAddr    netip.Addr
	members     int
}

// builder creates the scenario through the EC2 API, printing progress.
type builder struct {
	cp   *controlPlane
	cfg  DataplaneConfig
	rng  *rand.Rand
	sc   *scenario
	note func(format string, args ...any)
}

func (b *builder) ec2() *ec2.Client { return b.cp.ec2 }

// build runs every step in order.
func (b *builder) build(ctx context.Context) error {
	// The members come first, before the groups with many rules, so that
	// the agent's compiles while they arrive are small.
	steps := []struct {
		what string
		fn   func(context.Context) error
	}{
		{"VPC, subnet and referenced group", b.network},
		{fmt.Sprintf("%d member interfaces of the referenced group", b.cfg.Members), b.memberENIs},
		{"groups and rules", b.rules},
		{"instances", b.instances},
		{"lab host", b.labHost},
	}
	for _, s := range steps {
		start := time.Now()
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("create %s: %w", s.what, err)
		}
		b.note("created %s in %s", s.what, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

func (b *builder) network(ctx context.Context) error {
	v, err := b.ec2().CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String(vpcCIDR)})
	if err != nil {
		return err
	}
	b.sc.vpc = aws.ToString(v.Vpc.VpcId)
	if b.sc.subnet, err = b.createSubnet(ctx, "10.0.0.0/20"); err != nil {
		return err
	}
	b.sc.member, err = b.createGroup(ctx, "members")
	return err
}

// groups creates the server's, the heavy interface's, the prober's and the
// rule-carrying interfaces' groups.
func (b *builder) groups(ctx context.Context) error {
	var err error
	for _, g := range []struct {
		name string
		id   *string
	}{{"server", &b.sc.server}, {"heavy", &b.sc.heavy}, {"prober", &b.sc.prober}} {
		if *g.id, err = b.createGroup(ctx, g.name); err != nil {
			return err
		}
	}
	for i := range b.cfg.ManyGroups {
		id, err := b.createGroup(ctx, fmt.Sprintf("many-%d", i))
		if err != nil {
			return err
		}
		b.sc.manyGroups = append(b.sc.manyGroups, id)
	}
	for i := range b.cfg.Interfaces {
		id, err := b.createGroup(ctx, fmt.Sprintf("rules-%d", i))
		if err != nil {
			return err
		}
		b.sc.ruleGroups = append(b.sc.ruleGroups, id)
	}
	return nil
}

func (b *builder) createSubnet(ctx context.Context, cidr string) (string, error) {
	sn, err := b.ec2().CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: aws.String(b.sc.vpc), CidrBlock: aws.String(cidr)})
	if err != nil {
		return "", err
	}
	return aws.ToString(sn.Subnet.SubnetId), nil
}

func (b *builder) createGroup(ctx context.Context, name string) (string, error) {
	g, err := b.ec2().CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		VpcId: aws.String(b.sc.vpc), GroupName: aws.String(name), Description: aws.String("palisade bench " + name)})
	if err != nil {
		return "", err
	}
	return aws.ToString(g.GroupId), nil
}

// rules creates the groups, then authorizes the server's two rules, the
// heavy group's rules, the many-groups server's groups' rules and every
// rule group's rules. Rules that must not match the benchmark's traffic
// use sources in 10.160–164, 10.201–202, 10.210–214 and 10.251–252.0.0/16
// (nothing sends from there) or, for group references, ports 3000–3999.
func (b *builder) rules(ctx context.Context) error {
	if err := b.groups(ctx); err != nil {
		return err
	}
	serverRules := []types.IpPermission{
		tcpFromGroup(connPort, bulkPort, b.sc.member),
		tcpFromGroup(memberPort, memberPort, b.sc.member),
	}
	if err := b.authorize(ctx, b.sc.server, serverRules); err != nil {
		return err
	}
	heavy := b.fillerRules(b.cfg.HeavyRules, 201, []string{b.sc.member, b.sc.prober})
	if err := b.authorize(ctx, b.sc.heavy, heavy); err != nil {
		return err
	}
	for i, g := range b.sc.manyGroups {
		if err := b.authorize(ctx, g, b.fillerRules(b.cfg.ManyGroupRules, byte(160+i%40), nil)); err != nil {
			return err
		}
	}
	for _, g := range b.sc.ruleGroups {
		refs := []string{b.sc.member, pick(b.rng, b.sc.ruleGroups)}
		if err := b.authorize(ctx, g, b.fillerRules(b.cfg.RulesPerInterface, 202, refs)); err != nil {
			return err
		}
	}
	return nil
}

// authorize adds the permissions to a group's ingress, 100 per request.
func (b *builder) authorize(ctx context.Context, group string, perms []types.IpPermission) error {
	var tags []types.TagSpecification
	if b.cfg.Expiring {
		tags = []types.TagSpecification{{ResourceType: types.ResourceTypeSecurityGroupRule, Tags: []types.Tag{{
			Key: aws.String(model.ExpiresAtTag), Value: aws.String(time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339))}}}}
	}
	for len(perms) > 0 {
		n := min(100, len(perms))
		_, err := b.ec2().AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
			GroupId: aws.String(group), IpPermissions: perms[:n], TagSpecifications: tags})
		if err != nil {
			return err
		}
		perms = perms[n:]
	}
	return nil
}

// fillerRules returns n rules that never match the benchmark's traffic: 24
// of every 25 allow one TCP or UDP port (or a small range) from a /32 or
// /24 of 10.<net>.0.0/16 (or 10.<net+50>), the 25th a port of 3000–3999
// from one of refs (with no refs, a CIDR rule like the others).
func (b *builder) fillerRules(n int, net byte, refs []string) []types.IpPermission {
	out := make([]types.IpPermission, 0, n)
	for i := range n {
		from := int32(10000 + b.rng.IntN(50000))
		to := from
		if b.rng.IntN(5) == 0 {
			to += int32(b.rng.IntN(100))
		}
		proto := "tcp"
		if b.rng.IntN(4) == 0 {
			proto = "udp"
		}
		if i%25 == 24 && len(refs) > 0 {
			port := int32(3000 + i/25%1000)
			out = append(out, tcpFromGroup(port, port, refs[i/25%len(refs)]))
			continue
		}
		cidr := fmt.Sprintf("10.%d.%d.%d/32", net, i/250, i%250+1)
		if i%7 == 0 {
			cidr = fmt.Sprintf("10.%d.%d.0/24", net+50, i/7%256)
		}
		out = append(out, types.IpPermission{IpProtocol: aws.String(proto), FromPort: aws.Int32(from), ToPort: aws.Int32(to),
			IpRanges: []types.IpRange{{CidrIp: aws.String(cidr)}}})
	}
	return out
}

func tcpFromGroup(from, to int32, group string) types.IpPermission {
	return types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(from), ToPort: aws.Int32(to),
		UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: aws.String(group)}}}
}

// memberENIs creates the referenced group's members: unattached
// interfaces in /20 subnets after the instances', by several workers.
func (b *builder) memberENIs(ctx context.Context) error {
	var subnets []string
	for i := 0; i*membersPerSN < b.cfg.Members; i++ {
		sn, err := b.createSubnet(ctx, fmt.Sprintf("10.0.%d.0/20", 16*(i+1)))
		if err != nil {
			return err
		}
		subnets = append(subnets, sn)
	}
	var next, done atomic.Int64
	start := time.Now()
	work := func() error {
		for {
			i := int(next.Add(1)) - 1
			if i >= b.cfg.Members {
				return nil
			}
			// An empty ClientToken stops the SDK from drawing one: these
			// calls are never retried by hand, so a token buys nothing.
			_, err := b.ec2().CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{
				SubnetId: aws.String(subnets[i/membersPerSN]), Groups: []string{b.sc.member}, ClientToken: aws.String("")})
			if err != nil {
				return err
			}
			if n := done.Add(1); n%1000 == 0 {
				b.note("  %d member interfaces (%s)", n, time.Since(start).Round(time.Second))
			}
		}
	}
	b.sc.members = b.cfg.Members
	return parallel(4, work)
}

// instances launches the traffic server (heavy group first, then the
// server group), the client (a member of the referenced group), the prober
// and the rule-carrying instances (50 per RunInstances, then each gets its
// own group).
func (b *builder) instances(ctx context.Context) error {
	var err error
	if b.sc.srv, err = b.runOne(ctx, b.sc.heavy, b.sc.server); err != nil {
		return err
	}
	if b.sc.many, err = b.runOne(ctx, append(slices.Clone(b.sc.manyGroups), b.sc.server)...); err != nil {
		return err
	}
	if b.sc.cli, err = b.runOne(ctx, b.sc.member); err != nil {
		return err
	}
	if b.sc.probe, err = b.runOne(ctx, b.sc.prober); err != nil {
		return err
	}
	for len(b.sc.ruleInst) < len(b.sc.ruleGroups) {
		n := min(50, len(b.sc.ruleGroups)-len(b.sc.ruleInst))
		got, err := b.run(ctx, n, b.sc.ruleGroups[0])
		if err != nil {
			return err
		}
		b.sc.ruleInst = append(b.sc.ruleInst, got...)
	}
	for i, inst := range b.sc.ruleInst[1:] {
		if err := b.setGroups(ctx, inst.eni, b.sc.ruleGroups[i+1]); err != nil {
			return err
		}
	}
	return nil
}

func (b *builder) runOne(ctx context.Context, groups ...string) (instanceInfo, error) {
	got, err := b.run(ctx, 1, groups...)
	if err != nil {
		return instanceInfo{}, err
	}
	return got[0], nil
}

func (b *builder) run(ctx context.Context, n int, groups ...string) ([]instanceInfo, error) {
	out, err := b.ec2().RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId: aws.String("lab"), MinCount: aws.Int32(int32(n)), MaxCount: aws.Int32(int32(n)),
		SubnetId: aws.String(b.sc.subnet), SecurityGroupIds: groups})
	if err != nil {
		return nil, err
	}
	var got []instanceInfo
	for _, inst := range out.Instances {
		info := instanceInfo{id: aws.ToString(inst.InstanceId)}
		if len(inst.NetworkInterfaces) > 0 {
			info.eni = aws.ToString(inst.NetworkInterfaces[0].NetworkInterfaceId)
		}
		info.addr, err = netip.ParseAddr(aws.ToString(inst.PrivateIpAddress))
		if err != nil || info.eni == "" {
			return nil, fmt.Errorf("RunInstances answered instance %s without an interface or address", info.id)
		}
		got = append(got, info)
	}
	if len(got) != n {
		return nil, fmt.Errorf("RunInstances launched %d instances, want %d", len(got), n)
	}
	return got, nil
}

// setGroups replaces the groups of an interface.
func (b *builder) setGroups(ctx context.Context, eni string, groups ...string) error {
	_, err := b.ec2().ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: aws.String(eni), Groups: groups})
	return err
}

// labHost adds an "outside computer" to the VPC: the rule-change latency
// opens a port for its address.
func (b *builder) labHost(ctx context.Context) error {
	name := "pbh-" + randHex(8)
	b.sc.hostName = model.LabHostNamespace(b.cp.account, name)
	b.sc.hostAddr = netip.MustParseAddr(benchHostIP)
	return b.cp.call(ctx, "PalisadeCreateLabHost", url.Values{
		"Name": {name}, "VpcId": {b.sc.vpc}, "Ipv4Address": {benchHostIP}})
}

// parallel runs fn in n goroutines and returns the first error.
func parallel(n int, fn func() error) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = fn() })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
