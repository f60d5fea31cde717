package service

import (
	"fmt"
	"testing"

	"palisade.dev/palisade/internal/model"
)

// BenchmarkCreateNetworkInterface measures one CreateNetworkInterface
// (with a ClientToken and a security group, as the SDK sends it) in an
// account that already holds n interfaces and benchGroups groups of
// benchRules rules each. The figures should not grow with n: the write path
// reads indexes and the groups it names, never every interface or group.
// Each created interface is deleted again outside the timer, so every
// iteration sees exactly n.
func BenchmarkCreateNetworkInterface(b *testing.B) {
	for _, n := range []int{100, 5000} {
		b.Run(fmt.Sprintf("enis=%d", n), func(b *testing.B) {
			s, sub, sg := benchAccount(b, n)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				e, err := s.CreateNetworkInterface(ctx, alice, CreateNetworkInterfaceInput{
					SubnetID: sub, GroupIDs: []string{sg}, ClientToken: fmt.Sprintf("bench-%d", i)})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := s.DeleteNetworkInterface(ctx, alice, string(e.ID)); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkRunInstances is BenchmarkCreateNetworkInterface for launching
// one instance (terminated again outside the timer).
func BenchmarkRunInstances(b *testing.B) {
	for _, n := range []int{100, 5000} {
		b.Run(fmt.Sprintf("enis=%d", n), func(b *testing.B) {
			s, sub, sg := benchAccount(b, n)
			one := int32(1)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r, err := s.RunInstances(ctx, alice, RunInstancesInput{ImageID: "lab", MinCount: &one, MaxCount: &one,
					SubnetID: sub, GroupIDs: []string{sg}, ClientToken: fmt.Sprintf("bench-%d", i)})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if _, err := s.TerminateInstances(ctx, alice, []string{string(r.Instances[0].ID)}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkGroupLifecycle measures CreateSecurityGroup and
// DeleteSecurityGroup of an unused group, in the account of
// BenchmarkCreateNetworkInterface: both check every group (the quota, the
// name, references from other groups' rules) and the delete every
// interface, reading only what they check.
func BenchmarkGroupLifecycle(b *testing.B) {
	for _, n := range []int{100, 5000} {
		b.Run(fmt.Sprintf("enis=%d", n), func(b *testing.B) {
			s, _, _ := benchAccount(b, n)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				g, err := s.CreateSecurityGroup(ctx, alice, CreateSecurityGroupInput{Name: fmt.Sprintf("x%d", i), Description: "x"})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.DeleteSecurityGroup(ctx, alice, GroupRef{ID: string(g.ID)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDetachAttach measures DetachNetworkInterface (which knows only
// the attachment ID) and AttachNetworkInterface of a second interface of
// an instance, in the account of BenchmarkCreateNetworkInterface.
func BenchmarkDetachAttach(b *testing.B) {
	for _, n := range []int{100, 5000} {
		b.Run(fmt.Sprintf("enis=%d", n), func(b *testing.B) {
			s, sub, sg := benchAccount(b, n)
			one := int32(1)
			r, err := s.RunInstances(ctx, alice, RunInstancesInput{ImageID: "lab", MinCount: &one, MaxCount: &one, SubnetID: sub, GroupIDs: []string{sg}})
			if err != nil {
				b.Fatal(err)
			}
			e, err := s.CreateNetworkInterface(ctx, alice, CreateNetworkInterfaceInput{SubnetID: sub, GroupIDs: []string{sg}})
			if err != nil {
				b.Fatal(err)
			}
			attach := func() model.AttachmentID {
				id, err := s.AttachNetworkInterface(ctx, alice, AttachNetworkInterfaceInput{
					NetworkInterfaceID: string(e.ID), InstanceID: string(r.Instances[0].ID), DeviceIndex: &one})
				if err != nil {
					b.Fatal(err)
				}
				return id
			}
			att := attach()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := s.DetachNetworkInterface(ctx, alice, string(att)); err != nil {
					b.Fatal(err)
				}
				att = attach()
			}
		})
	}
}

const (
	benchGroups = 50 // groups in the account besides the default ones
	benchRules  = 60 // ingress rules of each
)

// benchAccount returns a service whose account has n interfaces spread
// over /20 subnets of one VPC, and a subnet and a group to create more in.
func benchAccount(b *testing.B, n int) (s *Service, subnet, group string) {
	b.Helper()
	s = newTestServiceOn(b, newMem(b), DefaultConfig())
	v, err := s.CreateVpc(ctx, alice, CreateVpcInput{CIDR: "10.0.0.0/16"})
	if err != nil {
		b.Fatal(err)
	}
	var groups []string
	for g := range benchGroups {
		sg, err := s.CreateSecurityGroup(ctx, alice, CreateSecurityGroupInput{Name: fmt.Sprintf("g%d", g), Description: "bench", VpcID: string(v.ID)})
		if err != nil {
			b.Fatal(err)
		}
		var perms []model.PermissionSpec
		for r := range benchRules {
			perms = append(perms, tcpFrom(int32(1000+r), int32(1000+r), fmt.Sprintf("192.0.2.%d/32", g)))
		}
		if _, err := s.Authorize(ctx, alice, AuthorizeInput{Group: GroupRef{ID: string(sg.ID)}, Direction: model.Ingress, Permissions: perms}); err != nil {
			b.Fatal(err)
		}
		groups = append(groups, string(sg.ID))
	}
	var sub string
	for i := range n {
		if i%4000 == 0 {
			sn, err := s.CreateSubnet(ctx, alice, CreateSubnetInput{VpcID: string(v.ID), CIDR: fmt.Sprintf("10.0.%d.0/20", i/4000*16)})
			if err != nil {
				b.Fatal(err)
			}
			sub = string(sn.ID)
		}
		_, err := s.CreateNetworkInterface(ctx, alice, CreateNetworkInterfaceInput{
			SubnetID: sub, GroupIDs: []string{groups[i%len(groups)]}, ClientToken: fmt.Sprintf("setup-%d", i)})
		if err != nil {
			b.Fatal(err)
		}
	}
	sn, err := s.CreateSubnet(ctx, alice, CreateSubnetInput{VpcID: string(v.ID), CIDR: "10.0.240.0/20"})
	if err != nil {
		b.Fatal(err)
	}
	return s, string(sn.ID), groups[0]
}

// BenchmarkDescribeGroupByID measures DescribeSecurityGroups of one group
// by ID in an account of n groups: point reads, flat in n.
func BenchmarkDescribeGroupByID(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("groups=%d", n), func(b *testing.B) {
			s := newTestService(b)
			var last model.GroupID
			for i := range n {
				g, err := s.CreateSecurityGroup(ctx, alice, CreateSecurityGroupInput{Name: fmt.Sprintf("g%d", i), Description: "x"})
				if err != nil {
					b.Fatal(err)
				}
				last = g.ID
			}
			b.ResetTimer()
			for range b.N {
				gs, _, err := s.DescribeSecurityGroups(ctx, alice, DescribeSecurityGroupsInput{IDs: []string{string(last)}})
				if err != nil || len(gs) != 1 {
					b.Fatal(len(gs), err)
				}
			}
		})
	}
}
