package service_test

import (
	"fmt"
	"testing"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/service"
)

// A /28 has 16 addresses: .0-.3 and .15 are AWS's, .4-.14 (11) are the
// interfaces'.
func TestAddressesOfASlash28(t *testing.T) {
	f := newFixture(t)
	v := f.vpc(bob, "10.0.0.0/16", false)
	sn := f.subnet(bob, v.ID, "10.0.0.16/28", "", "")
	sub := string(sn.ID)
	var enis []*service.NetworkInterface
	for i := range 11 {
		n := f.eni(bob, service.CreateNetworkInterfaceInput{SubnetID: sub})
		if want := addr(fmt.Sprintf("10.0.0.%d", 20+i)); n.PrivateIPs[0] != want {
			t.Fatalf("interface %d got %s, want %s", i, n.PrivateIPs[0], want)
		}
		enis = append(enis, n)
	}
	_, err := f.CreateNetworkInterface(ctx, bob, service.CreateNetworkInterfaceInput{SubnetID: sub})
	wantErr(t, err, "InsufficientFreeAddressesInSubnet", "There are not enough free addresses in subnet '"+sub+"'")
	_, err = f.RunInstances(ctx, bob, service.RunInstancesInput{ImageID: "x", MinCount: p32(1), MaxCount: p32(1), SubnetID: sub})
	wantErr(t, err, "InsufficientFreeAddressesInSubnet", sub)

	// A deleted interface's address is the next one handed out.
	if err := f.DeleteNetworkInterface(ctx, bob, string(enis[3].ID)); err != nil {
		t.Fatal(err)
	}
	if got := f.eni(bob, service.CreateNetworkInterfaceInput{SubnetID: sub}).PrivateIPs[0]; got != addr("10.0.0.23") {
		t.Fatalf("reused %s, want 10.0.0.23", got)
	}
	for _, a := range []string{"10.0.0.16", "10.0.0.17", "10.0.0.18", "10.0.0.19", "10.0.0.31"} {
		_, err := f.CreateNetworkInterface(ctx, bob, service.CreateNetworkInterfaceInput{SubnetID: sub, PrivateIP: a})
		wantErr(t, err, model.CodeInvalidParameterValue, "Address "+a+" is in subnet's reserved address range")
	}
}

// RunInstances launches as many as the subnet has addresses for, between
// MinCount and MaxCount, and none when MinCount does not fit.
func TestRunInstancesAddressCapacity(t *testing.T) {
	f := newFixture(t)
	v := f.vpc(bob, "10.0.0.0/16", false)
	sub := string(f.subnet(bob, v.ID, "10.0.0.0/28", "", "").ID)
	f.eni(bob, service.CreateNetworkInterfaceInput{SubnetID: sub, PrivateIP: "10.0.0.9"})
	_, err := f.RunInstances(ctx, bob, service.RunInstancesInput{ImageID: "x", MinCount: p32(11), MaxCount: p32(20), SubnetID: sub})
	wantErr(t, err, "InsufficientFreeAddressesInSubnet", sub)
	res := f.run(bob, service.RunInstancesInput{MinCount: p32(2), MaxCount: p32(20), SubnetID: sub})
	if len(res.Instances) != 10 {
		t.Fatalf("launched %d, want the 10 that fit", len(res.Instances))
	}
	seen := map[string]bool{"10.0.0.9": true}
	for _, i := range res.Instances {
		a := i.PrivateIP.String()
		if seen[a] || i.PrivateIP.As4()[3] < 4 || i.PrivateIP.As4()[3] > 14 {
			t.Errorf("bad or repeated address %s", a)
		}
		seen[a] = true
	}
	// An explicit address is checked like CreateNetworkInterface's.
	v2 := f.vpc(bob, "10.2.0.0/16", false)
	sub2 := string(f.subnet(bob, v2.ID, "10.2.0.0/24", "", "").ID)
	f.run(bob, service.RunInstancesInput{SubnetID: sub2, PrivateIP: "10.2.0.77"})
	_, err = f.RunInstances(ctx, bob, service.RunInstancesInput{ImageID: "x", MinCount: p32(1), MaxCount: p32(1), SubnetID: sub2, PrivateIP: "10.2.0.77"})
	wantErr(t, err, "InvalidIPAddress.InUse", "Address 10.2.0.77 is in use.")
	_, err = f.RunInstances(ctx, bob, service.RunInstancesInput{ImageID: "x", MinCount: p32(1), MaxCount: p32(1), SubnetID: sub2, PrivateIP: "10.2.0.255"})
	wantErr(t, err, model.CodeInvalidParameterValue, "reserved")
}
