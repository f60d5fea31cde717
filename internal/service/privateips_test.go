package service_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
)

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func TestSecondaryPrivateIPs(t *testing.T) {
	f := newFixture(t)
	sn := string(f.defaultSubnet(bob, "us-east-1b").ID)
	// Given, with a primary among them; then counted.
	n := f.eni(bob, service.CreateNetworkInterfaceInput{SubnetID: sn, Secondary: service.SecondaryIPs{Specs: []service.PrivateIPSpec{
		{Address: "172.31.16.20"}, {Address: "172.31.16.10", Primary: true}}}})
	if !slices.Equal(n.PrivateIPs, addrs("172.31.16.10", "172.31.16.20")) {
		t.Fatalf("given: %v", n.PrivateIPs)
	}
	m := f.eni(bob, service.CreateNetworkInterfaceInput{SubnetID: sn, Secondary: service.SecondaryIPs{Count: 2}})
	if !slices.Equal(m.PrivateIPs, addrs("172.31.16.4", "172.31.16.5", "172.31.16.6")) {
		t.Fatalf("counted: %v", m.PrivateIPs)
	}
	// Assign and unassign; the addresses are free again after.
	got, err := f.AssignPrivateIPAddresses(ctx, bob, service.AssignPrivateIPsInput{NetworkInterfaceID: string(n.ID), Addresses: []string{"172.31.16.30"}})
	if err != nil || !slices.Equal(got, addrs("172.31.16.30")) {
		t.Fatalf("assign: %v %v", got, err)
	}
	got, err = f.AssignPrivateIPAddresses(ctx, bob, service.AssignPrivateIPsInput{NetworkInterfaceID: string(n.ID), Count: 1})
	if err != nil || !slices.Equal(got, addrs("172.31.16.7")) {
		t.Fatalf("assign a count: %v %v", got, err)
	}
	if err := f.UnassignPrivateIPAddresses(ctx, bob, string(n.ID), []string{"172.31.16.20", "172.31.16.7"}); err != nil {
		t.Fatal(err)
	}
	if v := f.describeENI(bob, n.ID); !slices.Equal(v.PrivateIPs, addrs("172.31.16.10", "172.31.16.30")) {
		t.Fatalf("after unassign: %v", v.PrivateIPs)
	}
	if again := f.eni(bob, service.CreateNetworkInterfaceInput{SubnetID: sn, PrivateIP: "172.31.16.20"}); again.PrivateIPs[0] != addrs("172.31.16.20")[0] {
		t.Fatalf("an unassigned address is not free: %v", again.PrivateIPs)
	}
	// Filters see every address.
	list, _, err := f.DescribeNetworkInterfaces(ctx, bob, service.DescribeNetworkInterfacesInput{Filters: []service.Filter{{Name: "addresses.private-ip-address", Values: []string{"172.31.16.30"}}}})
	if err != nil || len(list) != 1 || list[0].ID != n.ID {
		t.Fatalf("filter by a secondary address: %+v %v", list, err)
	}
	// A launch with secondary addresses on its primary interface.
	zero := int32(0)
	res := f.run(bob, service.RunInstancesInput{Interfaces: []service.InterfaceSpec{{DeviceIndex: &zero, SubnetID: sn, Secondary: service.SecondaryIPs{Count: 1}}}})
	if ips := res.Instances[0].Interfaces[0].PrivateIPs; len(ips) != 2 {
		t.Fatalf("launched with %v", ips)
	}

	for _, c := range []struct {
		name string
		err  error
		code string
		msg  string
	}{
		{"two primaries", createErr(f, sn, service.SecondaryIPs{Specs: []service.PrivateIPSpec{{Address: "172.31.16.40", Primary: true}, {Address: "172.31.16.41", Primary: true}}}), model.CodeInvalidParameterValue, "Only one primary"},
		{"list and count", createErr(f, sn, service.SecondaryIPs{Specs: []service.PrivateIPSpec{{Address: "172.31.16.40"}, {Address: "172.31.16.41"}}, Count: 1}), model.CodeInvalidParameterCombination, ""},
		{"too many", createErr(f, sn, service.SecondaryIPs{Count: 10}), "PrivateIpAddressLimitExceeded", ""},
		{"in use", createErr(f, sn, service.SecondaryIPs{Specs: []service.PrivateIPSpec{{Address: "172.31.16.42"}, {Address: "172.31.16.30"}}}), "InvalidIPAddress.InUse", "172.31.16.30"},
		{"outside", createErr(f, sn, service.SecondaryIPs{Specs: []service.PrivateIPSpec{{Address: "172.31.16.42"}, {Address: "10.9.9.9"}}}), model.CodeInvalidParameterValue, "does not fall within"},
		{"unassign primary", f.UnassignPrivateIPAddresses(ctx, bob, string(n.ID), []string{"172.31.16.10"}), model.CodeInvalidParameterValue, "Some of the specified addresses are not assigned to interface " + string(n.ID)},
		{"assign neither", assignErr(f, service.AssignPrivateIPsInput{NetworkInterfaceID: string(n.ID)}), model.CodeInvalidParameterCombination, ""},
		{"assign reassigning", assignErr(f, service.AssignPrivateIPsInput{NetworkInterfaceID: string(n.ID), Count: 1, AllowReassignment: true}), model.CodeInvalidParameterValue, "AllowReassignment"},
		{"assign over the limit", assignErr(f, service.AssignPrivateIPsInput{NetworkInterfaceID: string(n.ID), Count: 9}), "PrivateIpAddressLimitExceeded", ""},
	} {
		if model.CodeOf(c.err) != c.code || !strings.Contains(errText(c.err), c.msg) {
			t.Errorf("%s: %v, want %s %q", c.name, c.err, c.code, c.msg)
		}
	}
	// A failed create took nothing.
	if again := f.eni(bob, service.CreateNetworkInterfaceInput{SubnetID: sn, PrivateIP: "172.31.16.40"}); again.PrivateIPs[0] != addrs("172.31.16.40")[0] {
		t.Fatalf("a failed create kept its addresses: %v", again.PrivateIPs)
	}
}

func createErr(f *fixture, sn string, sec service.SecondaryIPs) error {
	_, err := f.CreateNetworkInterface(ctx, bob, service.CreateNetworkInterfaceInput{SubnetID: sn, Secondary: sec})
	return err
}

func assignErr(f *fixture, in service.AssignPrivateIPsInput) error {
	_, err := f.AssignPrivateIPAddresses(ctx, bob, in)
	return err
}
