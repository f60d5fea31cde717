package service_test

import (
	"slices"
	"strings"
	"testing"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
)

func TestIPv6AddressesChosenOrCounted(t *testing.T) {
	f := newFixture(t)
	v := f.vpc(bob, "10.1.0.0/16", true)
	sn := string(f.subnet(bob, v.ID, "10.1.1.0/24", subnet64(v, 3), "").ID)
	chosen := addrAt(v, 3, 100)
	n := f.eni(bob, service.CreateNetworkInterfaceInput{SubnetID: sn, IPv6Addresses: []string{chosen.String()}})
	if len(n.IPv6s) != 1 || n.IPv6s[0] != chosen {
		t.Fatalf("chosen: %v", n.IPv6s)
	}
	got, err := f.AssignIPv6Addresses(ctx, bob, service.AssignIPv6Input{NetworkInterfaceID: string(n.ID), Count: 2})
	if err != nil || len(got) != 2 || got[0] != addrAt(v, 3, 4) {
		t.Fatalf("assign a count: %v %v", got, err)
	}
	if _, err := f.AssignIPv6Addresses(ctx, bob, service.AssignIPv6Input{NetworkInterfaceID: string(n.ID), Addresses: []string{addrAt(v, 3, 200).String()}}); err != nil {
		t.Fatal(err)
	}
	gone, err := f.UnassignIPv6Addresses(ctx, bob, string(n.ID), []string{chosen.String()})
	if err != nil || len(gone) != 1 || gone[0] != chosen {
		t.Fatalf("unassign: %v %v", gone, err)
	}
	if ips := f.describeENI(bob, n.ID).IPv6s; len(ips) != 3 || slices.Contains(ips, chosen) {
		t.Fatalf("after unassign: %v", ips)
	}
	// The unassigned address is free again; a launch may choose one too.
	zero := int32(0)
	res := f.run(bob, service.RunInstancesInput{Interfaces: []service.InterfaceSpec{{DeviceIndex: &zero, SubnetID: sn, IPv6Addresses: []string{chosen.String()}}}})
	if ips := res.Instances[0].Interfaces[0].IPv6s; len(ips) != 1 || ips[0] != chosen {
		t.Fatalf("launched with %v", ips)
	}

	noV6 := string(f.defaultSubnet(bob, "us-east-1a").ID)
	for _, c := range []struct {
		name string
		err  error
		code string
		msg  string
	}{
		{"chosen and counted", eniErr(f, service.CreateNetworkInterfaceInput{SubnetID: sn, IPv6Addresses: []string{addrAt(v, 3, 50).String()}, IPv6AddressCount: 1}), model.CodeInvalidParameterCombination, ""},
		{"not IPv6", eniErr(f, service.CreateNetworkInterfaceInput{SubnetID: sn, IPv6Addresses: []string{"10.1.1.9"}}), model.CodeInvalidParameterValue, "not a valid IPv6 address"},
		{"outside", eniErr(f, service.CreateNetworkInterfaceInput{SubnetID: sn, IPv6Addresses: []string{"2001:db8::1"}}), model.CodeInvalidParameterValue, "does not fall within"},
		{"in use", eniErr(f, service.CreateNetworkInterfaceInput{SubnetID: sn, IPv6Addresses: []string{chosen.String()}}), "InvalidIPAddress.InUse", ""},
		{"subnet without IPv6", eniErr(f, service.CreateNetworkInterfaceInput{SubnetID: noV6, IPv6Addresses: []string{chosen.String()}}), model.CodeInvalidParameterValue, "no IPv6 CIDR block"},
		{"assign nothing", assign6Err(f, service.AssignIPv6Input{NetworkInterfaceID: string(n.ID)}), model.CodeMissingParameter, ""},
		{"assign too many", assign6Err(f, service.AssignIPv6Input{NetworkInterfaceID: string(n.ID), Count: 8}), model.CodeInvalidParameterValue, "ipv6AddressCount"},
		{"unassign a stranger", unassign6Err(f, string(n.ID), "2001:db8::1"), model.CodeInvalidParameterValue, "Some of the specified addresses are not assigned to interface " + string(n.ID)},
	} {
		if model.CodeOf(c.err) != c.code || !strings.Contains(errText(c.err), c.msg) {
			t.Errorf("%s: %v, want %s %q", c.name, c.err, c.code, c.msg)
		}
	}
}

func eniErr(f *fixture, in service.CreateNetworkInterfaceInput) error {
	_, err := f.CreateNetworkInterface(ctx, bob, in)
	return err
}

func assign6Err(f *fixture, in service.AssignIPv6Input) error {
	_, err := f.AssignIPv6Addresses(ctx, bob, in)
	return err
}

func unassign6Err(f *fixture, id string, addrs ...string) error {
	_, err := f.UnassignIPv6Addresses(ctx, bob, id, addrs)
	return err
}
