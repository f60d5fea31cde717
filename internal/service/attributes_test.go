package service_test

import (
	"slices"
	"strings"
	"testing"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/mem"
)

func TestModifyInstanceAttributeGroups(t *testing.T) {
	f := newFixture(t)
	var gs []string
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		gs = append(gs, string(f.group(bob, n, "").ID))
	}
	other := f.group(bob, "other", f.vpc(bob, "10.7.0.0/16", false).ID)
	inst := f.run(bob, service.RunInstancesInput{}).Instances[0]
	id := string(inst.ID)
	modify := func(in service.ModifyInstanceAttributeInput) error {
		in.InstanceID = id
		return f.ModifyInstanceAttribute(ctx, bob, in)
	}
	if err := modify(service.ModifyInstanceAttributeInput{GroupIDs: gs[:5]}); err != nil {
		t.Fatal(err)
	}
	got := f.describeInstance(bob, inst.ID)
	if len(got.GroupSet) != 5 || got.GroupSet[0].Name != "a" || got.Interfaces[0].Groups[4] != model.GroupID(gs[4]) {
		t.Fatalf("groups after modify: %+v", got.GroupSet)
	}
	wantErr(t, modify(service.ModifyInstanceAttributeInput{GroupIDs: gs}), model.CodeGroupsPerInterfaceLimitExceeded,
		"The maximum number of security groups per interface has been reached.")
	wantErr(t, modify(service.ModifyInstanceAttributeInput{GroupIDs: []string{string(other.ID)}}), model.CodeInvalidGroupNotFound,
		"You have specified two resources that belong to different networks.")
	wantErr(t, modify(service.ModifyInstanceAttributeInput{GroupIDs: []string{"sg-0123456789abcdef0"}}), model.CodeInvalidGroupNotFound,
		"The security group 'sg-0123456789abcdef0' does not exist")
	wantErr(t, modify(service.ModifyInstanceAttributeInput{}), model.CodeMissingParameter, "attribute")
	wantErr(t, modify(service.ModifyInstanceAttributeInput{GroupIDs: gs[:1], SourceDestCheck: pbool(false)}), model.CodeInvalidParameterCombination, "one attribute")
	wantErr(t, modify(service.ModifyInstanceAttributeInput{InstanceType: pstr("m5.large")}), model.CodeIncorrectState, "is not in the 'stopped' state")

	// Group a is in use until the groups are replaced.
	_, err := f.DeleteSecurityGroup(ctx, bob, service.GroupRef{ID: gs[0]})
	wantErr(t, err, model.CodeDependencyViolation, gs[0])
	if err := modify(service.ModifyInstanceAttributeInput{GroupIDs: gs[5:]}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.DeleteSecurityGroup(ctx, bob, service.GroupRef{ID: gs[0]}); err != nil {
		t.Fatal(err)
	}

	// With a second interface, groups must be set per interface.
	spare := f.eni(bob, service.CreateNetworkInterfaceInput{SubnetID: string(inst.Subnet)})
	if _, err := f.AttachNetworkInterface(ctx, bob, service.AttachNetworkInterfaceInput{NetworkInterfaceID: string(spare.ID), InstanceID: id, DeviceIndex: p32(1)}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, modify(service.ModifyInstanceAttributeInput{GroupIDs: gs[1:2]}), model.CodeInvalidInstanceID,
		"There are multiple interfaces attached to instance '"+id+"'. Please specify an interface ID for the operation instead.")

	// Instance type changes while stopped; source/dest check on eth0.
	if _, err := f.StopInstances(ctx, bob, []string{id}); err != nil {
		t.Fatal(err)
	}
	if err := modify(service.ModifyInstanceAttributeInput{InstanceType: pstr("m5.large")}); err != nil {
		t.Fatal(err)
	}
	if err := modify(service.ModifyInstanceAttributeInput{SourceDestCheck: pbool(false)}); err != nil {
		t.Fatal(err)
	}
	attr := func(name string) *service.InstanceAttribute {
		t.Helper()
		a, err := f.DescribeInstanceAttribute(ctx, bob, id, name)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	if a := attr("instanceType"); a.Value != "m5.large" || !a.HasValue {
		t.Errorf("instanceType %+v", a)
	}
	if a := attr("sourceDestCheck"); a.Value != "false" {
		t.Errorf("sourceDestCheck %+v", a)
	}
	if a := attr("groupSet"); len(a.GroupSet) != 2 || a.GroupSet[0].Name != "f" || a.GroupSet[1].Name != "default" {
		t.Errorf("groupSet %+v", a.GroupSet)
	}
	if a := attr("disableApiTermination"); a.Value != "false" {
		t.Errorf("disableApiTermination %+v", a)
	}
	if a := attr("userData"); a.HasValue {
		t.Errorf("userData %+v", a)
	}
	_, err = f.DescribeInstanceAttribute(ctx, bob, id, "colour")
	wantErr(t, err, model.CodeInvalidParameterValue, "colour")
	if _, err := f.TerminateInstances(ctx, bob, []string{id}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, modify(service.ModifyInstanceAttributeInput{GroupIDs: gs[1:2]}), model.CodeIncorrectState, id)
}

func TestModifyNetworkInterfaceAttribute(t *testing.T) {
	f := newFixture(t)
	sub := string(f.defaultSubnet(bob, "us-east-1a").ID)
	n := f.eni(bob, service.CreateNetworkInterfaceInput{SubnetID: sub, Conntrack: model.ConntrackTimeouts{UDP: 40}})
	var gs []string
	for _, name := range []string{"a", "b", "c", "d", "e", "f"} {
		gs = append(gs, string(f.group(bob, name, "").ID))
	}
	other := f.group(bob, "other", f.vpc(bob, "10.7.0.0/16", false).ID)
	modify := func(in service.ModifyNetworkInterfaceAttributeInput) error {
		in.NetworkInterfaceID = string(n.ID)
		return f.ModifyNetworkInterfaceAttribute(ctx, bob, in)
	}
	if err := modify(service.ModifyNetworkInterfaceAttributeInput{GroupIDs: gs[:2]}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, modify(service.ModifyNetworkInterfaceAttributeInput{GroupIDs: gs}), model.CodeGroupsPerInterfaceLimitExceeded, "per interface")
	wantErr(t, modify(service.ModifyNetworkInterfaceAttributeInput{GroupIDs: []string{string(other.ID)}}), model.CodeInvalidGroupNotFound, "belong to different networks")
	wantErr(t, modify(service.ModifyNetworkInterfaceAttributeInput{GroupIDs: []string{"web"}}), model.CodeInvalidGroupIDMalformed, "web")
	wantErr(t, modify(service.ModifyNetworkInterfaceAttributeInput{GroupIDs: gs[:1], Description: pstr("x")}), model.CodeInvalidParameterCombination, "one attribute")
	wantErr(t, modify(service.ModifyNetworkInterfaceAttributeInput{}), model.CodeMissingParameter, "attribute")
	wantErr(t, modify(service.ModifyNetworkInterfaceAttributeInput{Conntrack: &model.ConntrackTimeouts{UDPStream: 200}}), model.CodeInvalidParameterValue, "UdpStreamTimeout")
	wantErr(t, modify(service.ModifyNetworkInterfaceAttributeInput{DeleteOnTermination: pbool(true)}), model.CodeMissingParameter, "attachmentId")
	wantErr(t, modify(service.ModifyNetworkInterfaceAttributeInput{DeleteOnTermination: pbool(true), AttachmentID: "eni-attach-0123456789abcdef0"}), "InvalidAttachmentID.NotFound", "eni-attach-0123456789abcdef0")
	for _, in := range []service.ModifyNetworkInterfaceAttributeInput{
		{Conntrack: &model.ConntrackTimeouts{TCPEstablished: 120}},
		{Description: pstr("renamed")},
		{SourceDestCheck: pbool(false)},
	} {
		if err := modify(in); err != nil {
			t.Fatal(err)
		}
	}
	got := f.describeENI(bob, n.ID)
	if got.Conntrack != (model.ConntrackTimeouts{TCPEstablished: 120, UDP: 40}) || got.Description != "renamed" || got.SourceDestCheck ||
		!slices.Equal(got.Groups, []model.GroupID{model.GroupID(gs[0]), model.GroupID(gs[1])}) {
		t.Fatalf("after modify: %+v", got)
	}
	wantErr(t, f.ModifyNetworkInterfaceAttribute(ctx, bob, service.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceID: "eni-0123456789abcdef0", Description: pstr("x")}),
		model.CodeInvalidNetworkInterfaceIDNotFound, "eni-0123456789abcdef0")

	// DeleteOnTermination of an attachment.
	inst := f.run(bob, service.RunInstancesInput{}).Instances[0]
	att, err := f.AttachNetworkInterface(ctx, bob, service.AttachNetworkInterfaceInput{NetworkInterfaceID: string(n.ID), InstanceID: string(inst.ID), DeviceIndex: p32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if err := modify(service.ModifyNetworkInterfaceAttributeInput{DeleteOnTermination: pbool(true), AttachmentID: string(att)}); err != nil {
		t.Fatal(err)
	}
	for name, check := range map[string]func(*service.NetworkInterfaceAttribute) bool{
		"attachment": func(a *service.NetworkInterfaceAttribute) bool {
			return a.Attachment.ID == att && a.Attachment.DeleteOnTermination
		},
		"groupSet": func(a *service.NetworkInterfaceAttribute) bool {
			return len(a.GroupSet) == 2 && a.GroupSet[1].Name == "b"
		},
		"description":     func(a *service.NetworkInterfaceAttribute) bool { return a.Description == "renamed" },
		"sourceDestCheck": func(a *service.NetworkInterfaceAttribute) bool { return !a.SourceDestCheck },
	} {
		a, err := f.DescribeNetworkInterfaceAttribute(ctx, bob, string(n.ID), name)
		if err != nil || a.Attribute != name || !check(a) {
			t.Errorf("%s: %+v %v", name, a, err)
		}
	}
	_, err = f.DescribeNetworkInterfaceAttribute(ctx, bob, string(n.ID), "colour")
	wantErr(t, err, model.CodeInvalidParameterValue, "colour")
	if _, err := f.TerminateInstances(ctx, bob, []string{string(inst.ID)}); err != nil {
		t.Fatal(err)
	}
	_, _, err = f.DescribeNetworkInterfaces(ctx, bob, service.DescribeNetworkInterfacesInput{IDs: []string{string(n.ID)}})
	wantErr(t, err, model.CodeInvalidNetworkInterfaceIDNotFound, string(n.ID))
}

func TestDescribeAccountAttributes(t *testing.T) {
	cfg := service.DefaultConfig()
	cfg.MaxGroupsPerInterface = 8
	f := newFixtureConfig(t, cfg)
	vpcs, _, err := f.DescribeVpcs(ctx, bob, nil, nil, service.Page{})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := f.DescribeAccountAttributes(ctx, bob, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range attrs {
		got[a.Name] = a.Values[0]
	}
	want := map[string]string{
		"supported-platforms": "VPC", "default-vpc": string(vpcs[0].ID), "max-instances": "1000",
		"vpc-max-security-groups-per-interface": "8", "max-security-groups-per-interface": "8",
		"max-elastic-ips": "5", "vpc-max-elastic-ips": "5",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	attrs, err = f.DescribeAccountAttributes(ctx, bob, []string{"default-vpc"})
	if err != nil || len(attrs) != 1 || attrs[0].Name != "default-vpc" {
		t.Fatalf("selected %+v %v", attrs, err)
	}
	_, err = f.DescribeAccountAttributes(ctx, bob, []string{"max-fun"})
	wantErr(t, err, model.CodeInvalidParameterValue, "max-fun")

	// Without a default VPC, default-vpc is "none".
	sns, _, _ := f.DescribeSubnets(ctx, bob, nil, nil, service.Page{})
	for _, sn := range sns {
		if err := f.DeleteSubnet(ctx, bob, string(sn.ID)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.DeleteVpc(ctx, bob, string(vpcs[0].ID)); err != nil {
		t.Fatal(err)
	}
	attrs, err = f.DescribeAccountAttributes(ctx, bob, []string{"default-vpc"})
	if err != nil || attrs[0].Values[0] != "none" {
		t.Fatalf("without a default VPC: %+v %v", attrs, err)
	}
}

// A service serves the regions of its configuration, and only those:
// DescribeRegions lists exactly them, and a caller in any other region is
// refused by every operation, reads included, before anything is written.
func TestServedRegions(t *testing.T) {
	cfg := service.DefaultConfig()
	cfg.Regions = []string{"lab-west-1", "us-east-1"}
	st := mem.New(mem.Options{})
	t.Cleanup(func() { st.Close() })
	f := newFixtureOn(t, st, cfg)
	regions, err := f.DescribeRegions(ctx, bob, nil, nil)
	if err != nil || len(regions) != 2 || regions[0].Name != "lab-west-1" || regions[1].Name != "us-east-1" ||
		regions[0].OptInStatus != "opted-in" || regions[1].OptInStatus != "opt-in-not-required" {
		t.Fatalf("%+v %v", regions, err)
	}
	_, err = f.DescribeRegions(ctx, bob, []string{"eu-west-1"}, nil)
	wantErr(t, err, model.CodeInvalidParameterValue, "Invalid region: eu-west-1")

	for _, region := range []string{"eu-west-1", "xx-invented-1", "us-east-10", strings.Repeat("a", 200)} {
		c := service.Caller{Account: bob.Account, Region: region}
		_, _, err := f.DescribeVpcs(ctx, c, nil, nil, service.Page{})
		wantErr(t, err, model.CodeSignatureDoesNotMatch, "Credential should be scoped to a valid region, not '")
		if len(err.Error()) > 200 {
			t.Errorf("the region is echoed whole: %v", err)
		}
		_, err = f.CreateSecurityGroup(ctx, c, service.CreateSecurityGroupInput{Name: "x", Description: "x"})
		wantErr(t, err, model.CodeSignatureDoesNotMatch, "valid region")
		_, err = f.DescribeRegions(ctx, c, nil, nil)
		wantErr(t, err, model.CodeSignatureDoesNotMatch, "valid region")
		_, err = f.DescribeAvailabilityZones(ctx, c, nil, nil, nil)
		wantErr(t, err, model.CodeSignatureDoesNotMatch, "valid region")
	}
	page, err := st.List(ctx, "", store.ListOptions{})
	if err != nil || len(page.KVs) != 0 {
		t.Fatalf("refused requests wrote %d keys (%v)", len(page.KVs), err)
	}
}

func TestRegionsConfig(t *testing.T) {
	for _, regions := range [][]string{nil, {"us-east-1", "us-east-1"}, {"US-EAST-1"}, {""}, {"moon"}} {
		cfg := service.DefaultConfig()
		cfg.Regions = regions
		if err := cfg.Check(); err == nil {
			t.Errorf("%q accepted", regions)
		}
	}
}

func TestDescribeRegionsAndZones(t *testing.T) {
	f := newFixture(t)
	regions, err := f.DescribeRegions(ctx, bob, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]service.Region{}
	for _, r := range regions {
		byName[r.Name] = r
	}
	if r := byName["us-east-1"]; r.OptInStatus != "opt-in-not-required" || r.Endpoint != "ec2.us-east-1.amazonaws.com" {
		t.Errorf("us-east-1: %+v", r)
	}
	if r := byName["af-south-1"]; r.OptInStatus != "opted-in" {
		t.Errorf("af-south-1: %+v", r)
	}
	if len(regions) < 30 || !slices.IsSortedFunc(regions, func(a, b service.Region) int { return strings.Compare(a.Name, b.Name) }) {
		t.Errorf("%d regions", len(regions))
	}
	if want := service.AWSRegions(); len(regions) != len(want) {
		t.Errorf("%d regions listed, %d served", len(regions), len(want))
	}
	regions, err = f.DescribeRegions(ctx, bob, []string{"eu-west-1"}, []service.Filter{{Name: "opt-in-status", Values: []string{"opt-in-not-required"}}})
	if err != nil || len(regions) != 1 {
		t.Errorf("by name: %+v %v", regions, err)
	}
	_, err = f.DescribeRegions(ctx, bob, []string{"moon"}, nil)
	wantErr(t, err, model.CodeInvalidParameterValue, "moon")

	cfg := service.DefaultConfig()
	cfg.Regions = append(cfg.Regions, "us-gov-west-1")
	f = newFixtureConfig(t, cfg)
	for region, id := range map[string]string{"us-east-1": "use1-az1", "eu-central-1": "euc1-az1", "ap-southeast-2": "apse2-az1", "us-gov-west-1": "usgw1-az1"} {
		zones, err := f.DescribeAvailabilityZones(ctx, service.Caller{Account: bob.Account, Region: region}, nil, nil, nil)
		if err != nil || len(zones) != 3 || zones[0].Name != region+"a" || zones[0].ID != id || zones[2].State != "available" || zones[1].Region != region {
			t.Errorf("%s: %+v %v", region, zones, err)
		}
	}
	zones, err := f.DescribeAvailabilityZones(ctx, bob, []string{"us-east-1b"}, []string{"use1-az3"}, nil)
	if err != nil || len(zones) != 2 || zones[0].Name != "us-east-1b" || zones[1].Name != "us-east-1c" {
		t.Errorf("selected %+v %v", zones, err)
	}
	zones, err = f.DescribeAvailabilityZones(ctx, bob, nil, nil, []service.Filter{{Name: "zone-id", Values: []string{"use1-az2"}}})
	if err != nil || len(zones) != 1 || zones[0].Name != "us-east-1b" {
		t.Errorf("filtered %+v %v", zones, err)
	}
	_, err = f.DescribeAvailabilityZones(ctx, bob, []string{"us-east-1d"}, nil, nil)
	wantErr(t, err, model.CodeInvalidParameterValue, "Invalid availability zone: [us-east-1d]")
}
