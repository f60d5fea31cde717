package service

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"

	"palisade.dev/palisade/internal/model"
)

var ctx = context.Background()

func TestDefaultVPCAndGroup(t *testing.T) {
	s := newTestService(t)
	vpcs, _, err := s.DescribeVpcs(ctx, alice, nil, []Filter{{Name: "is-default", Values: []string{"true"}}}, Page{})
	if err != nil || len(vpcs) != 1 || vpcs[0].CIDR.String() != "172.31.0.0/16" {
		t.Fatalf("default vpc: %v %v", vpcs, err)
	}
	subnets, _, err := s.DescribeSubnets(ctx, alice, nil, []Filter{{Name: "vpc-id", Values: []string{string(vpcs[0].ID)}}}, Page{})
	if err != nil || len(subnets) != 3 {
		t.Fatalf("default subnets: %v %v", subnets, err)
	}
	zones := map[string]string{}
	for _, sn := range subnets {
		zones[sn.Zone] = sn.CIDR.String()
	}
	if zones["us-east-1a"] != "172.31.0.0/20" || zones["us-east-1b"] != "172.31.16.0/20" || zones["us-east-1c"] != "172.31.32.0/20" {
		t.Fatalf("zones: %v", zones)
	}
	gs, _, err := s.DescribeSecurityGroups(ctx, alice, DescribeSecurityGroupsInput{Names: []string{"default"}})
	if err != nil || len(gs) != 1 {
		t.Fatalf("default group: %v %v", gs, err)
	}
	def := gs[0]
	if def.Description != "default VPC security group" || len(def.Rules) != 2 {
		t.Fatalf("default group: %+v", def)
	}
	in, out := def.RulesOf(model.Ingress)[0], def.RulesOf(model.Egress)[0]
	if !in.Protocol.IsAll() || in.Peer.Kind != model.PeerGroup || in.Peer.Group != def.ID || in.Peer.GroupOwner != alice.Account {
		t.Errorf("default ingress is not all traffic from itself: %+v", in)
	}
	if !out.Protocol.IsAll() || out.Peer.Prefix.String() != "0.0.0.0/0" {
		t.Errorf("default egress: %+v", out)
	}
	_, err = s.DeleteSecurityGroup(ctx, alice, GroupRef{ID: string(def.ID)})
	wantCode(t, err, model.CodeCannotDelete)
	if !strings.Contains(err.Error(), `name: "default" cannot be deleted by a user`) {
		t.Error(err)
	}
	// Another region is another world with its own default VPC.
	west := Caller{Account: alice.Account, Region: "eu-west-1"}
	wv, _, _ := s.DescribeVpcs(ctx, west, nil, nil, Page{})
	if len(wv) != 1 || wv[0].ID == vpcs[0].ID {
		t.Fatalf("eu-west-1: %v", wv)
	}
}

func TestCreateSecurityGroup(t *testing.T) {
	s := newTestService(t)
	web := mustGroup(t, s, alice, "web", "")
	if len(web.Rules) != 1 || web.Rules[0].Direction != model.Egress || !strings.HasPrefix(string(web.ID), "sg-") || len(web.ID) != 20 {
		t.Fatalf("new group: %+v", web)
	}
	cases := []struct {
		name string
		in   CreateSecurityGroupInput
		code string
		msg  string
	}{
		{"duplicate", CreateSecurityGroupInput{Name: "web", Description: "d"}, model.CodeInvalidGroupDuplicate, "The security group 'web' already exists for VPC 'vpc-"},
		{"duplicate other case", CreateSecurityGroupInput{Name: "WEB", Description: "d"}, model.CodeInvalidGroupDuplicate, ""},
		{"default exists", CreateSecurityGroupInput{Name: "default", Description: "d"}, model.CodeInvalidGroupDuplicate, ""},
		{"sg- name", CreateSecurityGroupInput{Name: "sg-017c251", Description: "d"}, model.CodeInvalidParameterValue, "Group names may not be in the format sg-*."},
		{"no description", CreateSecurityGroupInput{Name: "db"}, model.CodeMissingParameter, ""},
		{"no name", CreateSecurityGroupInput{Description: "d"}, model.CodeMissingParameter, ""},
		{"unknown vpc", CreateSecurityGroupInput{Name: "db", Description: "d", VpcID: "vpc-0123456789abcdef0"}, model.CodeInvalidVpcIDNotFound, "The vpc ID 'vpc-0123456789abcdef0' does not exist"},
		{"malformed vpc", CreateSecurityGroupInput{Name: "db", Description: "d", VpcID: "vpc-xxxxxx"}, model.CodeInvalidVpcIDMalformed, ""},
	}
	for _, c := range cases {
		_, err := s.CreateSecurityGroup(ctx, alice, c.in)
		if model.CodeOf(err) != c.code || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want %s %q", c.name, err, c.code, c.msg)
		}
	}
	// The same name in another VPC is fine; a VPC with IPv6 adds ::/0 egress.
	v := mustVPC(t, s, alice, "10.0.0.0/16", true)
	g := mustGroup(t, s, alice, "web", string(v.ID))
	if len(g.Rules) != 2 || g.Rules[1].Peer.Prefix.String() != "::/0" || g.VPC != v.ID {
		t.Fatalf("group in an IPv6 VPC: %+v", g.Rules)
	}
}

