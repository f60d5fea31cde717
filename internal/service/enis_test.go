package service_test

import (
	"strings"
	"testing"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
)

func TestCreateNetworkInterface(t *testing.T) {
	f := newFixture(t)
	def := f.defaultSubnet(bob, "us-east-1b")
	n := f.eni(bob, service.CreateNetworkInterfaceInput{SubnetID: string(def.ID), Description: "spare",
		TagSpecifications: []service.TagSpecification{{ResourceType: "network-interface", Tags: model.Tags{{Key: "Name", Value: "spare"}}}}})
	switch {
	case !strings.HasPrefix(string(n.ID), "eni-") || n.Subnet != def.ID || n.VPC != def.VPC || n.Zone != "us-east-1b":
		t.Errorf("placement %+v", n)
	case len(n.PrivateIPs) != 1 || n.PrivateIPs[0] != addr("172.31.16.4"):
		t.Errorf("address %v, want the first after the reserved four", n.PrivateIPs)
	case len(n.GroupSet) != 1 || n.GroupSet[0].Name != "default":
		t.Errorf("groups %+v, want the VPC's default group", n.GroupSet)
	case n.Status() != "available" || n.Attachment != nil || !n.SourceDestCheck || n.Description != "spare":
		t.Errorf("state %+v", n)
	case n.MAC != "02:"+strings.Join(pairs(string(n.ID)[len(n.ID)-10:]), ":"):
		t.Errorf("MAC %s does not come from %s", n.MAC, n.ID)
	case len(n.Tags) != 1 || n.Conntrack != (model.ConntrackTimeouts{}):
		t.Errorf("tags %v conntrack %+v", n.Tags, n.Conntrack)
	}
}

func pairs(s string) []string {
	var out []string
	for i := 0; i < len(s); i += 2 {
		out = append(out, s[i:i+2])
	}
	return out
}

