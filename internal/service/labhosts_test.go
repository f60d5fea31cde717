package service

import (
	"strings"
	"testing"

	"palisade.dev/palisade/internal/model"
)

func TestLabHosts(t *testing.T) {
	s := newTestService(t)
	v := mustVPC(t, s, alice, "10.0.0.0/16", true)
	h, err := s.CreateLabHost(ctx, alice, CreateLabHostInput{Name: "office", VpcID: string(v.ID), IPv4: "203.0.113.5", IPv6: "2001:db8::5"})
	if err != nil || h.IPv4.String() != "203.0.113.5" || h.IPv6.String() != "2001:db8::5" {
		t.Fatal(h, err)
	}
	bob := Caller{Account: "210987654321", Region: "us-east-1"}
	bv := mustVPC(t, s, bob, "10.0.0.0/16", false)
	cases := []struct {
		c    Caller
		in   CreateLabHostInput
		code string
		msg  string
	}{
		{alice, CreateLabHostInput{Name: "office", VpcID: string(v.ID), IPv4: "203.0.113.6"}, "InvalidLabHost.Duplicate", ""},
		{bob, CreateLabHostInput{Name: "office", VpcID: string(bv.ID), IPv4: "203.0.113.6"}, "InvalidLabHost.Duplicate", ""}, // names are the machine's
		{alice, CreateLabHostInput{Name: "i-0123456789abcdef0", VpcID: string(v.ID), IPv4: "203.0.113.6"}, model.CodeInvalidParameterValue, "reserved for instances"},
		{alice, CreateLabHostInput{Name: "inside", VpcID: string(v.ID), IPv4: "10.0.1.5"}, model.CodeInvalidParameterValue, "inside VPC"},
		{alice, CreateLabHostInput{Name: "loop", VpcID: string(v.ID), IPv4: "127.0.0.1"}, model.CodeInvalidParameterValue, ""},
		{alice, CreateLabHostInput{Name: "ll", VpcID: string(v.ID), IPv4: "169.254.0.9"}, model.CodeInvalidParameterValue, ""},
		{alice, CreateLabHostInput{Name: "v6in4", VpcID: string(v.ID), IPv4: "2001:db8::1"}, model.CodeInvalidParameterValue, ""},
		{alice, CreateLabHostInput{Name: "same", VpcID: string(v.ID), IPv4: "203.0.113.5"}, "InvalidIPAddress.InUse", ""},
		{alice, CreateLabHostInput{Name: "novpc", VpcID: "vpc-0123456789abcdef0", IPv4: "203.0.113.9"}, model.CodeInvalidVpcIDNotFound, ""},
		{bob, CreateLabHostInput{Name: "v6", VpcID: string(bv.ID), IPv4: "203.0.113.9", IPv6: "2001:db8::9"}, model.CodeInvalidParameterValue, "no IPv6 block"},
		{bob, CreateLabHostInput{Name: "alices-vpc", VpcID: string(v.ID), IPv4: "203.0.113.9"}, model.CodeInvalidVpcIDNotFound, ""},
	}
	for _, c := range cases {
		_, err := s.CreateLabHost(ctx, c.c, c.in)
		if model.CodeOf(err) != c.code || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want %s %q", c.in.Name, err, c.code, c.msg)
		}
	}
	hs, err := s.ListLabHosts(ctx, alice)
	if err != nil || len(hs) != 1 || hs[0].Name != "office" {
		t.Fatal(hs, err)
	}
	if hs, _ := s.ListLabHosts(ctx, bob); len(hs) != 0 {
		t.Fatal("bob sees alice's hosts")
	}
	wantCode(t, s.DeleteLabHost(ctx, bob, "office"), "InvalidLabHost.NotFound")
	if err := s.DeleteLabHost(ctx, alice, "office"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateLabHost(ctx, bob, CreateLabHostInput{Name: "office", VpcID: string(bv.ID), IPv4: "203.0.113.6"}); err != nil {
		t.Fatal("the name is free again:", err)
	}
}

func TestDeleteVpcWithLabHost(t *testing.T) {
	s := newTestService(t)
	v := mustVPC(t, s, alice, "10.0.0.0/16", false)
	if _, err := s.CreateLabHost(ctx, alice, CreateLabHostInput{Name: "office2", VpcID: string(v.ID), IPv4: "203.0.113.5"}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.DeleteVpc(ctx, alice, string(v.ID)), model.CodeDependencyViolation)
	if err := s.DeleteLabHost(ctx, alice, "office2"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteVpc(ctx, alice, string(v.ID)); err != nil {
		t.Fatal(err)
	}
}
