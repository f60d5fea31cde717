package lab

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"sync"
	"testing"

	"palisade.dev/palisade/internal/testutil"
)

// These tests play with the mount table of /run/netns, so each runs alone
// in a mount namespace of its own whose /run starts empty, as on a freshly
// booted machine (testutil.Isolate): /run/netns does not exist yet.

// requireNoNames fails unless /run/netns holds no name at all.
func requireNoNames(t *testing.T) {
	t.Helper()
	names, err := namespaceNames()
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 0 {
		t.Errorf("names left in %s: %v", netnsDir, names)
	}
}

// TestNamespacesStayRemovableAfterIPNetnsAdd: the reproduction. On
// a machine where /run/netns is not yet a mount point, the lab makes a VPC,
// instances and a host, then someone runs `ip netns add`. The lab's
// namespaces keep working (they are reached through /run/netns, entered
// by ip netns exec) and Down removes every one of them, names included.
func TestNamespacesStayRemovableAfterIPNetnsAdd(t *testing.T) {
	if !testutil.Isolate(t) {
		return
	}
	if _, err := os.Stat(netnsDir); !os.IsNotExist(err) {
		t.Fatalf("%s exists in a fresh /run (%v)", netnsDir, err)
	}
	l := newLab(t)
	vpc := vpcID()
	mustEnsureVPC(t, l, vpc)
	a, b := instance(vpc, "172.31.5.9/20"), instance(vpc, "172.31.5.10/20")
	mustEnsure(t, l, a, b)
	h := Host{Name: "plh-" + randHex(8), VPC: vpc, IPv4: ip("203.0.113.10")}
	mustEnsureHost(t, l, h)

	other := "plo-" + randHex(8)
	testutil.IPNetns(t, "add", other)

	srv := serve(t, b.ID, netip.Addr{})
	mustReach(t, a.ID, netip.AddrPortFrom(ip("172.31.5.10"), srv.Port()), b.ID, ip("172.31.5.9"))
	testutil.IPNetns(t, "exec", string(a.ID), "true")
	if err := l.RemoveInstance(a.ID); err != nil {
		t.Fatal(err)
	}
	requireGone(t, string(a.ID))
	if err := l.Down(); err != nil {
		t.Fatalf("down: %v", err)
	}
	requireGone(t, string(b.ID), h.Name, l.RouterNamespace(vpc))
	requireEmpty(t, l)
	testutil.IPNetns(t, "delete", other)
	requireNoNames(t)
}

// TestIPNetnsRacesTheLab: `ip netns add` and `ip netns delete` run over and
// over while the lab makes and removes VPCs, instances and hosts, from the
// very first namespace on (both prepare /run/netns then). Every Ensure and
// Remove succeeds, what the lab made works, and in the end no name is left.
func TestIPNetnsRacesTheLab(t *testing.T) {
	if !testutil.Isolate(t) {
		return
	}
	ipCmd := testutil.RequireCommand(t, "ip")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var ipErrs []string
	var mu sync.Mutex
	for w := range 2 {
		wg.Go(func() {
			for i := 0; i < 200; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("plr-%d-%d-%s", w, i, randHex(4))
				for _, op := range []string{"add", "delete"} {
					if out, err := exec.Command(ipCmd, "netns", op, name).CombinedOutput(); err != nil {
						mu.Lock()
						ipErrs = append(ipErrs, fmt.Sprintf("ip netns %s %s: %v: %s", op, name, err, out))
						mu.Unlock()
					}
				}
			}
		})
	}
	l := newLab(t)
	for round := range 4 {
		vpc := vpcID()
		mustEnsureVPC(t, l, vpc)
		var insts []Instance
		for k := range 4 {
			insts = append(insts, instance(vpc, fmt.Sprintf("10.%d.0.%d/24", round, 10+k)))
		}
		mustEnsure(t, l, insts...)
		h := Host{Name: "plh-" + randHex(8), VPC: vpc, IPv4: ip("203.0.113.10")}
		mustEnsureHost(t, l, h)
		srv := serve(t, insts[1].ID, netip.Addr{})
		mustReach(t, insts[0].ID, netip.AddrPortFrom(insts[1].NICs[0].IPv4.Addr(), srv.Port()), insts[1].ID, insts[0].NICs[0].IPv4.Addr())
		if err := l.RemoveInstance(insts[0].ID); err != nil {
			t.Fatal(err)
		}
		if err := l.RemoveHost(h.Name); err != nil {
			t.Fatal(err)
		}
		requireGone(t, string(insts[0].ID), h.Name)
		if round%2 == 0 {
			if err := l.RemoveVPC(vpc); err != nil {
				t.Fatal(err)
			}
			requireGone(t, l.RouterNamespace(vpc), string(insts[1].ID))
		}
	}
	if err := l.Down(); err != nil {
		t.Fatalf("down: %v", err)
	}
	close(stop)
	wg.Wait()
	if len(ipErrs) > 0 {
		t.Errorf("ip netns failed %d times, first: %s", len(ipErrs), ipErrs[0])
	}
	requireEmpty(t, l)
	requireNoNames(t)
}