func TestCreateNetworkInterfaceErrors(t *testing.T) {
	f := newFixture(t)
	def := f.defaultSubnet(bob, "us-east-1a")
	other := f.vpc(bob, "10.9.0.0/16", false)
	otherGroup := f.group(bob, "elsewhere", other.ID)
	taken := f.eni(bob, service.CreateNetworkInterfaceInput{SubnetID: string(def.ID)}).PrivateIPs[0].String()
	var six []string
	for i := range 6 {
		six = append(six, string(f.group(bob, "g"+string(rune('a'+i)), "").ID))
	}
	sub := string(def.ID)
	cases := []struct {
		name      string
		in        service.CreateNetworkInterfaceInput
		code, msg string
	}{
		{"no subnet", service.CreateNetworkInterfaceInput{}, model.CodeMissingParameter, "subnetId"},
		{"malformed subnet", service.CreateNetworkInterfaceInput{SubnetID: "net-1"}, model.CodeInvalidSubnetIDMalformed, "net-1"},
		{"unknown subnet", service.CreateNetworkInterfaceInput{SubnetID: "subnet-0123456789abcdef0"}, model.CodeInvalidSubnetIDNotFound, "does not exist"},
		{"address outside", service.CreateNetworkInterfaceInput{SubnetID: sub, PrivateIP: "172.31.16.9"}, model.CodeInvalidParameterValue, "Address 172.31.16.9 does not fall within the subnet's address range"},
		{"network address", service.CreateNetworkInterfaceInput{SubnetID: sub, PrivateIP: "172.31.0.0"}, model.CodeInvalidParameterValue, "is in subnet's reserved address range"},
		{"router", service.CreateNetworkInterfaceInput{SubnetID: sub, PrivateIP: "172.31.0.1"}, model.CodeInvalidParameterValue, "reserved"},
		{"dns", service.CreateNetworkInterfaceInput{SubnetID: sub, PrivateIP: "172.31.0.2"}, model.CodeInvalidParameterValue, "reserved"},
		{"future", service.CreateNetworkInterfaceInput{SubnetID: sub, PrivateIP: "172.31.0.3"}, model.CodeInvalidParameterValue, "reserved"},
		{"broadcast", service.CreateNetworkInterfaceInput{SubnetID: sub, PrivateIP: "172.31.15.255"}, model.CodeInvalidParameterValue, "reserved"},
		{"in use", service.CreateNetworkInterfaceInput{SubnetID: sub, PrivateIP: taken}, "InvalidIPAddress.InUse", "Address " + taken + " is in use."},
		{"not an address", service.CreateNetworkInterfaceInput{SubnetID: sub, PrivateIP: "172.31.0.300"}, model.CodeInvalidParameterValue, "privateIpAddress"},
		{"ipv6 without a block", service.CreateNetworkInterfaceInput{SubnetID: sub, IPv6AddressCount: 1}, model.CodeInvalidParameterValue, "no IPv6 CIDR block"},
		{"ipv6 count", service.CreateNetworkInterfaceInput{SubnetID: sub, IPv6AddressCount: -1}, model.CodeInvalidParameterValue, "ipv6AddressCount"},
		{"conntrack", service.CreateNetworkInterfaceInput{SubnetID: sub, Conntrack: model.ConntrackTimeouts{TCPEstablished: 59}}, model.CodeInvalidParameterValue, "TcpEstablishedTimeout"},
		{"six groups", service.CreateNetworkInterfaceInput{SubnetID: sub, GroupIDs: six}, model.CodeInvalidParameterValue, "user 210987654321 exceeded limit 5 on the number of interface security group memberships"},
		{"other vpc", service.CreateNetworkInterfaceInput{SubnetID: sub, GroupIDs: []string{string(otherGroup.ID)}}, model.CodeInvalidParameter, "belong to different networks"},
		{"unknown group", service.CreateNetworkInterfaceInput{SubnetID: sub, GroupIDs: []string{"sg-0123456789abcdef0"}}, model.CodeInvalidGroupNotFound, "The security group 'sg-0123456789abcdef0' does not exist in VPC"},
		{"malformed group", service.CreateNetworkInterfaceInput{SubnetID: sub, GroupIDs: []string{"default"}}, model.CodeInvalidGroupIDMalformed, "default"},
		{"description", service.CreateNetworkInterfaceInput{SubnetID: sub, Description: strings.Repeat("d", 256)}, model.CodeInvalidParameterValue, "description"},
		{"tag type", service.CreateNetworkInterfaceInput{SubnetID: sub, TagSpecifications: []service.TagSpecification{{ResourceType: "instance"}}}, model.CodeInvalidParameterValue, "'instance' is not a valid taggable resource type for this operation."},
		{"tag type twice", service.CreateNetworkInterfaceInput{SubnetID: sub, TagSpecifications: []service.TagSpecification{{ResourceType: "network-interface"}, {ResourceType: "network-interface"}}}, model.CodeInvalidParameterValue, "more than once"},
		{"reserved tag", service.CreateNetworkInterfaceInput{SubnetID: sub, TagSpecifications: []service.TagSpecification{{ResourceType: "network-interface", Tags: model.Tags{{Key: "aws:x"}}}}}, model.CodeInvalidParameterValue, "aws:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.CreateNetworkInterface(ctx, bob, c.in)
			wantErr(t, err, c.code, c.msg)
		})
	}
	// Five groups are fine, duplicates count once.
	n := f.eni(bob, service.CreateNetworkInterfaceInput{SubnetID: sub, GroupIDs: append(six[:5:5], six[0])})
	if len(n.Groups) != 5 {
		t.Errorf("groups %v", n.Groups)
	}
}

func TestCreateNetworkInterfaceIPv6(t *testing.T) {
	f := newFixture(t)
	v := f.vpc(bob, "10.1.0.0/16", true)
	sn := f.subnet(bob, v.ID, "10.1.1.0/24", subnet64(v, 3), "")
	a := f.eni(bob, service.CreateNetworkInterfaceInput{SubnetID: string(sn.ID), IPv6AddressCount: 2, PrivateIP: "10.1.1.200"})
	b := f.eni(bob, service.CreateNetworkInterfaceInput{SubnetID: string(sn.ID), IPv6AddressCount: 1})
	if a.PrivateIPs[0] != addr("10.1.1.200") || len(a.IPv6s) != 2 || a.IPv6s[0] != addrAt(v, 3, 4) || a.IPv6s[1] != addrAt(v, 3, 5) {
		t.Errorf("first %v %v", a.PrivateIPs, a.IPv6s)
	}
	if b.PrivateIPs[0] != addr("10.1.1.4") || b.IPv6s[0] != addrAt(v, 3, 6) {
		t.Errorf("second %v %v", b.PrivateIPs, b.IPv6s)
	}
	// Deleting frees both families for reuse.
	if err := f.DeleteNetworkInterface(ctx, bob, string(a.ID)); err != nil {
		t.Fatal(err)
	}
	c := f.eni(bob, service.CreateNetworkInterfaceInput{SubnetID: string(sn.ID), IPv6AddressCount: 1})
	if c.PrivateIPs[0] != addr("10.1.1.5") || c.IPv6s[0] != addrAt(v, 3, 4) {
		t.Errorf("after delete %v %v", c.PrivateIPs, c.IPv6s)
	}
}

