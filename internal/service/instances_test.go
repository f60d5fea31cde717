package service_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policytest"
	"palisade.dev/palisade/internal/service"
	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/bolt"
	"palisade.dev/palisade/internal/store/mem"
)

// Helpers shared by this package's external tests (enis, addresses, tags,
// prefix lists, attributes).

var (
	ctx = context.Background()
	bob = service.Caller{Account: "210987654321", Region: "us-east-1"}
)

// clock is a fake clock tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fixture is a service over a fresh in-memory store.
type fixture struct {
	*service.Service
	clock *clock
	t     *testing.T
}

func newFixture(t *testing.T) *fixture {
	return newFixtureConfig(t, service.DefaultConfig())
}

func newFixtureConfig(t *testing.T, cfg service.Config) *fixture {
	t.Helper()
	st := mem.New(mem.Options{})
	t.Cleanup(func() { st.Close() })
	return newFixtureOn(t, st, cfg)
}

func newFixtureOn(t *testing.T, st store.Store, cfg service.Config) *fixture {
	t.Helper()
	clk := &clock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	s, err := service.New(st, cfg, service.WithRand(rand.NewChaCha8([32]byte{42})), service.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{Service: s, clock: clk, t: t}
}

func p32(v int32) *int32 { return &v }
func p64(v int64) *int64 { return &v }
func pstr(s string) *string {
	return &s
}
func pbool(b bool) *bool { return &b }

// wantErr fails unless err has the code and its message contains msg.
func wantErr(t *testing.T, err error, code, msg string) {
	t.Helper()
	if model.CodeOf(err) != code || !strings.Contains(errText(err), msg) {
		t.Fatalf("err = %v, want %s containing %q", err, code, msg)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func (f *fixture) vpc(c service.Caller, cidr string, v6 bool) *model.VPC {
	f.t.Helper()
	return must[*model.VPC](f.t)(f.CreateVpc(ctx, c, service.CreateVpcInput{CIDR: cidr, IPv6: v6}))
}

func (f *fixture) subnet(c service.Caller, vpc model.VpcID, cidr, v6, zone string) *model.Subnet {
	f.t.Helper()
	return must[*model.Subnet](f.t)(f.CreateSubnet(ctx, c, service.CreateSubnetInput{VpcID: string(vpc), CIDR: cidr, IPv6CIDR: v6, Zone: zone}))
}

func (f *fixture) group(c service.Caller, name string, vpc model.VpcID) *model.SecurityGroup {
	f.t.Helper()
	return must[*model.SecurityGroup](f.t)(f.CreateSecurityGroup(ctx, c, service.CreateSecurityGroupInput{Name: name, Description: name, VpcID: string(vpc)}))
}

func (f *fixture) run(c service.Caller, in service.RunInstancesInput) *service.Reservation {
	f.t.Helper()
	if in.ImageID == "" {
		in.ImageID = "lab"
	}
	if in.MinCount == nil {
		in.MinCount, in.MaxCount = p32(1), p32(1)
	}
	return must[*service.Reservation](f.t)(f.RunInstances(ctx, c, in))
}

func (f *fixture) eni(c service.Caller, in service.CreateNetworkInterfaceInput) *service.NetworkInterface {
	f.t.Helper()
	return must[*service.NetworkInterface](f.t)(f.CreateNetworkInterface(ctx, c, in))
}

func (f *fixture) describeInstance(c service.Caller, id model.InstanceID) service.InstanceView {
	f.t.Helper()
	rs, _, err := f.DescribeInstances(ctx, c, service.DescribeInstancesInput{IDs: []string{string(id)}})
	if err != nil {
		f.t.Fatal(err)
	}
	return rs[0].Instances[0]
}

func (f *fixture) describeENI(c service.Caller, id model.ENIID) service.NetworkInterface {
	f.t.Helper()
	ns, _, err := f.DescribeNetworkInterfaces(ctx, c, service.DescribeNetworkInterfacesInput{IDs: []string{string(id)}})
	if err != nil {
		f.t.Fatal(err)
	}
	return ns[0]
}

// defaultSubnet returns the caller's default subnet of zone.
func (f *fixture) defaultSubnet(c service.Caller, zone string) model.Subnet {
	f.t.Helper()
	sns, _, err := f.DescribeSubnets(ctx, c, nil, []service.Filter{{Name: "default-for-az", Values: []string{"true"}}, {Name: "availability-zone", Values: []string{zone}}}, service.Page{})
	if err != nil || len(sns) != 1 {
		f.t.Fatalf("default subnet of %s: %v %v", zone, sns, err)
	}
	return sns[0]
}

var addr = policytest.Addr

func TestRunInstancesDefaults(t *testing.T) {
	f := newFixture(t)
	res := f.run(bob, service.RunInstancesInput{})
	if !strings.HasPrefix(string(res.ID), "r-") || res.Owner != bob.Account || len(res.Instances) != 1 {
		t.Fatalf("reservation %+v", res)
	}
	inst := res.Instances[0]
	def := f.defaultSubnet(bob, "us-east-1a")
	switch {
	case inst.State != model.StatePending:
		t.Errorf("RunInstances answered %s, want pending", inst.State)
	case inst.InstanceType != "t3.micro" || inst.ImageID != "lab":
		t.Errorf("type %s image %s", inst.InstanceType, inst.ImageID)
	case inst.Subnet != def.ID || inst.VPC != def.VPC || inst.Zone != "us-east-1a":
		t.Errorf("placed in %s %s %s, want the default subnet of us-east-1a", inst.Subnet, inst.VPC, inst.Zone)
	case inst.PrivateIP != addr("172.31.0.4") || inst.PrivateDNSName != "ip-172-31-0-4.ec2.internal":
		t.Errorf("address %s %s, want the first after the four reserved", inst.PrivateIP, inst.PrivateDNSName)
	case len(inst.GroupSet) != 1 || inst.GroupSet[0].Name != "default":
		t.Errorf("groups %+v, want the default group", inst.GroupSet)
	case len(inst.Interfaces) != 1:
		t.Fatalf("interfaces %+v", inst.Interfaces)
	}
	eni := inst.Interfaces[0]
	a := eni.Attachment
	if a == nil || a.DeviceIndex != 0 || !a.DeleteOnTermination || a.Instance != inst.ID || !strings.HasPrefix(string(a.ID), "eni-attach-") {
		t.Errorf("primary attachment %+v", a)
	}
	if !strings.HasPrefix(eni.MAC, "02:") || len(eni.MAC) != 17 || eni.Status() != "in-use" || !eni.SourceDestCheck {
		t.Errorf("primary interface %+v", eni)
	}
	// DescribeInstances shows the instance running (see instances.go).
	if got := f.describeInstance(bob, inst.ID); got.State != model.StateRunning || got.LaunchTime.IsZero() {
		t.Errorf("described as %s", got.State)
	}
}

func TestRunInstancesErrors(t *testing.T) {
	f := newFixture(t)
	other := f.vpc(bob, "10.9.0.0/16", false)
	otherSub := f.subnet(bob, other.ID, "10.9.1.0/24", "", "us-east-1b")
	otherGroup := f.group(bob, "elsewhere", other.ID)
	var six []string
	for i := range 6 {
		six = append(six, string(f.group(bob, "g"+string(rune('a'+i)), "").ID))
	}
	def := f.defaultSubnet(bob, "us-east-1a")
	one := p32(1)
	cases := []struct {
		name      string
		in        service.RunInstancesInput
		code, msg string
	}{
		{"no image", service.RunInstancesInput{MinCount: one, MaxCount: one}, model.CodeMissingParameter, "ImageId"},
		{"no min", service.RunInstancesInput{ImageID: "x", MaxCount: one}, model.CodeMissingParameter, "MinCount"},
		{"no max", service.RunInstancesInput{ImageID: "x", MinCount: one}, model.CodeMissingParameter, "MaxCount"},
		{"zero", service.RunInstancesInput{ImageID: "x", MinCount: p32(0), MaxCount: one}, model.CodeInvalidParameterValue, "minCount"},
		{"min over max", service.RunInstancesInput{ImageID: "x", MinCount: p32(3), MaxCount: p32(2)}, model.CodeInvalidParameterValue, "MinCount (3)"},
		{"over the launch cap", service.RunInstancesInput{ImageID: "x", MinCount: p32(51), MaxCount: p32(60)}, "InstanceLimitExceeded", "more instances (51)"},
		{"bad type", service.RunInstancesInput{ImageID: "x", MinCount: one, MaxCount: one, InstanceType: "huge"}, model.CodeInvalidParameterValue, "'huge' for InstanceType"},
		{"bad zone", service.RunInstancesInput{ImageID: "x", MinCount: one, MaxCount: one, Zone: "us-east-1q"}, model.CodeInvalidParameterValue, "Invalid availability zone"},
		{"zone and subnet disagree", service.RunInstancesInput{ImageID: "x", MinCount: one, MaxCount: one, Zone: "us-east-1b", SubnetID: string(def.ID)}, model.CodeInvalidParameterValue, "us-east-1a"},
		{"group name with subnet", service.RunInstancesInput{ImageID: "x", MinCount: one, MaxCount: one, SubnetID: string(def.ID), GroupNames: []string{"default"}}, model.CodeInvalidParameterCombination, "The parameter groupName cannot be used with the parameter subnet"},
		{"group of another vpc", service.RunInstancesInput{ImageID: "x", MinCount: one, MaxCount: one, GroupIDs: []string{string(otherGroup.ID)}}, model.CodeInvalidParameter, "Security group " + string(otherGroup.ID) + " and subnet " + string(def.ID) + " belong to different networks."},
		{"unknown group", service.RunInstancesInput{ImageID: "x", MinCount: one, MaxCount: one, GroupIDs: []string{"sg-0123456789abcdef0"}}, model.CodeInvalidGroupNotFound, "does not exist in VPC '" + string(def.VPC) + "'"},
		{"malformed group", service.RunInstancesInput{ImageID: "x", MinCount: one, MaxCount: one, GroupIDs: []string{"web"}}, model.CodeInvalidGroupIDMalformed, "web"},
		{"unknown group name", service.RunInstancesInput{ImageID: "x", MinCount: one, MaxCount: one, GroupNames: []string{"nope"}}, model.CodeInvalidGroupNotFound, "does not exist in default VPC"},
		{"six groups", service.RunInstancesInput{ImageID: "x", MinCount: one, MaxCount: one, GroupIDs: six}, model.CodeGroupLimitExceeded, "security groups allowed per instance"},
		{"unknown subnet", service.RunInstancesInput{ImageID: "x", MinCount: one, MaxCount: one, SubnetID: "subnet-0123456789abcdef0"}, model.CodeInvalidSubnetIDNotFound, "subnet-0123456789abcdef0"},
		{"private ip with two", service.RunInstancesInput{ImageID: "x", MinCount: one, MaxCount: p32(2), PrivateIP: "172.31.0.50"}, model.CodeInvalidParameterCombination, "single instance"},
		{"private ip outside", service.RunInstancesInput{ImageID: "x", MinCount: one, MaxCount: one, PrivateIP: "10.0.0.5"}, model.CodeInvalidParameterValue, "does not fall within the subnet's address range"},
		{"ipv6 without a block", service.RunInstancesInput{ImageID: "x", MinCount: one, MaxCount: one, IPv6AddressCount: 1}, model.CodeInvalidParameterValue, "no IPv6 CIDR block"},
		{"interfaces and subnet", service.RunInstancesInput{ImageID: "x", MinCount: one, MaxCount: one, SubnetID: string(def.ID),
			Interfaces: []service.InterfaceSpec{{DeviceIndex: p32(0)}}}, model.CodeInvalidParameterCombination, "instance-level subnet ID"},
		{"interfaces and groups", service.RunInstancesInput{ImageID: "x", MinCount: one, MaxCount: one, GroupIDs: six[:1],
			Interfaces: []service.InterfaceSpec{{DeviceIndex: p32(0)}}}, model.CodeInvalidParameterCombination, "instance-level security groups"},
		{"no device 0", service.RunInstancesInput{ImageID: "x", MinCount: one, MaxCount: one,
			Interfaces: []service.InterfaceSpec{{DeviceIndex: p32(1)}}}, model.CodeInvalidParameterValue, "device at index 0"},
		{"no device index", service.RunInstancesInput{ImageID: "x", MinCount: one, MaxCount: one,
			Interfaces: []service.InterfaceSpec{{}}}, model.CodeInvalidParameterValue, "requires a device index"},
		{"device twice", service.RunInstancesInput{ImageID: "x", MinCount: one, MaxCount: one,
			Interfaces: []service.InterfaceSpec{{DeviceIndex: p32(0)}, {DeviceIndex: p32(0)}}}, model.CodeInvalidParameterValue, "unique device index"},
		{"interfaces in two zones", service.RunInstancesInput{ImageID: "x", MinCount: one, MaxCount: one,
			Interfaces: []service.InterfaceSpec{{DeviceIndex: p32(0)}, {DeviceIndex: p32(1), SubnetID: string(otherSub.ID)}}}, model.CodeInvalidParameterValue, "one VPC and availability zone"},
		{"interface twice", service.RunInstancesInput{ImageID: "x", MinCount: one, MaxCount: one,
			Interfaces: []service.InterfaceSpec{{DeviceIndex: p32(0), NetworkInterfaceID: "eni-0123456789abcdef0"}, {DeviceIndex: p32(1), NetworkInterfaceID: "eni-0123456789abcdef0"}}}, model.CodeInvalidParameterValue, "given twice"},
		{"unknown interface", service.RunInstancesInput{ImageID: "x", MinCount: one, MaxCount: one,
			Interfaces: []service.InterfaceSpec{{DeviceIndex: p32(0), NetworkInterfaceID: "eni-0123456789abcdef0"}}}, model.CodeInvalidNetworkInterfaceIDNotFound, "eni-0123456789abcdef0"},
		{"existing interface for two", service.RunInstancesInput{ImageID: "x", MinCount: one, MaxCount: p32(2),
			Interfaces: []service.InterfaceSpec{{DeviceIndex: p32(0), NetworkInterfaceID: "eni-0123456789abcdef0"}}}, model.CodeInvalidParameterCombination, "single instance"},
		{"existing interface with a subnet", service.RunInstancesInput{ImageID: "x", MinCount: one, MaxCount: one,
			Interfaces: []service.InterfaceSpec{{DeviceIndex: p32(0), NetworkInterfaceID: "eni-0123456789abcdef0", SubnetID: string(def.ID)}}}, model.CodeInvalidParameterCombination, "parameters of a new one"},
		{"bad conntrack", service.RunInstancesInput{ImageID: "x", MinCount: one, MaxCount: one,
			Interfaces: []service.InterfaceSpec{{DeviceIndex: p32(0), Conntrack: model.ConntrackTimeouts{UDP: 5}}}}, model.CodeInvalidParameterValue, "UdpTimeout"},
		{"tag spec of another type", service.RunInstancesInput{ImageID: "x", MinCount: one, MaxCount: one,
			TagSpecifications: []service.TagSpecification{{ResourceType: "vpc", Tags: model.Tags{{Key: "a", Value: "b"}}}}}, model.CodeInvalidParameterValue, "'vpc' is not a valid taggable resource type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.RunInstances(ctx, bob, c.in)
			wantErr(t, err, c.code, c.msg)
		})
	}
	// Nothing of the failed launches was stored.
	rs, _, err := f.DescribeInstances(ctx, bob, service.DescribeInstancesInput{})
	if err != nil || len(rs) != 0 {
		t.Fatalf("failed launches left %v %v", rs, err)
	}
}

func TestRunInstancesWithoutDefaultVPC(t *testing.T) {
	f := newFixture(t)
	vpcs, _, err := f.DescribeVpcs(ctx, bob, nil, nil, service.Page{})
	if err != nil {
		t.Fatal(err)
	}
	sns, _, _ := f.DescribeSubnets(ctx, bob, nil, nil, service.Page{})
	for _, sn := range sns {
		if err := f.DeleteSubnet(ctx, bob, string(sn.ID)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.DeleteVpc(ctx, bob, string(vpcs[0].ID)); err != nil {
		t.Fatal(err)
	}
	_, err = f.RunInstances(ctx, bob, service.RunInstancesInput{ImageID: "x", MinCount: p32(1), MaxCount: p32(1)})
	wantErr(t, err, model.CodeVPCIDNotSpecified, "No default VPC for this user")
}

func TestRunInstancesGroupsByNameAndCount(t *testing.T) {
	f := newFixture(t)
	web := f.group(bob, "web", "")
	db := f.group(bob, "db", "")
	res := f.run(bob, service.RunInstancesInput{MinCount: p32(2), MaxCount: p32(3), GroupIDs: []string{string(db.ID), string(db.ID)}, GroupNames: []string{"WEB"}})
	if len(res.Instances) != 3 {
		t.Fatalf("launched %d, want MaxCount 3", len(res.Instances))
	}
	for i, inst := range res.Instances {
		if inst.LaunchIndex != i || inst.Reservation != res.ID {
			t.Errorf("instance %d: launch index %d reservation %s", i, inst.LaunchIndex, inst.Reservation)
		}
		if len(inst.GroupSet) != 2 || inst.GroupSet[0].ID != db.ID || inst.GroupSet[1] != (service.GroupIdentifier{ID: web.ID, Name: "web"}) {
			t.Errorf("groups %+v: duplicates dropped, names resolved in the default VPC", inst.GroupSet)
		}
		if want := addr("172.31.0.4").As4(); inst.PrivateIP.As4()[3] != want[3]+byte(i) {
			t.Errorf("instance %d has %s", i, inst.PrivateIP)
		}
	}
	// As many as fit: MaxCount 100 launches maxLaunchPerCall (50).
	res = f.run(bob, service.RunInstancesInput{MinCount: p32(1), MaxCount: p32(100)})
	if len(res.Instances) != 50 {
		t.Fatalf("launched %d, want 50", len(res.Instances))
	}
}

func TestRunInstancesClientToken(t *testing.T) {
	f := newFixture(t)
	in := service.RunInstancesInput{ImageID: "lab", MinCount: p32(2), MaxCount: p32(2), ClientToken: "launch-1",
		TagSpecifications: []service.TagSpecification{{ResourceType: "instance", Tags: model.Tags{{Key: "Name", Value: "web"}}}}}
	first := f.run(bob, in)
	again := f.run(bob, in)
	if again.ID != first.ID || len(again.Instances) != 2 || again.Instances[0].ID != first.Instances[0].ID || again.Instances[1].ID != first.Instances[1].ID {
		t.Fatalf("retry launched anew: %s vs %s", again.ID, first.ID)
	}
	rs, _, _ := f.DescribeInstances(ctx, bob, service.DescribeInstancesInput{})
	if len(rs) != 1 || len(rs[0].Instances) != 2 {
		t.Fatalf("%d reservations after a retry", len(rs))
	}
	in.InstanceType = "m5.large"
	_, err := f.RunInstances(ctx, bob, in)
	wantErr(t, err, "IdempotentParameterMismatch", "inconsistent")
	in.ClientToken = strings.Repeat("x", 65)
	_, err = f.RunInstances(ctx, bob, in)
	wantErr(t, err, model.CodeInvalidParameterValue, "clientToken")
}

func TestRunInstancesNetworkInterfaces(t *testing.T) {
	f := newFixture(t)
	v := f.vpc(bob, "10.1.0.0/16", true)
	a := f.subnet(bob, v.ID, "10.1.1.0/24", subnet64(v, 1), "us-east-1a")
	b := f.subnet(bob, v.ID, "10.1.2.0/24", "", "us-east-1a")
	app := f.group(bob, "app", v.ID)
	spare := f.eni(bob, service.CreateNetworkInterfaceInput{SubnetID: string(b.ID)})
	res := f.run(bob, service.RunInstancesInput{
		Interfaces: []service.InterfaceSpec{
			{DeviceIndex: p32(1), NetworkInterfaceID: string(spare.ID)},
			{DeviceIndex: p32(0), SubnetID: string(a.ID), GroupIDs: []string{string(app.ID)}, PrivateIP: "10.1.1.99", IPv6AddressCount: 2,
				Conntrack: model.ConntrackTimeouts{TCPEstablished: 3600}},
		},
		TagSpecifications: []service.TagSpecification{{ResourceType: "network-interface", Tags: model.Tags{{Key: "k", Value: "v"}}}, {ResourceType: "volume"}},
	})
	inst := res.Instances[0]
	if len(inst.Interfaces) != 2 || inst.Subnet != a.ID || inst.PrivateIP != addr("10.1.1.99") {
		t.Fatalf("instance %+v", inst)
	}
	p, s := inst.Interfaces[0], inst.Interfaces[1]
	if p.Attachment.DeviceIndex != 0 || !p.Attachment.DeleteOnTermination || len(p.IPv6s) != 2 || p.IPv6s[0] != addrAt(v, 1, 4) ||
		p.Conntrack.TCPEstablished != 3600 || p.Tags == nil || p.GroupSet[0].ID != app.ID {
		t.Errorf("primary %+v", p)
	}
	if s.ID != spare.ID || s.Attachment.DeviceIndex != 1 || s.Attachment.DeleteOnTermination || s.Tags != nil {
		t.Errorf("attached existing interface %+v", s)
	}
	// An in-use interface cannot be given to another launch.
	_, err := f.RunInstances(ctx, bob, service.RunInstancesInput{ImageID: "x", MinCount: p32(1), MaxCount: p32(1),
		Interfaces: []service.InterfaceSpec{{DeviceIndex: p32(0), NetworkInterfaceID: string(spare.ID)}}})
	wantErr(t, err, "InvalidNetworkInterface.InUse", "Interface: ["+string(spare.ID)+"] in use.")
	// Terminating deletes the primary and detaches the other.
	if _, err := f.TerminateInstances(ctx, bob, []string{string(inst.ID)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.DescribeNetworkInterfaces(ctx, bob, service.DescribeNetworkInterfacesInput{IDs: []string{string(p.ID)}}); model.CodeOf(err) != model.CodeInvalidNetworkInterfaceIDNotFound {
		t.Errorf("primary survived termination: %v", err)
	}
	if got := f.describeENI(bob, spare.ID); got.Status() != "available" || got.Attachment != nil {
		t.Errorf("secondary after termination: %+v", got)
	}
	if got := f.describeInstance(bob, inst.ID); got.State != model.StateTerminated || len(got.Interfaces) != 0 {
		t.Errorf("terminated instance %+v", got)
	}
}

// subnet64 returns the i-th /64 of a VPC's /56.
func subnet64(v *model.VPC, i byte) string {
	b := v.IPv6CIDR.Addr().As16()
	b[7] = i
	return netip.PrefixFrom(netip.AddrFrom16(b), 64).String()
}

// addrAt returns host n of the i-th /64 of a VPC.
func addrAt(v *model.VPC, i, n byte) netip.Addr {
	b := v.IPv6CIDR.Addr().As16()
	b[7], b[15] = i, n
	return netip.AddrFrom16(b)
}

func TestTerminateFreesGroups(t *testing.T) {
	f := newFixture(t)
	g := f.group(bob, "web", "")
	res := f.run(bob, service.RunInstancesInput{GroupIDs: []string{string(g.ID)}})
	id := res.Instances[0].ID
	_, err := f.DeleteSecurityGroup(ctx, bob, service.GroupRef{ID: string(g.ID)})
	wantErr(t, err, model.CodeDependencyViolation, "has a dependent object")

	changes, err := f.TerminateInstances(ctx, bob, []string{string(id), string(id)})
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0] != (service.InstanceStateChange{ID: id, Previous: model.StateRunning, Current: model.StateShuttingDown}) {
		t.Fatalf("changes %+v", changes)
	}
	if _, err := f.DeleteSecurityGroup(ctx, bob, service.GroupRef{ID: string(g.ID)}); err != nil {
		t.Fatalf("group still in use after termination: %v", err)
	}
	changes, err = f.TerminateInstances(ctx, bob, []string{string(id)})
	if err != nil || changes[0].Previous != model.StateTerminated || changes[0].Current != model.StateTerminated {
		t.Fatalf("terminating twice: %+v %v", changes, err)
	}
	// The address is free again.
	if got := f.run(bob, service.RunInstancesInput{}).Instances[0].PrivateIP; got != addr("172.31.0.4") {
		t.Errorf("next launch got %s", got)
	}
	_, err = f.TerminateInstances(ctx, bob, []string{"i-0123456789abcdef0"})
	wantErr(t, err, model.CodeInvalidInstanceIDNotFound, "i-0123456789abcdef0")
	_, err = f.TerminateInstances(ctx, bob, []string{"instance"})
	wantErr(t, err, model.CodeInvalidInstanceIDMalformed, "instance")
	_, err = f.TerminateInstances(ctx, bob, nil)
	wantErr(t, err, model.CodeInvalidParameterCombination, "No instances specified")
	// Every unknown ID is named, and a known one among them is not
	// terminated.
	live := f.run(bob, service.RunInstancesInput{}).Instances[0].ID
	_, err = f.TerminateInstances(ctx, bob, []string{"i-0123456789abcdef0", string(live), "i-0123456789abcdef1"})
	wantErr(t, err, model.CodeInvalidInstanceIDNotFound, "The instance IDs 'i-0123456789abcdef0, i-0123456789abcdef1' do not exist")
	if v := f.describeInstance(bob, live); v.State != model.StateRunning {
		t.Errorf("%s is %s after a failed terminate", live, v.State)
	}
}

func TestTerminatedInstancesExpire(t *testing.T) {
	f := newFixture(t)
	id := f.run(bob, service.RunInstancesInput{}).Instances[0].ID
	if _, err := f.TerminateInstances(ctx, bob, []string{string(id)}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(59 * time.Minute)
	if got := f.describeInstance(bob, id); got.State != model.StateTerminated {
		t.Fatalf("state %s", got.State)
	}
	f.clock.Advance(time.Minute)
	_, _, err := f.DescribeInstances(ctx, bob, service.DescribeInstancesInput{IDs: []string{string(id)}})
	wantErr(t, err, model.CodeInvalidInstanceIDNotFound, string(id))
	rs, _, err := f.DescribeInstances(ctx, bob, service.DescribeInstancesInput{})
	if err != nil || len(rs) != 0 {
		t.Fatalf("expired instance listed: %v %v", rs, err)
	}
	// DescribeInstances deleted it from the store.
	key := model.ResourceKey(model.Scope{Account: bob.Account, Region: bob.Region}, model.KeyInstance, string(id))
	if _, err := f.Store().Get(ctx, key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired instance still stored: %v", err)
	}
	_, err = f.StartInstances(ctx, bob, []string{string(id)})
	wantErr(t, err, model.CodeInvalidInstanceIDNotFound, string(id))
}

func TestStopStart(t *testing.T) {
	f := newFixture(t)
	id := string(f.run(bob, service.RunInstancesInput{}).Instances[0].ID)
	step := func(op func(context.Context, service.Caller, []string) ([]service.InstanceStateChange, error), prev, cur, stored model.InstanceState) {
		t.Helper()
		ch, err := op(ctx, bob, []string{id})
		if err != nil || ch[0].Previous != prev || ch[0].Current != cur {
			t.Fatalf("got %+v %v, want %s -> %s", ch, err, prev, cur)
		}
		if got := f.describeInstance(bob, model.InstanceID(id)); got.State != stored {
			t.Fatalf("stored %s, want %s", got.State, stored)
		}
	}
	step(f.StartInstances, model.StateRunning, model.StateRunning, model.StateRunning)
	step(f.StopInstances, model.StateRunning, model.StateStopping, model.StateStopped)
	step(f.StopInstances, model.StateStopped, model.StateStopped, model.StateStopped)
	if got := f.describeInstance(bob, model.InstanceID(id)); len(got.Interfaces) != 1 || got.PrivateIP != addr("172.31.0.4") {
		t.Errorf("a stopped instance keeps its interface and address: %+v", got)
	}
	step(f.StartInstances, model.StateStopped, model.StatePending, model.StateRunning)
	if _, err := f.TerminateInstances(ctx, bob, []string{id}); err != nil {
		t.Fatal(err)
	}
	_, err := f.StartInstances(ctx, bob, []string{id})
	wantErr(t, err, model.CodeIncorrectState, "is not in a state from which it can be started")
	_, err = f.StopInstances(ctx, bob, []string{id})
	wantErr(t, err, model.CodeIncorrectState, "is not in a state from which it can be stopped")
}

func TestDescribeInstancesFiltersAndPages(t *testing.T) {
	f := newFixture(t)
	web := f.group(bob, "web", "")
	a := f.run(bob, service.RunInstancesInput{MinCount: p32(4), MaxCount: p32(4), GroupIDs: []string{string(web.ID)}})
	b := f.run(bob, service.RunInstancesInput{MinCount: p32(3), MaxCount: p32(3), InstanceType: "m5.large",
		TagSpecifications: []service.TagSpecification{{ResourceType: "instance", Tags: model.Tags{{Key: "Name", Value: "db"}}}}})
	stopped := string(b.Instances[0].ID)
	if _, err := f.StopInstances(ctx, bob, []string{stopped}); err != nil {
		t.Fatal(err)
	}
	count := func(filters ...service.Filter) int {
		t.Helper()
		rs, _, err := f.DescribeInstances(ctx, bob, service.DescribeInstancesInput{Filters: filters})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range rs {
			n += len(r.Instances)
		}
		return n
	}
	flt := func(name string, v ...string) service.Filter { return service.Filter{Name: name, Values: v} }
	cases := []struct {
		f    service.Filter
		want int
	}{
		{flt("instance.group-id", string(web.ID)), 4},
		{flt("network-interface.group-name", "default"), 3},
		{flt("instance-state-name", "running"), 6},
		{flt("instance-state-code", "80"), 1},
		{flt("instance-type", "m5.*"), 3},
		{flt("tag:Name", "db"), 3},
		{flt("tag-key", "Name"), 3},
		{flt("reservation-id", string(a.ID)), 4},
		{flt("private-ip-address", "172.31.0.4", "172.31.0.5"), 2},
		{flt("availability-zone", "us-east-1a"), 7},
		{flt("network-interface.network-interface-id", string(a.Instances[0].Interfaces[0].ID)), 1},
		{flt("instance-id", stopped), 1},
	}
	for _, c := range cases {
		if got := count(c.f); got != c.want {
			t.Errorf("%s=%v: %d instances, want %d", c.f.Name, c.f.Values, got, c.want)
		}
	}
	_, _, err := f.DescribeInstances(ctx, bob, service.DescribeInstancesInput{Filters: []service.Filter{flt("colour", "red")}})
	wantErr(t, err, model.CodeInvalidParameterValue, "colour")
	_, _, err = f.DescribeInstances(ctx, bob, service.DescribeInstancesInput{IDs: []string{stopped}, Page: service.Page{MaxResults: 5}})
	wantErr(t, err, model.CodeInvalidParameterCombination, "maxResults")

	// Pages of 5 instances; an instance launched between pages shows up on
	// the second page exactly when its ID sorts after the first page.
	first, token, err := f.DescribeInstances(ctx, bob, service.DescribeInstancesInput{Page: service.Page{MaxResults: 5}})
	if err != nil || token == "" {
		t.Fatal(token, err)
	}
	seen := instanceIDs(first)
	if len(seen) != 5 || !slices.IsSorted(seen) {
		t.Fatalf("first page %v", seen)
	}
	added := f.run(bob, service.RunInstancesInput{}).Instances[0].ID
	second, token, err := f.DescribeInstances(ctx, bob, service.DescribeInstancesInput{Page: service.Page{MaxResults: 5, NextToken: token}})
	if err != nil || token != "" {
		t.Fatal(token, err)
	}
	all := append(seen, instanceIDs(second)...)
	want := 7
	if string(added) > seen[4] {
		want = 8
	}
	if len(all) != want || !slices.IsSorted(all) || len(slices.Compact(slices.Clone(all))) != len(all) {
		t.Fatalf("pages %v (added %s)", all, added)
	}
	// Reservations group their instances in launch order.
	rs, _, _ := f.DescribeInstances(ctx, bob, service.DescribeInstancesInput{Filters: []service.Filter{flt("reservation-id", string(a.ID))}})
	if len(rs) != 1 || rs[0].ID != a.ID || rs[0].Instances[3].LaunchIndex != 3 {
		t.Fatalf("reservation %+v", rs)
	}
}

func instanceIDs(rs []service.Reservation) []string {
	var out []string
	for _, r := range rs {
		for _, i := range r.Instances {
			out = append(out, string(i.ID))
		}
	}
	slices.Sort(out)
	return out
}

// TestInstancesOnBolt runs a launch, a query and a termination over the
// embedded store the server uses.
func TestInstancesOnBolt(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "palisade.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := newFixtureOn(t, st, service.DefaultConfig())
	res := f.run(bob, service.RunInstancesInput{MinCount: p32(50), MaxCount: p32(50)})
	if len(res.Instances) != 50 {
		t.Fatalf("launched %d", len(res.Instances))
	}
	var ids []string
	for _, i := range res.Instances[:40] {
		ids = append(ids, string(i.ID))
	}
	if _, err := f.TerminateInstances(ctx, bob, ids); err != nil {
		t.Fatal(err)
	}
	ns, _, err := f.DescribeNetworkInterfaces(ctx, bob, service.DescribeNetworkInterfacesInput{})
	if err != nil || len(ns) != 10 {
		t.Fatalf("%d interfaces left, want 10: %v", len(ns), err)
	}
	_, err = f.TerminateInstances(ctx, bob, append(ids, mapIDs(res.Instances[40:])...))
	if err != nil {
		t.Fatal(err)
	}
}

func mapIDs(vs []service.InstanceView) []string {
	var out []string
	for _, v := range vs {
		out = append(out, string(v.ID))
	}
	return out
}

// TestTerminateManyInstances: AWS takes up to 1,000 IDs in one
// TerminateInstances. More than one transaction can hold are terminated in
// batches, after all IDs were checked: an unknown ID terminates nothing.
func TestTerminateManyInstances(t *testing.T) {
	f := newFixture(t)
	var ids []string
	for range 3 {
		res := f.run(bob, service.RunInstancesInput{MinCount: p32(50), MaxCount: p32(50)})
		for _, inst := range res.Instances {
			ids = append(ids, string(inst.ID))
		}
	}
	_, err := f.TerminateInstances(ctx, bob, append(slices.Clone(ids), "i-0123456789abcdef0"))
	wantErr(t, err, "InvalidInstanceID.NotFound", "i-0123456789abcdef0")
	for _, id := range ids {
		if got := f.describeInstance(bob, model.InstanceID(id)); got.State != model.StateRunning {
			t.Fatalf("%s is %s after a request with an unknown ID", id, got.State)
		}
	}

	changes, err := f.TerminateInstances(ctx, bob, append(slices.Clone(ids), ids[7]))
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != len(ids) {
		t.Fatalf("%d changes for %d instances", len(changes), len(ids))
	}
	for i, ch := range changes {
		if string(ch.ID) != ids[i] || ch.Previous != model.StateRunning || ch.Current != model.StateShuttingDown {
			t.Fatalf("change %d: %+v", i, ch)
		}
		got := f.describeInstance(bob, ch.ID)
		if got.State != model.StateTerminated || len(got.Interfaces) != 0 {
			t.Fatalf("%s after termination: %s with %d interfaces", ch.ID, got.State, len(got.Interfaces))
		}
	}
	// Idempotent, and the instances no longer count against the limit.
	again, err := f.TerminateInstances(ctx, bob, ids)
	if err != nil || len(again) != len(ids) || again[0].Previous != model.StateTerminated || again[0].Current != model.StateTerminated {
		t.Fatalf("terminating again: %v %+v", err, again[:1])
	}
	f.run(bob, service.RunInstancesInput{MinCount: p32(50), MaxCount: p32(50)})

	// Instances with four interfaces each: a batch of them writes more
	// than one transaction may, and is halved.
	var wide []string
	for len(wide) < 40 {
		spec := []service.InterfaceSpec{{DeviceIndex: p32(0)}, {DeviceIndex: p32(1)}, {DeviceIndex: p32(2)}, {DeviceIndex: p32(3)}}
		res := f.run(bob, service.RunInstancesInput{MinCount: p32(1), MaxCount: p32(20), Interfaces: spec})
		for _, inst := range res.Instances {
			if len(inst.Interfaces) != 4 {
				t.Fatalf("%s has %d interfaces", inst.ID, len(inst.Interfaces))
			}
			wide = append(wide, string(inst.ID))
		}
	}
	changes, err = f.TerminateInstances(ctx, bob, wide)
	if err != nil || len(changes) != len(wide) {
		t.Fatalf("terminating %d instances of 4 interfaces: %v, %d changes", len(wide), err, len(changes))
	}
	for i, ch := range changes {
		if string(ch.ID) != wide[i] || f.describeInstance(bob, ch.ID).State != model.StateTerminated {
			t.Fatalf("change %d: %+v", i, ch)
		}
	}

	many := make([]string, 1001)
	for i := range many {
		many[i] = fmt.Sprintf("i-%017x", i+1)
	}
	_, err = f.TerminateInstances(ctx, bob, many)
	wantErr(t, err, model.CodeInvalidParameterValue, "at most 1000")
}
