package service

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policytest"
	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/mem"
)

var alice = Caller{Account: "123456789012", Region: "us-east-1"}

func newTestService(t testing.TB, opts ...Option) *Service {
	t.Helper()
	st := mem.New(mem.Options{})
	t.Cleanup(func() { st.Close() })
	return newTestServiceOn(t, st, DefaultConfig(), opts...)
}

func newTestServiceOn(t testing.TB, st store.Store, cfg Config, opts ...Option) *Service {
	t.Helper()
	clock := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	base := []Option{WithRand(rand.NewChaCha8([32]byte{7})), WithClock(func() time.Time { return clock })}
	s, err := New(st, cfg, append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func i32(v int32) *int32 { return &v }

// tcpFrom is an IpPermission "tcp from-to from cidrs".
func tcpFrom(from, to int32, cidrs ...string) model.PermissionSpec {
	return policytest.Perm("tcp", from, to, cidrs...)
}

// fromGroup is an IpPermission "proto from-to from the members of g".
func fromGroup(proto string, from, to int32, g model.GroupID) model.PermissionSpec {
	return policytest.Perm(proto, from, to, string(g))
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := model.CodeOf(err); got != code {
		t.Fatalf("error = %v, want code %q", err, code)
	}
}

func mustGroup(t *testing.T, s *Service, c Caller, name, vpc string) *model.SecurityGroup {
	t.Helper()
	g, err := s.CreateSecurityGroup(context.Background(), c, CreateSecurityGroupInput{Name: name, Description: name + " tier", VpcID: vpc})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func mustVPC(t *testing.T, s *Service, c Caller, cidr string, v6 bool) *model.VPC {
	t.Helper()
	v, err := s.CreateVpc(context.Background(), c, CreateVpcInput{CIDR: cidr, IPv6: v6})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func describeGroup(t *testing.T, s *Service, c Caller, id model.GroupID) *model.SecurityGroup {
	t.Helper()
	gs, _, err := s.DescribeSecurityGroups(context.Background(), c, DescribeSecurityGroupsInput{IDs: []string{string(id)}})
	if err != nil {
		t.Fatal(err)
	}
	return &gs[0]
}

func newMem(t testing.TB) store.Store {
	st := mem.New(mem.Options{})
	t.Cleanup(func() { st.Close() })
	return st
}
