package service

import (
	"errors"
	"strings"
	"testing"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/store"
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
	if _, err := s.CreateLabHost(ctx, alice, CreateLabHostInput{Name: "office", VpcID: string(v.ID), IPv4: "203.0.113.6"}); err != nil {
		t.Fatal("the name is free again:", err)
	}
}

// Lab host names are an account's own: another account's name is neither
// refused (which told that it exists) nor taken, and the two hosts get
// different namespaces. Within an account a name is unique across regions,
// since the namespace does not name the region.
func TestLabHostNamesArePerAccount(t *testing.T) {
	s := newTestService(t)
	bob := Caller{Account: "210987654321", Region: "us-east-1"}
	av, bv := mustVPC(t, s, alice, "10.0.0.0/16", false), mustVPC(t, s, bob, "10.0.0.0/16", false)
	a, err := s.CreateLabHost(ctx, alice, CreateLabHostInput{Name: "office", VpcID: string(av.ID), IPv4: "203.0.113.5"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.CreateLabHost(ctx, bob, CreateLabHostInput{Name: "office", VpcID: string(bv.ID), IPv4: "203.0.113.5"})
	if err != nil {
		t.Fatalf("another account's name: %v", err)
	}
	if a.Namespace() != "office.123456789012" || b.Namespace() != "office.210987654321" {
		t.Fatalf("namespaces %s and %s", a.Namespace(), b.Namespace())
	}
	west := Caller{Account: alice.Account, Region: "eu-west-1"}
	wv := mustVPC(t, s, west, "10.0.0.0/16", false)
	_, err = s.CreateLabHost(ctx, west, CreateLabHostInput{Name: "office", VpcID: string(wv.ID), IPv4: "203.0.113.5"})
	wantCode(t, err, "InvalidLabHost.Duplicate")
	if err := s.DeleteLabHost(ctx, bob, "office"); err != nil {
		t.Fatal(err)
	}
	if hs, err := s.ListLabHosts(ctx, alice); err != nil || len(hs) != 1 {
		t.Fatalf("bob's delete touched alice's host: %v %v", hs, err)
	}
}

// A store written before names were scoped indexes hosts by name alone
// (h/<name>): the entry still holds the name for its own account, means
// nothing to others, and goes with its host.
func TestLabHostLegacyIndex(t *testing.T) {
	s := newTestService(t)
	bob := Caller{Account: "210987654321", Region: "us-east-1"}
	av, bv := mustVPC(t, s, alice, "10.0.0.0/16", false), mustVPC(t, s, bob, "10.0.0.0/16", false)
	if _, err := s.CreateLabHost(ctx, alice, CreateLabHostInput{Name: "office", VpcID: string(av.ID), IPv4: "203.0.113.5"}); err != nil {
		t.Fatal(err)
	}
	hostKey := model.ResourceKey(alice.scope(), model.KeyLabHost, "office")
	_, err := s.st.Txn(ctx, func(tx store.Tx) error { // as an older version left it
		if err := tx.Delete(labHostKey(alice.Account, "office")); err != nil {
			return err
		}
		return tx.Put("h/office", []byte(hostKey))
	})
	if err != nil {
		t.Fatal(err)
	}
	west := Caller{Account: alice.Account, Region: "eu-west-1"}
	wv := mustVPC(t, s, west, "10.0.0.0/16", false)
	_, err = s.CreateLabHost(ctx, west, CreateLabHostInput{Name: "office", VpcID: string(wv.ID), IPv4: "203.0.113.5"})
	wantCode(t, err, "InvalidLabHost.Duplicate")
	if _, err := s.CreateLabHost(ctx, bob, CreateLabHostInput{Name: "office", VpcID: string(bv.ID), IPv4: "203.0.113.5"}); err != nil {
		t.Fatalf("bob, beside a legacy entry of alice's: %v", err)
	}
	if err := s.DeleteLabHost(ctx, alice, "office"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.st.Get(ctx, "h/office"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the legacy entry outlived its host: %v", err)
	}
	if _, err := s.CreateLabHost(ctx, west, CreateLabHostInput{Name: "office", VpcID: string(wv.ID), IPv4: "203.0.113.5"}); err != nil {
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