func TestCreateNetworkInterfaceClientToken(t *testing.T) {
	f := newFixture(t)
	sub := string(f.defaultSubnet(bob, "us-east-1a").ID)
	in := service.CreateNetworkInterfaceInput{SubnetID: sub, Description: "x", ClientToken: "tok"}
	a := f.eni(bob, in)
	b := f.eni(bob, in)
	if a.ID != b.ID || a.PrivateIPs[0] != b.PrivateIPs[0] {
		t.Fatalf("retry made another interface: %s %s", a.ID, b.ID)
	}
	in.Description = "y"
	_, err := f.CreateNetworkInterface(ctx, bob, in)
	wantErr(t, err, "IdempotentParameterMismatch", "Arguments on this idempotent request are inconsistent")
	if err := f.DeleteNetworkInterface(ctx, bob, string(a.ID)); err != nil {
		t.Fatal(err)
	}
	if c := f.eni(bob, in); c.ID == a.ID {
		t.Fatal("a deleted interface came back")
	}
}

func TestAttachDetach(t *testing.T) {
	f := newFixture(t)
	inst := f.run(bob, service.RunInstancesInput{}).Instances[0]
	sub := string(inst.Subnet)
	spare := f.eni(bob, service.CreateNetworkInterfaceInput{SubnetID: sub})
	third := f.eni(bob, service.CreateNetworkInterfaceInput{SubnetID: sub})
	farAway := f.eni(bob, service.CreateNetworkInterfaceInput{SubnetID: string(f.defaultSubnet(bob, "us-east-1c").ID)})
	attach := func(e model.ENIID, i model.InstanceID, idx *int32) (model.AttachmentID, error) {
		return f.AttachNetworkInterface(ctx, bob, service.AttachNetworkInterfaceInput{NetworkInterfaceID: string(e), InstanceID: string(i), DeviceIndex: idx})
	}
	att, err := attach(spare.ID, inst.ID, p32(1))
	if err != nil || !strings.HasPrefix(string(att), "eni-attach-") {
		t.Fatal(att, err)
	}
	got := f.describeInstance(bob, inst.ID)
	if len(got.Interfaces) != 2 || got.Interfaces[1].ID != spare.ID || got.Interfaces[1].Attachment.DeleteOnTermination {
		t.Fatalf("instance after attach: %+v", got.Interfaces)
	}
	_, err = attach(spare.ID, inst.ID, p32(2))
	wantErr(t, err, "InvalidNetworkInterface.InUse", string(spare.ID))
	_, err = attach(third.ID, inst.ID, p32(1))
	wantErr(t, err, model.CodeInvalidParameterValue, "Instance '"+string(inst.ID)+"' already has an interface attached at device index '1'.")
	_, err = attach(third.ID, inst.ID, p32(0))
	wantErr(t, err, model.CodeInvalidParameterValue, "device index '0'")
	_, err = attach(third.ID, inst.ID, nil)
	wantErr(t, err, model.CodeMissingParameter, "deviceIndex")
	_, err = attach(third.ID, inst.ID, p32(16))
	wantErr(t, err, model.CodeInvalidParameterValue, "deviceIndex")
	_, err = attach(farAway.ID, inst.ID, p32(2))
	wantErr(t, err, model.CodeInvalidParameterValue, "same VPC and availability zone")
	_, err = attach(third.ID, "i-0123456789abcdef0", p32(2))
	wantErr(t, err, model.CodeInvalidInstanceIDNotFound, "i-0123456789abcdef0")

	err = f.DeleteNetworkInterface(ctx, bob, string(spare.ID))
	wantErr(t, err, model.CodeInvalidParameterValue, "Network interface '"+string(spare.ID)+"' is currently in use.")
	err = f.DetachNetworkInterface(ctx, bob, string(inst.Interfaces[0].Attachment.ID))
	wantErr(t, err, "OperationNotPermitted", "device index 0")
	err = f.DetachNetworkInterface(ctx, bob, "eni-attach-0123456789abcdef0")
	wantErr(t, err, "InvalidAttachmentID.NotFound", "eni-attach-0123456789abcdef0")
	err = f.DetachNetworkInterface(ctx, bob, "attach-1")
	wantErr(t, err, model.CodeInvalidParameterValue, "malformed")

	if err := f.DetachNetworkInterface(ctx, bob, string(att)); err != nil {
		t.Fatal(err)
	}
	if n := f.describeENI(bob, spare.ID); n.Status() != "available" {
		t.Errorf("status after detach %s", n.Status())
	}
	if got := f.describeInstance(bob, inst.ID); len(got.Interfaces) != 1 {
		t.Errorf("instance still lists %d interfaces", len(got.Interfaces))
	}
	if err := f.DeleteNetworkInterface(ctx, bob, string(spare.ID)); err != nil {
		t.Fatal(err)
	}
	err = f.DeleteNetworkInterface(ctx, bob, string(spare.ID))
	wantErr(t, err, model.CodeInvalidNetworkInterfaceIDNotFound, string(spare.ID))
	// A terminated instance takes no interface.
	if _, err := f.TerminateInstances(ctx, bob, []string{string(inst.ID)}); err != nil {
		t.Fatal(err)
	}
	_, err = attach(third.ID, inst.ID, p32(1))
	wantErr(t, err, model.CodeIncorrectState, string(inst.ID))
}