func TestGroupQuotaPerRegion(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxGroupsPerRegion = 3 // the default group counts
	s := newTestServiceOn(t, newMem(t), cfg)
	mustGroup(t, s, alice, "a", "")
	mustGroup(t, s, alice, "b", "")
	_, err := s.CreateSecurityGroup(ctx, alice, CreateSecurityGroupInput{Name: "c", Description: "d"})
	wantCode(t, err, model.CodeGroupLimitExceeded)
}

func TestAuthorizeAndDescribe(t *testing.T) {
	s := newTestService(t)
	web := mustGroup(t, s, alice, "web", "")
	lb := mustGroup(t, s, alice, "lb", "")
	rules, err := s.Authorize(ctx, alice, AuthorizeInput{
		Group: GroupRef{ID: string(web.ID)}, Direction: model.Ingress,
		Permissions: []model.PermissionSpec{
			tcpFrom(22, 22, "203.0.113.5/32", "198.51.100.0/24"),
			fromGroup("tcp", 80, 80, lb.ID),
			{Protocol: "6", FromPort: i32(443), ToPort: i32(443), IPv4: []model.SourceSpec{{Value: "10.1.2.3/16", Description: "office"}}, IPv6: []model.SourceSpec{{Value: "2001:db8::/32"}}},
		},
		Tags: model.Tags{{Key: "team", Value: "web"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 5 {
		t.Fatalf("want one rule per source, got %d", len(rules))
	}
	ids := map[model.RuleID]bool{}
	for _, r := range rules {
		if ids[r.Rule.ID] || !strings.HasPrefix(string(r.Rule.ID), "sgr-") || r.Group != web.ID || len(r.Rule.Tags) != 1 {
			t.Fatalf("bad rule %+v", r)
		}
		ids[r.Rule.ID] = true
	}
	g := describeGroup(t, s, alice, web.ID)
	perms := MergePermissions(g.RulesOf(model.Ingress))
	if len(perms) != 3 || len(perms[0].Rules) != 2 || len(perms[2].Rules) != 2 {
		t.Fatalf("merged permissions: %+v", perms)
	}
	if got := perms[2].Rules[0]; got.Peer.Prefix.String() != "10.1.0.0/16" || got.Description != "office" || !got.Protocol.Is(model.ProtoTCP) {
		t.Fatalf("canonical rule: %+v", got)
	}
	// Rules by ID and by filter.
	all, _, err := s.DescribeSecurityGroupRules(ctx, alice, nil, []Filter{{Name: "group-id", Values: []string{string(web.ID)}}}, Page{})
	if err != nil || len(all) != 6 { // 5 ingress + default egress
		t.Fatalf("rules of web: %d %v", len(all), err)
	}
	one, _, err := s.DescribeSecurityGroupRules(ctx, alice, []string{string(rules[0].Rule.ID)}, nil, Page{})
	if err != nil || len(one) != 1 || one[0].Rule.ID != rules[0].Rule.ID {
		t.Fatalf("rule by id: %v %v", one, err)
	}
	tagged, _, _ := s.DescribeSecurityGroupRules(ctx, alice, nil, []Filter{{Name: "tag:team", Values: []string{"w*"}}}, Page{})
	if len(tagged) != 5 {
		t.Fatalf("rules by tag: %d", len(tagged))
	}
}

func TestAuthorizeErrors(t *testing.T) {
	s := newTestService(t)
	web := mustGroup(t, s, alice, "web", "")
	other := mustVPC(t, s, alice, "10.0.0.0/16", false)
	far := mustGroup(t, s, alice, "far", string(other.ID))
	_, err := s.Authorize(ctx, alice, AuthorizeInput{Group: GroupRef{ID: string(web.ID)}, Direction: model.Ingress, Permissions: []model.PermissionSpec{tcpFrom(22, 22, "10.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	ref := GroupRef{ID: string(web.ID)}
	cases := []struct {
		name string
		in   AuthorizeInput
		code string
		msg  string
	}{
		{"duplicate", AuthorizeInput{Group: ref, Permissions: []model.PermissionSpec{tcpFrom(22, 22, "10.1.2.3/8")}}, model.CodeInvalidPermissionDuplicate, `the specified rule "peer: 10.0.0.0/8, TCP, from port: 22, to port: 22, ALLOW" already exists`},
		{"same twice in one request", AuthorizeInput{Group: ref, Permissions: []model.PermissionSpec{tcpFrom(80, 80, "1.0.0.0/8"), tcpFrom(80, 80, "1.2.0.0/8")}}, model.CodeInvalidParameterValue, "The same permission must not appear multiple times"},
		{"unknown group", AuthorizeInput{Group: GroupRef{ID: "sg-123abc"}, Permissions: []model.PermissionSpec{tcpFrom(80, 80, "1.0.0.0/8")}}, model.CodeInvalidGroupNotFound, "The security group 'sg-123abc' does not exist"},
		{"malformed group", AuthorizeInput{Group: GroupRef{ID: "badcompany"}, Permissions: []model.PermissionSpec{tcpFrom(80, 80, "1.0.0.0/8")}}, model.CodeInvalidGroupIDMalformed, ""},
		{"unknown name", AuthorizeInput{Group: GroupRef{Name: "nope"}, Permissions: []model.PermissionSpec{tcpFrom(80, 80, "1.0.0.0/8")}}, model.CodeInvalidGroupNotFound, "The security group 'nope' does not exist in default VPC 'vpc-"},
		{"name of a non-default VPC group", AuthorizeInput{Group: GroupRef{Name: "far"}, Permissions: []model.PermissionSpec{tcpFrom(80, 80, "1.0.0.0/8")}}, model.CodeInvalidGroupNotFound, "does not exist in default VPC"},
		{"cross-VPC reference", AuthorizeInput{Group: ref, Permissions: []model.PermissionSpec{fromGroup("tcp", 1, 2, far.ID)}}, model.CodeInvalidGroupNotFound, "You have specified two resources that belong to different networks."},
		{"reference to another account", AuthorizeInput{Group: ref, Permissions: []model.PermissionSpec{{Protocol: "-1", Groups: []model.GroupSourceSpec{{GroupID: string(web.ID), UserID: "210987654321"}}}}}, model.CodeInvalidGroupNotFound, ""},
		{"unknown prefix list", AuthorizeInput{Group: ref, Permissions: []model.PermissionSpec{{Protocol: "-1", PrefixLists: []model.SourceSpec{{Value: "pl-0123456789abcdef0"}}}}}, model.CodeInvalidPrefixListIDNotFound, ""},
		{"egress by name", AuthorizeInput{Group: GroupRef{Name: "web"}, Direction: model.Egress, Permissions: []model.PermissionSpec{tcpFrom(80, 80, "1.0.0.0/8")}}, model.CodeMissingParameter, "groupId"},
		{"no permissions", AuthorizeInput{Group: ref}, model.CodeMissingParameter, ""},
		{"unknown group, no permissions", AuthorizeInput{Group: GroupRef{ID: "sg-0123456789abcdef0"}}, model.CodeInvalidGroupNotFound, "sg-0123456789abcdef0"},
		{"unknown group, bad permission", AuthorizeInput{Group: GroupRef{ID: "sg-0123456789abcdef0"}, Permissions: []model.PermissionSpec{{Protocol: "all"}}}, model.CodeInvalidGroupNotFound, "sg-0123456789abcdef0"},
		{"peering connection", AuthorizeInput{Group: ref, Permissions: []model.PermissionSpec{{Protocol: "-1", Groups: []model.GroupSourceSpec{{GroupID: string(web.ID), PeeringID: "pcx-0123456789abcdef0"}}}}}, model.CodeInvalidPeeringIDNotFound, "The vpcPeeringConnection ID 'pcx-0123456789abcdef0' does not exist"},
		{"VpcId of another VPC", AuthorizeInput{Group: ref, Permissions: []model.PermissionSpec{{Protocol: "-1", Groups: []model.GroupSourceSpec{{GroupID: string(web.ID), VpcID: string(other.ID)}}}}}, model.CodeInvalidGroupNotFound, "different networks"},
		{"malformed VpcId", AuthorizeInput{Group: ref, Permissions: []model.PermissionSpec{{Protocol: "-1", Groups: []model.GroupSourceSpec{{GroupID: string(web.ID), VpcID: "vpc"}}}}}, model.CodeInvalidVpcIDMalformed, ""},
		{"all", AuthorizeInput{Group: ref, Permissions: []model.PermissionSpec{{Protocol: "all", IPv4: []model.SourceSpec{{Value: "0.0.0.0/0"}}}}}, model.CodeInvalidParameterValue, "Invalid value 'all' for IP protocol. Unknown protocol."},
	}
	for _, c := range cases {
		if c.in.Direction == 0 {
			c.in.Direction = model.Ingress
		}
		_, err := s.Authorize(ctx, alice, c.in)
		if model.CodeOf(err) != c.code || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want %s %q", c.name, err, c.code, c.msg)
		}
	}
	// All or nothing: a request whose second permission fails adds nothing.
	_, err = s.Authorize(ctx, alice, AuthorizeInput{Group: ref, Direction: model.Ingress, Permissions: []model.PermissionSpec{tcpFrom(443, 443, "0.0.0.0/0"), tcpFrom(22, 22, "10.0.0.0/8")}})
	wantCode(t, err, model.CodeInvalidPermissionDuplicate)
	if g := describeGroup(t, s, alice, web.ID); len(g.RulesOf(model.Ingress)) != 1 {
		t.Fatalf("a failed authorize left %d ingress rules", len(g.RulesOf(model.Ingress)))
	}
	// A group may reference itself, and groups of the default VPC by name;
	// a pair may name the group's own VPC.
	_, err = s.Authorize(ctx, alice, AuthorizeInput{Group: ref, Direction: model.Ingress, Permissions: []model.PermissionSpec{
		{Protocol: "-1", Groups: []model.GroupSourceSpec{{GroupID: string(web.ID), VpcID: string(web.VPC)}}}, {Protocol: "udp", FromPort: i32(53), ToPort: i32(53), Groups: []model.GroupSourceSpec{{GroupName: "default"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRuleQuotaPerFamily(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxRulesPerGroup = 3
	s := newTestServiceOn(t, newMem(t), cfg)
	g := mustGroup(t, s, alice, "web", "")
	ref := GroupRef{ID: string(g.ID)}
	auth := func(p model.PermissionSpec) error {
		_, err := s.Authorize(ctx, alice, AuthorizeInput{Group: ref, Direction: model.Ingress, Permissions: []model.PermissionSpec{p}})
		return err
	}
	if err := auth(tcpFrom(1, 1, "10.0.0.1/32", "10.0.0.2/32")); err != nil {
		t.Fatal(err)
	}
	if err := auth(fromGroup("tcp", 2, 2, g.ID)); err != nil { // counts in both families: v4 = 3, v6 = 1
		t.Fatal(err)
	}
	if err := auth(tcpFrom(3, 3, "10.0.0.3/32")); model.CodeOf(err) != model.CodeRulesPerGroupLimitExceeded {
		t.Fatalf("4th IPv4 rule: %v", err)
	}
	if err := auth(tcpFrom(3, 3, "2001:db8::1/128", "2001:db8::2/128")); err != nil { // v6 = 3
		t.Fatal(err)
	}
	if err := auth(tcpFrom(4, 4, "2001:db8::3/128")); model.CodeOf(err) != model.CodeRulesPerGroupLimitExceeded {
		t.Fatalf("4th IPv6 rule: %v", err)
	}
	// Egress has its own quota: the default egress rule plus two more.
	_, err := s.Authorize(ctx, alice, AuthorizeInput{Group: ref, Direction: model.Egress, Permissions: []model.PermissionSpec{tcpFrom(1, 1, "10.0.0.1/32", "10.0.0.2/32")}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRevoke(t *testing.T) {
	s := newTestService(t)
	v := mustVPC(t, s, alice, "10.0.0.0/16", false)
	g := mustGroup(t, s, alice, "app", string(v.ID))
	ref := GroupRef{ID: string(g.ID)}
	added, err := s.Authorize(ctx, alice, AuthorizeInput{Group: ref, Direction: model.Ingress, Permissions: []model.PermissionSpec{tcpFrom(22, 22, "10.0.0.0/8", "192.0.2.0/24")}})
	if err != nil {
		t.Fatal(err)
	}
	// Outside the default VPC a revoke naming a missing rule fails whole.
	_, err = s.Revoke(ctx, alice, RevokeInput{Group: ref, Direction: model.Ingress, Permissions: []model.PermissionSpec{tcpFrom(22, 22, "10.0.0.0/8", "198.51.100.0/24")}})
	wantCode(t, err, model.CodeInvalidPermissionNotFound)
	if n := len(describeGroup(t, s, alice, g.ID).RulesOf(model.Ingress)); n != 2 {
		t.Fatalf("a failed revoke removed rules: %d left", n)
	}
	// Canonical matching: "6" and host bits still name the stored rule.
	res, err := s.Revoke(ctx, alice, RevokeInput{Group: ref, Direction: model.Ingress, Permissions: []model.PermissionSpec{{Protocol: "6", FromPort: i32(22), ToPort: i32(22), IPv4: []model.SourceSpec{{Value: "10.9.9.9/8"}}}}})
	if err != nil || len(res.Revoked) != 1 || res.Revoked[0].Rule.ID != added[0].Rule.ID {
		t.Fatalf("revoke by value: %+v %v", res, err)
	}
	// By ID: an unknown ID fails whole; a known one goes.
	_, err = s.Revoke(ctx, alice, RevokeInput{Group: ref, Direction: model.Ingress, RuleIDs: []string{string(added[1].Rule.ID), "sgr-0f80c7e764c18b3c0"}})
	wantCode(t, err, model.CodeInvalidRuleIDNotFound)
	res, err = s.Revoke(ctx, alice, RevokeInput{Group: ref, Direction: model.Ingress, RuleIDs: []string{string(added[1].Rule.ID)}})
	if err != nil || len(res.Revoked) != 1 {
		t.Fatalf("revoke by id: %+v %v", res, err)
	}
	// An egress rule is not revoked through ingress.
	_, err = s.Revoke(ctx, alice, RevokeInput{Group: ref, Direction: model.Ingress, RuleIDs: []string{string(g.Rules[0].ID)}})
	wantCode(t, err, model.CodeInvalidRuleIDNotFound)
	_, err = s.Revoke(ctx, alice, RevokeInput{Group: ref, Direction: model.Ingress})
	wantCode(t, err, model.CodeMissingParameter)
	_, err = s.Revoke(ctx, alice, RevokeInput{Group: ref, Direction: model.Ingress, RuleIDs: []string{"x"}, Permissions: []model.PermissionSpec{tcpFrom(1, 1, "1.0.0.0/8")}})
	wantCode(t, err, model.CodeInvalidParameterCombination)

	// In the default VPC unknown rules come back instead of failing.
	web := mustGroup(t, s, alice, "web", "")
	_, err = s.Authorize(ctx, alice, AuthorizeInput{Group: GroupRef{Name: "web"}, Direction: model.Ingress, Permissions: []model.PermissionSpec{tcpFrom(80, 80, "0.0.0.0/0")}})
	if err != nil {
		t.Fatal(err)
	}
	res, err = s.Revoke(ctx, alice, RevokeInput{Group: GroupRef{Name: "web"}, Direction: model.Ingress, Permissions: []model.PermissionSpec{tcpFrom(80, 80, "0.0.0.0/0"), tcpFrom(81, 81, "0.0.0.0/0")}})
	if err != nil || len(res.Revoked) != 1 || len(res.Unknown) != 1 || res.Unknown[0].Ports.From != 81 {
		t.Fatalf("default VPC revoke: %+v %v", res, err)
	}
	if n := len(describeGroup(t, s, alice, web.ID).RulesOf(model.Ingress)); n != 0 {
		t.Fatalf("%d rules left", n)
	}
}

func TestDeleteSecurityGroupDependencies(t *testing.T) {
	s := newTestService(t)
	web := mustGroup(t, s, alice, "web", "")
	lb := mustGroup(t, s, alice, "lb", "")
	if _, err := s.Authorize(ctx, alice, AuthorizeInput{Group: GroupRef{ID: string(web.ID)}, Direction: model.Ingress, Permissions: []model.PermissionSpec{fromGroup("tcp", 80, 80, lb.ID), fromGroup("-1", 0, 0, web.ID)}}); err != nil {
		t.Fatal(err)
	}
	_, err := s.DeleteSecurityGroup(ctx, alice, GroupRef{ID: string(lb.ID)})
	wantCode(t, err, model.CodeDependencyViolation)
	if err.Error() != "DependencyViolation: resource "+string(lb.ID)+" has a dependent object" {
		t.Error(err)
	}
	// A self-reference does not block; deleting web frees lb.
	if id, err := s.DeleteSecurityGroup(ctx, alice, GroupRef{Name: "web"}); err != nil || id != web.ID {
		t.Fatal(id, err)
	}
	if _, err := s.DeleteSecurityGroup(ctx, alice, GroupRef{ID: string(lb.ID)}); err != nil {
		t.Fatal(err)
	}
	_, err = s.DeleteSecurityGroup(ctx, alice, GroupRef{ID: string(lb.ID)})
	wantCode(t, err, model.CodeInvalidGroupNotFound)
	_, err = s.DeleteSecurityGroup(ctx, alice, GroupRef{ID: "DSESecurityGroup"})
	wantCode(t, err, model.CodeInvalidGroupIDMalformed)
}

func TestAccountsAreIsolated(t *testing.T) {
	s := newTestService(t)
	bob := Caller{Account: "210987654321", Region: "us-east-1"}
	g := mustGroup(t, s, alice, "web", "")
	_, _, err := s.DescribeSecurityGroups(ctx, bob, DescribeSecurityGroupsInput{IDs: []string{string(g.ID)}})
	wantCode(t, err, model.CodeInvalidGroupNotFound)
	_, err = s.Authorize(ctx, bob, AuthorizeInput{Group: GroupRef{ID: string(g.ID)}, Direction: model.Ingress, Permissions: []model.PermissionSpec{tcpFrom(1, 1, "0.0.0.0/0")}})
	wantCode(t, err, model.CodeInvalidGroupNotFound)
	bobs := mustGroup(t, s, bob, "web", "")
	_, err = s.Authorize(ctx, bob, AuthorizeInput{Group: GroupRef{ID: string(bobs.ID)}, Direction: model.Ingress, Permissions: []model.PermissionSpec{{Protocol: "-1", Groups: []model.GroupSourceSpec{{GroupID: string(g.ID), UserID: string(alice.Account)}}}}})
	wantCode(t, err, model.CodeInvalidGroupNotFound)
	all, _, _ := s.DescribeSecurityGroups(ctx, bob, DescribeSecurityGroupsInput{})
	if len(all) != 2 { // bob's default and web
		t.Fatalf("bob sees %d groups", len(all))
	}
}

func TestModifySecurityGroupRules(t *testing.T) {
	s := newTestService(t)
	g := mustGroup(t, s, alice, "web", "")
	other := mustGroup(t, s, alice, "other", "")
	ref := GroupRef{ID: string(g.ID)}
	added, err := s.Authorize(ctx, alice, AuthorizeInput{Group: ref, Direction: model.Ingress, Permissions: []model.PermissionSpec{tcpFrom(22, 22, "10.0.0.0/8", "192.0.2.0/24"), fromGroup("tcp", 80, 80, g.ID)}})
	if err != nil {
		t.Fatal(err)
	}
	r0, r1, self := string(added[0].Rule.ID), string(added[1].Rule.ID), string(added[2].Rule.ID)
	cases := []struct {
		name, group string
		u           RuleUpdate
		code, msg   string
	}{
		{"unknown group", "sg-00000000", RuleUpdate{RuleID: r0, Protocol: "tcp", FromPort: i32(1), ToPort: i32(1), CIDRv4: "1.0.0.0/8"}, model.CodeInvalidGroupNotFound, "The security group 'sg-00000000' does not exist"},
		{"unknown rule", string(g.ID), RuleUpdate{RuleID: "sgr-00000000", Protocol: "tcp", FromPort: i32(1), ToPort: i32(1), CIDRv4: "1.0.0.0/8"}, model.CodeInvalidRuleIDNotFound, "The security group rule ID 'sgr-00000000' does not exist"},
		{"no protocol", string(g.ID), RuleUpdate{RuleID: r0, CIDRv4: "1.0.0.0/8"}, model.CodeInvalidParameterValue, "Invalid value 'null' for protocol. VPC security group rules must specify protocols explicitly."},
		{"udp no ports", string(g.ID), RuleUpdate{RuleID: r0, Protocol: "udp", CIDRv4: "1.0.0.0/8"}, model.CodeInvalidParameterValue, "Invalid value for portRange. Must specify both from and to ports with TCP/UDP."},
		{"no target", string(g.ID), RuleUpdate{RuleID: r0, Protocol: "tcp", FromPort: i32(1), ToPort: i32(1)}, model.CodeMissingParameter, "The request must contain exactly one of: cidrIp, cidrIpv6, prefixListId, or referencedGroupId"},
		{"two targets", string(g.ID), RuleUpdate{RuleID: r0, Protocol: "tcp", FromPort: i32(1), ToPort: i32(1), CIDRv4: "1.0.0.0/8", CIDRv6: "::/0"}, model.CodeInvalidParameterCombination, "Only one of cidrIp, cidrIpv6, prefixListId, or referencedGroupId can be specified"},
		{"-1 with ports", string(g.ID), RuleUpdate{RuleID: r0, Protocol: "-1", FromPort: i32(1), ToPort: i32(1), CIDRv4: "1.0.0.0/8"}, model.CodeInvalidParameterValue, "You may not specify all protocols and specific ports."},
		{"kind change", string(g.ID), RuleUpdate{RuleID: r0, Protocol: "tcp", FromPort: i32(1), ToPort: i32(1), ReferencedGroupID: string(g.ID)}, model.CodeInvalidParameterValue, "You may not specify ReferencedGroupId for an existing IPv4 CIDR rule."},
		{"becomes a duplicate", string(g.ID), RuleUpdate{RuleID: r0, Protocol: "tcp", FromPort: i32(22), ToPort: i32(22), CIDRv4: "192.0.2.0/24"}, model.CodeInvalidPermissionDuplicate, ""},
	}
	for _, c := range cases {
		err := s.ModifySecurityGroupRules(ctx, alice, c.group, []RuleUpdate{c.u})
		if model.CodeOf(err) != c.code || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want %s %q", c.name, err, c.code, c.msg)
		}
	}
	err = s.ModifySecurityGroupRules(ctx, alice, string(g.ID), []RuleUpdate{
		{RuleID: r0, Protocol: "udp", FromPort: i32(53), ToPort: i32(53), CIDRv4: "10.1.2.3/16", Description: "dns"},
		{RuleID: r1, Protocol: "-1", CIDRv4: "192.0.2.0/24"},
		{RuleID: self, Protocol: "tcp", FromPort: i32(80), ToPort: i32(80), ReferencedGroupID: string(other.ID)},
	})
	if err != nil {
		t.Fatal(err)
	}
	rules, _, _ := s.DescribeSecurityGroupRules(ctx, alice, []string{r0, r1, self}, nil, Page{})
	byID := map[string]model.Rule{}
	for _, r := range rules {
		byID[string(r.Rule.ID)] = r.Rule
	}
	if r := byID[r0]; !r.Protocol.Is(model.ProtoUDP) || r.Peer.Prefix.String() != "10.1.0.0/16" || r.Description != "dns" {
		t.Errorf("modified rule: %+v", r)
	}
	if r := byID[r1]; !r.Protocol.IsAll() {
		t.Errorf("modified rule: %+v", r)
	}
	if r := byID[self]; r.Peer.Group != other.ID {
		t.Errorf("modified reference: %+v", r)
	}
}

func TestUpdateRuleDescriptions(t *testing.T) {
	s := newTestService(t)
	g := mustGroup(t, s, alice, "web", "")
	ref := GroupRef{ID: string(g.ID)}
	added, _ := s.Authorize(ctx, alice, AuthorizeInput{Group: ref, Direction: model.Ingress, Permissions: []model.PermissionSpec{tcpFrom(22, 22, "10.0.0.0/8")}})
	p := tcpFrom(22, 22, "10.0.0.0/8")
	p.IPv4[0].Description = "ssh from the lan"
	if err := s.UpdateRuleDescriptions(ctx, alice, UpdateDescriptionsInput{Group: ref, Direction: model.Ingress, Permissions: []model.PermissionSpec{p}}); err != nil {
		t.Fatal(err)
	}
	if r := describeGroup(t, s, alice, g.ID).RulesOf(model.Ingress)[0]; r.Description != "ssh from the lan" {
		t.Fatal(r)
	}
	err := s.UpdateRuleDescriptions(ctx, alice, UpdateDescriptionsInput{Group: ref, Direction: model.Ingress, ByID: map[string]string{string(added[0].Rule.ID): ""}})
	if err != nil {
		t.Fatal(err)
	}
	if r := describeGroup(t, s, alice, g.ID).RulesOf(model.Ingress)[0]; r.Description != "" {
		t.Fatal(r)
	}
	err = s.UpdateRuleDescriptions(ctx, alice, UpdateDescriptionsInput{Group: ref, Direction: model.Ingress, Permissions: []model.PermissionSpec{tcpFrom(23, 23, "10.0.0.0/8")}})
	wantCode(t, err, model.CodeInvalidPermissionNotFound)
	err = s.UpdateRuleDescriptions(ctx, alice, UpdateDescriptionsInput{Group: ref, Direction: model.Ingress, ByID: map[string]string{"sgr-0123456789abcdef0": "x"}})
	wantCode(t, err, model.CodeInvalidRuleIDNotFound)
}

func TestDescribeSecurityGroupsFilters(t *testing.T) {
	s := newTestService(t)
	web := mustGroup(t, s, alice, "web", "")
	db := mustGroup(t, s, alice, "database", "")
	_, err := s.Authorize(ctx, alice, AuthorizeInput{Group: GroupRef{ID: string(db.ID)}, Direction: model.Ingress, Permissions: []model.PermissionSpec{fromGroup("tcp", 5432, 5432, web.ID), tcpFrom(22, 22, "10.0.0.0/8", "2001:db8::/32")}})
	if err != nil {
		t.Fatal(err)
	}
	names := func(fs ...Filter) []string {
		t.Helper()
		gs, _, err := s.DescribeSecurityGroups(ctx, alice, DescribeSecurityGroupsInput{Filters: fs})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, g := range gs {
			out = append(out, g.Name)
		}
		return out
	}
	f := func(name string, values ...string) Filter { return Filter{Name: name, Values: values} }
	cases := []struct {
		filters []Filter
		want    string
	}{
		{[]Filter{f("group-name", "web")}, "web"},
		{[]Filter{f("group-name", "web", "database")}, "database,web"},
		{[]Filter{f("description", "*base*")}, "database"},
		{[]Filter{f("ip-permission.from-port", "5432")}, "database"},
		{[]Filter{f("ip-permission.group-id", string(web.ID))}, "database"},
		{[]Filter{f("ip-permission.group-name", "web")}, "database"},
		{[]Filter{f("ip-permission.cidr", "10.0.0.0/8")}, "database"},
		{[]Filter{f("ip-permission.cidr", "10.*")}, "database"},
		{[]Filter{f("ip-permission.ipv6-cidr", "2001:db8::/32")}, "database"},
		{[]Filter{f("ip-permission.protocol", "tcp"), f("ip-permission.to-port", "22")}, "database"},
		// Any combination of rules, not necessarily one rule, matches.
		{[]Filter{f("ip-permission.cidr", "10.0.0.0/8"), f("ip-permission.to-port", "5432")}, "database"},
		{[]Filter{f("egress.ip-permission.cidr", "0.0.0.0/0"), f("group-name", "w?b")}, "web"},
		{[]Filter{f("egress.ip-permission.protocol", "-1"), f("ip-permission.protocol", "-1")}, "default"},
		{[]Filter{f("ip-permission.user-id", string(alice.Account))}, "database,default"},
		{[]Filter{f("owner-id", "999999999999")}, ""},
	}
	for _, c := range cases {
		got := names(c.filters...)
		if strings.Join(sortedCopy(got), ",") != c.want {
			t.Errorf("%v: got %v, want %s", c.filters, got, c.want)
		}
	}
	_, _, err = s.DescribeSecurityGroups(ctx, alice, DescribeSecurityGroupsInput{Filters: []Filter{f("bogus", "x")}})
	wantCode(t, err, model.CodeInvalidParameterValue)
	_, _, err = s.DescribeSecurityGroups(ctx, alice, DescribeSecurityGroupsInput{IDs: []string{"sg-0123456789abcdef0"}})
	wantCode(t, err, model.CodeInvalidGroupNotFound)
	_, _, err = s.DescribeSecurityGroups(ctx, alice, DescribeSecurityGroupsInput{Names: []string{"nope"}})
	wantCode(t, err, model.CodeInvalidGroupNotFound)
	_, _, err = s.DescribeSecurityGroupRules(ctx, alice, nil, []Filter{f("group-id", "foobar")}, Page{})
	if model.CodeOf(err) != model.CodeInvalidGroupIDMalformed || !strings.Contains(err.Error(), "The security group ID 'foobar' is malformed") {
		t.Error(err)
	}
	none, _, err := s.DescribeSecurityGroupRules(ctx, alice, nil, []Filter{f("group-id", "sg-0123456789abcdef0")}, Page{})
	if err != nil || len(none) != 0 {
		t.Errorf("unknown group id filter: %v %v", none, err)
	}
}

func sortedCopy(ss []string) []string {
	out := append([]string(nil), ss...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestPaginationSurvivesInserts(t *testing.T) {
	s := newTestService(t)
	for i := range 12 {
		mustGroup(t, s, alice, "g"+string(rune('a'+i)), "")
	}
	seen := map[model.GroupID]bool{}
	page := Page{MaxResults: 5}
	for n := 0; ; n++ {
		gs, next, err := s.DescribeSecurityGroups(ctx, alice, DescribeSecurityGroupsInput{Page: page})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range gs {
			if seen[g.ID] {
				t.Fatalf("%s returned twice", g.ID)
			}
			seen[g.ID] = true
		}
		if n == 0 {
			mustGroup(t, s, alice, "late", "") // a writer inserts between pages
		}
		if next == "" {
			break
		}
		page.NextToken = next
	}
	if len(seen) < 13 { // 12 + default; "late" may or may not sort after the cursor
		t.Fatalf("saw %d groups", len(seen))
	}
	for _, bad := range []Page{{MaxResults: 4}, {MaxResults: 1001}, {NextToken: "!!"}} {
		_, _, err := s.DescribeSecurityGroups(ctx, alice, DescribeSecurityGroupsInput{Page: bad})
		wantCode(t, err, model.CodeInvalidParameterValue)
	}
}

func TestConcurrentAuthorizeLosesNothing(t *testing.T) {
	s := newTestServiceOn(t, newMem(t), DefaultConfig())
	cfg := s.cfg
	cfg.MaxRulesPerGroup = 1000
	s.cfg = cfg
	g := mustGroup(t, s, alice, "busy", "")
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				_, err := s.Authorize(ctx, alice, AuthorizeInput{Group: GroupRef{ID: string(g.ID)}, Direction: model.Ingress,
					Permissions: []model.PermissionSpec{tcpFrom(int32(1000+w), int32(1000+w), "10.0."+itoa(w)+"."+itoa(i)+"/32")}})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rules := describeGroup(t, s, alice, g.ID).RulesOf(model.Ingress)
	ids := map[model.RuleID]bool{}
	for _, r := range rules {
		ids[r.ID] = true
	}
	if len(rules) != 200 || len(ids) != 200 {
		t.Fatalf("%d rules, %d distinct ids; want 200", len(rules), len(ids))
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