func TestDescribeNetworkInterfaces(t *testing.T) {
	f := newFixture(t)
	web := f.group(bob, "web", "")
	inst := f.run(bob, service.RunInstancesInput{GroupIDs: []string{string(web.ID)}}).Instances[0]
	sub := string(f.defaultSubnet(bob, "us-east-1b").ID)
	free := f.eni(bob, service.CreateNetworkInterfaceInput{SubnetID: sub, Description: "free one",
		TagSpecifications: []service.TagSpecification{{ResourceType: "network-interface", Tags: model.Tags{{Key: "Name", Value: "free"}}}}})
	primary := inst.Interfaces[0]
	flt := func(name string, v ...string) service.Filter { return service.Filter{Name: name, Values: v} }
	cases := []struct {
		f    service.Filter
		want []model.ENIID
	}{
		{flt("status", "available"), []model.ENIID{free.ID}},
		{flt("status", "in-use"), []model.ENIID{primary.ID}},
		{flt("group-id", string(web.ID)), []model.ENIID{primary.ID}},
		{flt("group-name", "default"), []model.ENIID{free.ID}},
		{flt("attachment.instance-id", string(inst.ID)), []model.ENIID{primary.ID}},
		{flt("attachment.attachment-id", string(primary.Attachment.ID)), []model.ENIID{primary.ID}},
		{flt("attachment.device-index", "0"), []model.ENIID{primary.ID}},
		{flt("private-ip-address", primary.PrivateIPs[0].String()), []model.ENIID{primary.ID}},
		{flt("addresses.private-ip-address", "172.31.16.*"), []model.ENIID{free.ID}},
		{flt("availability-zone", "us-east-1b"), []model.ENIID{free.ID}},
		{flt("subnet-id", sub), []model.ENIID{free.ID}},
		{flt("description", "free*"), []model.ENIID{free.ID}},
		{flt("tag:Name", "free"), []model.ENIID{free.ID}},
		{flt("tag-key", "Name"), []model.ENIID{free.ID}},
		{flt("owner-id", string(bob.Account)), []model.ENIID{free.ID, primary.ID}},
		{flt("network-interface-id", string(free.ID)), []model.ENIID{free.ID}},
		{flt("mac-address", free.MAC), []model.ENIID{free.ID}},
	}
	for _, c := range cases {
		ns, _, err := f.DescribeNetworkInterfaces(ctx, bob, service.DescribeNetworkInterfacesInput{Filters: []service.Filter{c.f}})
		if err != nil {
			t.Fatal(err)
		}
		var got []model.ENIID
		for _, n := range ns {
			got = append(got, n.ID)
		}
		if !sameIDs(got, c.want) {
			t.Errorf("%s=%v: %v, want %v", c.f.Name, c.f.Values, got, c.want)
		}
	}
	_, _, err := f.DescribeNetworkInterfaces(ctx, bob, service.DescribeNetworkInterfacesInput{Filters: []service.Filter{flt("nope", "x")}})
	wantErr(t, err, model.CodeInvalidParameterValue, "nope")
	_, _, err = f.DescribeNetworkInterfaces(ctx, bob, service.DescribeNetworkInterfacesInput{IDs: []string{string(free.ID)}, Page: service.Page{MaxResults: 5}})
	wantErr(t, err, model.CodeInvalidParameterCombination, "maxResults")
	_, _, err = f.DescribeNetworkInterfaces(ctx, bob, service.DescribeNetworkInterfacesInput{IDs: []string{"eni-0123456789abcdef0"}})
	wantErr(t, err, model.CodeInvalidNetworkInterfaceIDNotFound, "eni-0123456789abcdef0")
}

func sameIDs[T ~string](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	set := map[T]int{}
	for _, x := range a {
		set[x]++
	}
	for _, x := range b {
		set[x]--
	}
	for _, n := range set {
		if n != 0 {
			return false
		}
	}
	return true
}

// TestDependencyChecksReadTheField: the write paths that look for what
// refers to an ID (DeleteSecurityGroup, DeleteSubnet, DeleteVpc,
// DetachNetworkInterface) pre-select stored resources by the ID's text;
// an interface whose description names the ID without using it must not
// count, and one that uses it must.
func TestDependencyChecksReadTheField(t *testing.T) {
	f := newFixture(t)
	v := f.vpc(bob, "10.9.0.0/16", false)
	a := f.subnet(bob, v.ID, "10.9.1.0/24", "", "")
	b := f.subnet(bob, v.ID, "10.9.2.0/24", "", "")
	g := f.group(bob, "app", v.ID)
	// In b, in the VPC's default group, but its description is g's ID and
	// a tag's value a's (each stored as a whole JSON string, as the IDs it
	// uses are).
	decoy := f.eni(bob, service.CreateNetworkInterfaceInput{SubnetID: string(b.ID), Description: string(g.ID),
		TagSpecifications: []service.TagSpecification{{ResourceType: "network-interface", Tags: model.Tags{{Key: "Name", Value: string(a.ID)}}}}})
	if _, err := f.DeleteSecurityGroup(ctx, bob, service.GroupRef{ID: string(g.ID)}); err != nil {
		t.Fatalf("a group named in a description only: %v", err)
	}
	if err := f.DeleteSubnet(ctx, bob, string(a.ID)); err != nil {
		t.Fatalf("a subnet named in a description only: %v", err)
	}
	err := f.DeleteSubnet(ctx, bob, string(b.ID))
	wantErr(t, err, model.CodeDependencyViolation, "The subnet '"+string(b.ID)+"' has dependencies")
	err = f.DeleteVpc(ctx, bob, string(v.ID))
	wantErr(t, err, model.CodeDependencyViolation, "The vpc '"+string(v.ID)+"' has dependencies")

	// Two interfaces attached to one instance; a third describes the
	// attachment of the second. Detaching by that ID detaches the second.
	inst := f.run(bob, service.RunInstancesInput{SubnetID: string(b.ID)}).Instances[0]
	second := f.eni(bob, service.CreateNetworkInterfaceInput{SubnetID: string(b.ID)})
	att, err := f.AttachNetworkInterface(ctx, bob, service.AttachNetworkInterfaceInput{NetworkInterfaceID: string(second.ID), InstanceID: string(inst.ID), DeviceIndex: p32(1)})
	if err != nil {
		t.Fatal(err)
	}
	f.eni(bob, service.CreateNetworkInterfaceInput{SubnetID: string(b.ID), Description: string(att)})
	if err := f.DetachNetworkInterface(ctx, bob, string(att)); err != nil {
		t.Fatal(err)
	}
	if got := f.describeENI(bob, second.ID); got.Attachment != nil {
		t.Errorf("%s still attached: %+v", second.ID, got.Attachment)
	}
	err = f.DetachNetworkInterface(ctx, bob, string(att))
	wantErr(t, err, "InvalidAttachmentID.NotFound", string(att))
	if err := f.DeleteNetworkInterface(ctx, bob, string(decoy.ID)); err != nil {
		t.Fatal(err)
	}
}
