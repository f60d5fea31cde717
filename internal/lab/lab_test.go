package lab

import (
	"errors"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"palisade.dev/palisade/internal/labtest"
	"palisade.dev/palisade/internal/nsexec"
	"palisade.dev/palisade/internal/testutil"
)

// TestInstancesReachEachOtherThroughTheRouter: two instances in one subnet
// and one in another subnet of the same VPC talk TCP and UDP, and every
// packet between them crosses the router namespace.
func TestInstancesReachEachOtherThroughTheRouter(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	vpc := vpcID()
	mustEnsureVPC(t, l, vpc)
	a := instance(vpc, "172.31.5.9/20")
	b := instance(vpc, "172.31.5.10/20")  // same subnet as a
	c := instance(vpc, "172.31.16.20/20") // another subnet
	mustEnsure(t, l, a, b, c)

	srvB := serve(t, b.ID, netip.Addr{})
	srvC := serve(t, c.ID, netip.Addr{})
	srvA := serve(t, a.ID, netip.Addr{})
	t.Run("same subnet", func(t *testing.T) {
		mustReach(t, a.ID, netip.AddrPortFrom(ip("172.31.5.10"), srvB.Port()), b.ID, ip("172.31.5.9"))
		mustReach(t, b.ID, netip.AddrPortFrom(ip("172.31.5.9"), srvA.Port()), a.ID, ip("172.31.5.10"))
	})
	t.Run("other subnet", func(t *testing.T) {
		mustReach(t, a.ID, netip.AddrPortFrom(ip("172.31.16.20"), srvC.Port()), c.ID, ip("172.31.5.9"))
		mustReach(t, c.ID, netip.AddrPortFrom(ip("172.31.5.10"), srvB.Port()), b.ID, ip("172.31.16.20"))
	})
	t.Run("crosses the router", func(t *testing.T) {
		const n = 50
		echo := echoUDP(t, b.ID, ip("172.31.5.10"))
		ra, rb := RouterIfName(a.NICs[0].ENI), RouterIfName(b.NICs[0].ENI)
		a0, b0 := routerCounters(t, l, vpc, ra), routerCounters(t, l, vpc, rb)
		f0, _ := forwarded(t, l, vpc)
		pingUDP(t, a.ID, echo, n)
		a1, b1 := routerCounters(t, l, vpc, ra), routerCounters(t, l, vpc, rb)
		f1, _ := forwarded(t, l, vpc)
		if a1.rx-a0.rx < n || b1.tx-b0.tx < n || b1.rx-b0.rx < n || a1.tx-a0.tx < n {
			t.Errorf("router interfaces saw a: %+v → %+v, b: %+v → %+v; want ≥ %d packets each way", a0, a1, b0, b1, n)
		}
		if f1-f0 < 2*n {
			t.Errorf("router forwarded %d IPv4 datagrams, want ≥ %d", f1-f0, 2*n)
		}
	})
	t.Run("visible to ip netns exec", func(t *testing.T) {
		ipCmd := testutil.RequireCommand(t, "ip")
		out, err := exec.Command(ipCmd, "netns", "exec", string(a.ID), ipCmd, "-o", "addr", "show", "dev", "eth0").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "inet 172.31.5.9/20") {
			t.Errorf("ip netns exec %s ip addr: %v\n%s", a.ID, err, out)
		}
	})
}

// TestIPv6BetweenInstances: IPv6 in one subnet and across subnets, through
// fe80::1 and the router's /128 routes, at once (no DAD wait).
func TestIPv6BetweenInstances(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	vpc := vpcID()
	mustEnsureVPC(t, l, vpc)
	a := with6(instance(vpc, "10.1.0.10/24"), "2001:db8:1:a::10/64")
	b := with6(instance(vpc, "10.1.0.11/24"), "2001:db8:1:a::11/64")
	c := with6(instance(vpc, "10.1.1.12/24"), "2001:db8:1:b::12/64")
	mustEnsure(t, l, a, b, c)
	srvB := serve(t, b.ID, netip.Addr{})
	srvC := serve(t, c.ID, netip.Addr{})
	_, v6before := forwarded(t, l, vpc)
	mustReach(t, a.ID, netip.AddrPortFrom(ip("2001:db8:1:a::11"), srvB.Port()), b.ID, ip("2001:db8:1:a::10"))
	mustReach(t, a.ID, netip.AddrPortFrom(ip("2001:db8:1:b::12"), srvC.Port()), c.ID, ip("2001:db8:1:a::10"))
	mustReach(t, b.ID, netip.AddrPortFrom(ip("2001:db8:1:b::12"), srvC.Port()), c.ID, ip("2001:db8:1:a::11"))
	if _, v6after := forwarded(t, l, vpc); v6after-v6before < 6 {
		t.Errorf("router forwarded %d IPv6 datagrams, want ≥ 6", v6after-v6before)
	}
}

// TestHostReachesInstanceWithItsOwnAddress: a lab host's connections arrive
// from its own address (no NAT), and instances reach it back.
func TestHostReachesInstanceWithItsOwnAddress(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	vpc := vpcID()
	mustEnsureVPC(t, l, vpc)
	a := with6(instance(vpc, "172.31.5.9/20"), "2001:db8:2::9/64")
	mustEnsure(t, l, a)
	h := Host{Name: "plh-" + randHex(8), VPC: vpc, IPv4: ip("203.0.113.7"), IPv6: ip("2001:db8:ff::7")}
	mustEnsureHost(t, l, h)

	srvA := serve(t, a.ID, netip.Addr{})
	srvH := serve(t, h.Name, netip.Addr{})
	mustReach(t, h.Name, netip.AddrPortFrom(ip("172.31.5.9"), srvA.Port()), a.ID, h.IPv4)
	mustReach(t, h.Name, netip.AddrPortFrom(ip("2001:db8:2::9"), srvA.Port()), a.ID, h.IPv6)
	mustReach(t, a.ID, netip.AddrPortFrom(h.IPv4, srvH.Port()), h.Name, ip("172.31.5.9"))
	mustReach(t, a.ID, netip.AddrPortFrom(h.IPv6, srvH.Port()), h.Name, ip("2001:db8:2::9"))
}

// TestVPCsWithTheSameCIDRAreIsolated: two default VPCs (172.31.0.0/16), each
// with instances of the same private addresses, work independently, and
// nothing of one reaches the other.
func TestVPCsWithTheSameCIDRAreIsolated(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	v1, v2 := vpcID(), vpcID()
	mustEnsureVPC(t, l, v1)
	mustEnsureVPC(t, l, v2)
	a1, b1 := instance(v1, "172.31.5.9/20"), instance(v1, "172.31.5.10/20")
	a2, b2 := instance(v2, "172.31.5.9/20"), instance(v2, "172.31.5.10/20")
	mustEnsure(t, l, a1, b1, a2, b2)
	h2 := Host{Name: "plh-" + randHex(8), VPC: v2, IPv4: ip("198.51.100.7")}
	mustEnsureHost(t, l, h2)

	srvA1 := serve(t, a1.ID, netip.Addr{})
	srvA2 := serve(t, a2.ID, netip.Addr{})
	srvH2 := serve(t, h2.Name, netip.Addr{})
	mustReach(t, b1.ID, netip.AddrPortFrom(ip("172.31.5.9"), srvA1.Port()), a1.ID, ip("172.31.5.10"))
	mustReach(t, b2.ID, netip.AddrPortFrom(ip("172.31.5.9"), srvA2.Port()), a2.ID, ip("172.31.5.10"))
	// The same address in VPC 1 is a1, which does not listen on a2's port.
	if srvA1.Port() != srvA2.Port() {
		mustNotReach(t, b1.ID, netip.AddrPortFrom(ip("172.31.5.9"), srvA2.Port()))
	}
	// h2 sees only VPC 2; VPC 1 has no route to h2.
	mustReach(t, h2.Name, netip.AddrPortFrom(ip("172.31.5.9"), srvA2.Port()), a2.ID, h2.IPv4)
	mustNotReach(t, b1.ID, netip.AddrPortFrom(h2.IPv4, srvH2.Port()))
	mustNotReach(t, a1.ID, netip.AddrPortFrom(h2.IPv4, srvH2.Port()))
}

// TestEnsureIsIdempotentAndAdopts: Ensure twice changes nothing; a new Lab
// with the same prefix (an agent restart) lists what exists and adopts it
// without recreating anything.
func TestEnsureIsIdempotentAndAdopts(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	vpc := vpcID()
	a := with6(instance(vpc, "172.31.5.9/20"), "2001:db8:3::9/64")
	b := instance(vpc, "172.31.16.9/20")
	h := Host{Name: "plh-" + randHex(8), VPC: vpc, IPv4: ip("203.0.113.9"), IPv6: ip("2001:db8:ff::9")}
	ensureAll := func(l *Lab) {
		t.Helper()
		mustEnsureVPC(t, l, vpc)
		mustEnsure(t, l, a, b)
		mustEnsureHost(t, l, h)
	}
	ensureAll(l)
	indexes := routerIndexes(t, l, vpc)
	var watches []func() int
	for _, ns := range []string{l.RouterNamespace(vpc), string(a.ID), string(b.ID), h.Name} {
		watches = append(watches, watchChanges(t, ns))
	}
	// The kernel finishes some work of the first Ensure asynchronously
	// (link-up routes, IPv6 multicast): wait until the namespaces are quiet,
	// so that only what the second Ensure does is counted.
	settle(watches)
	noChanges := func(when string) {
		t.Helper()
		for _, changes := range watches {
			if n := changes(); n != 0 {
				t.Errorf("%s changed the kernel: %d netlink notifications", when, n)
			}
		}
	}
	ensureAll(l)
	noChanges("a second Ensure")

	again, err := New(Config{RouterPrefix: l.prefix})
	if err != nil {
		t.Fatal(err)
	}
	st, err := again.List()
	if err != nil {
		t.Fatal(err)
	}
	want := State{
		VPCs:      []VPC{{ID: vpc, Router: l.RouterNamespace(vpc)}},
		Instances: sortedInstances(a, b),
		Hosts:     []Host{h},
	}
	if !equalState(st, want) {
		t.Fatalf("new lab lists\n%+v\nwant\n%+v", st, want)
	}
	ensureAll(again)
	noChanges("Ensure after adoption")
	if got := routerIndexes(t, l, vpc); !slices.Equal(got, indexes) {
		t.Errorf("router interfaces after adoption %v, before %v: something was recreated", got, indexes)
	}
	srvB := serve(t, b.ID, netip.Addr{})
	mustReach(t, a.ID, netip.AddrPortFrom(ip("172.31.16.9"), srvB.Port()), b.ID, ip("172.31.5.9"))
	mustReach(t, h.Name, netip.AddrPortFrom(ip("172.31.16.9"), srvB.Port()), b.ID, h.IPv4)
}

// TestSecondNetworkInterface: an ENI added later becomes eth1 in its own
// subnet; replies from its address leave through it; removing it from the
// instance removes eth1, its router interface and its rules.
func TestSecondNetworkInterface(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	vpc := vpcID()
	mustEnsureVPC(t, l, vpc)
	a := instance(vpc, "172.31.5.9/20")
	b := instance(vpc, "172.31.16.40/20")
	mustEnsure(t, l, a, b)
	two := a
	two.NICs = append(slices.Clone(a.NICs), NIC{ENI: eniID(), Device: 1, IPv4: pfx("172.31.16.30/20"), IPv6: pfx("2001:db8:4::30/64")})
	mustEnsure(t, l, two, two)

	const n = 30
	echo := echoUDP(t, a.ID, ip("172.31.16.30"))
	r0, r1 := RouterIfName(two.NICs[0].ENI), RouterIfName(two.NICs[1].ENI)
	eth0Before, eth1Before := routerCounters(t, l, vpc, r0), routerCounters(t, l, vpc, r1)
	pingUDP(t, b.ID, echo, n)
	eth0After, eth1After := routerCounters(t, l, vpc, r0), routerCounters(t, l, vpc, r1)
	if got := eth1After.rx - eth1Before.rx; got < n {
		t.Errorf("eth1's router interface received %d packets, want ≥ %d (replies left by eth1)", got, n)
	}
	if got := eth0After.rx - eth0Before.rx; got >= n {
		t.Errorf("eth0's router interface received %d packets: replies of eth1's address left by eth0", got)
	}
	srvA := serve(t, a.ID, ip("172.31.16.30"))
	mustReach(t, b.ID, srvA, a.ID, ip("172.31.16.40"))

	mustEnsure(t, l, a) // detach the second ENI
	st, err := l.List()
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(st.Instances, func(x Instance) bool { return x.ID == a.ID }); i < 0 || !slices.EqualFunc(st.Instances[i].NICs, a.NICs, NIC.Equal) {
		t.Errorf("after detaching, lab lists %+v, want NICs %+v", st.Instances, a.NICs)
	}
	if _, ok := routerIndex(t, l, vpc, r1); ok {
		t.Errorf("router interface %s of the detached ENI is still there", r1)
	}
	requireNoLabRules(t, a.ID)
}

// TestRemoveCleansUp: Remove and Down leave no namespace, no /run/netns
// entry and no router interface behind, and may be repeated.
func TestRemoveCleansUp(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	v1, v2 := vpcID(), vpcID()
	mustEnsureVPC(t, l, v1)
	mustEnsureVPC(t, l, v2)
	a, b, c := instance(v1, "172.31.5.9/20"), instance(v1, "172.31.5.10/20"), instance(v2, "172.31.5.9/20")
	mustEnsure(t, l, a, b, c)
	h := Host{Name: "plh-" + randHex(8), VPC: v1, IPv4: ip("203.0.113.10")}
	mustEnsureHost(t, l, h)
	srv := serve(t, a.ID, netip.Addr{}) // a socket holds a's namespace open

	srvH := serve(t, h.Name, netip.Addr{})
	for range 2 {
		if err := l.RemoveInstance(a.ID); err != nil {
			t.Fatal(err)
		}
	}
	// a's router interface held the subnet's gateway address too; b keeps it.
	mustReach(t, b.ID, netip.AddrPortFrom(h.IPv4, srvH.Port()), h.Name, ip("172.31.5.10"))
	for range 2 {
		if err := l.RemoveHost(h.Name); err != nil {
			t.Fatal(err)
		}
	}
	requireGone(t, string(a.ID), h.Name)
	if _, ok := routerIndex(t, l, v1, RouterIfName(a.NICs[0].ENI)); ok {
		t.Error("router interface of the removed instance is still there")
	}
	if _, ok := routerIndex(t, l, v1, HostIfName(h.Name)); ok {
		t.Error("router interface of the removed host is still there")
	}
	mustNotReach(t, b.ID, netip.AddrPortFrom(ip("172.31.5.9"), srv.Port()))

	for range 2 {
		if err := l.RemoveVPC(v1); err != nil {
			t.Fatal(err)
		}
	}
	requireGone(t, string(b.ID), l.RouterNamespace(v1))
	for range 2 {
		if err := l.Down(); err != nil {
			t.Fatal(err)
		}
	}
	requireGone(t, string(c.ID), l.RouterNamespace(v2))
	requireEmpty(t, l)
}

// TestForeignNamespacesAreNotTouched: a namespace the lab did not make is
// neither adopted nor removed, by Ensure, Remove or Down.
func TestForeignNamespacesAreNotTouched(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	vpc := vpcID()
	mustEnsureVPC(t, l, vpc)
	name := "plf-" + randHex(8)
	if err := createNamespace(name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nsexec.RemoveNamed(name) })
	s, err := openSpace(name)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "mine", TxQLen: -1}, PeerName: "mine2"}); err != nil {
		t.Fatal(err)
	}
	h := Host{Name: name, VPC: vpc, IPv4: ip("203.0.113.11")}
	if err := l.EnsureHost(h); !errors.Is(err, ErrConflict) {
		t.Errorf("EnsureHost over a foreign namespace: %v, want ErrConflict", err)
	}
	if err := l.RemoveHost(name); !errors.Is(err, ErrConflict) {
		t.Errorf("RemoveHost of a foreign namespace: %v, want ErrConflict", err)
	}
	if err := l.Down(); err != nil {
		t.Fatal(err)
	}
	if _, err := openNamespace(name); err != nil {
		t.Errorf("foreign namespace gone after Down: %v", err)
	}
	if err := l.EnsureInstance(instance(vpc, "10.0.0.5/24")); !errors.Is(err, ErrNoVPC) {
		t.Errorf("EnsureInstance after Down: %v, want ErrNoVPC", err)
	}
}

// TestDoLeavesTheCallerWhereItWas: Do runs in the namespace and never moves
// the calling thread.
func TestDoLeavesTheCallerWhereItWas(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	vpc := vpcID()
	mustEnsureVPC(t, l, vpc)
	before, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	var inside netns.NsHandle
	err = Do(l.RouterNamespace(vpc), func() error {
		var err error
		inside, err = netns.Get()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer inside.Close()
	if inside.Equal(before) {
		t.Error("Do ran in the caller's namespace")
	}
	after, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	if !after.Equal(before) {
		t.Error("the caller's namespace changed")
	}
	if err := Do("plx-"+randHex(8), func() error { return nil }); !errors.Is(err, errNoNamespace) {
		t.Errorf("Do in a missing namespace: %v", err)
	}
}

// TestInterruptedCreationIsAdopted: an unmarked namespace with nothing but
// lo, as a crash between creating and marking it leaves, is adopted by
// Ensure and removed by Remove.
func TestInterruptedCreationIsAdopted(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	vpc := vpcID()
	mustEnsureVPC(t, l, vpc)
	a, b := instance(vpc, "10.2.0.5/24"), instance(vpc, "10.2.0.6/24")
	for _, id := range []string{string(a.ID), string(b.ID)} {
		if err := createNamespace(id); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nsexec.RemoveNamed(id) })
	}
	mustEnsure(t, l, a)
	srv := serve(t, a.ID, netip.Addr{})
	if err := Do(string(b.ID), func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := l.RemoveInstance(b.ID); err != nil {
		t.Fatal(err)
	}
	requireGone(t, string(b.ID))
	mustEnsure(t, l, b)
	mustReach(t, b.ID, netip.AddrPortFrom(ip("10.2.0.5"), srv.Port()), a.ID, ip("10.2.0.6"))
}

// TestHostMovesToAnotherVPC: ensuring a host in another VPC rewires it.
func TestHostMovesToAnotherVPC(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	v1, v2 := vpcID(), vpcID()
	mustEnsureVPC(t, l, v1)
	mustEnsureVPC(t, l, v2)
	a1, a2 := instance(v1, "10.3.0.5/24"), instance(v2, "10.3.0.5/24")
	mustEnsure(t, l, a1, a2)
	srv1, srv2 := serve(t, a1.ID, netip.Addr{}), serve(t, a2.ID, netip.Addr{})
	h := Host{Name: "plh-" + randHex(8), VPC: v1, IPv4: ip("198.51.100.200")}
	mustEnsureHost(t, l, h)
	mustReach(t, h.Name, netip.AddrPortFrom(ip("10.3.0.5"), srv1.Port()), a1.ID, h.IPv4)
	h.VPC = v2
	mustEnsureHost(t, l, h)
	mustReach(t, h.Name, netip.AddrPortFrom(ip("10.3.0.5"), srv2.Port()), a2.ID, h.IPv4)
	if _, ok := routerIndex(t, l, v1, HostIfName(h.Name)); ok {
		t.Error("the host's interface is still on its old router")
	}
}

// TestSecondaryAddresses: a NIC's secondary IPv4 addresses are on its
// device and routed by the router, both ways; List reads them back; taking
// one away removes it.
func TestSecondaryAddresses(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	vpc := vpcID()
	mustEnsureVPC(t, l, vpc)
	a := instance(vpc, "172.31.5.9/20")
	a.NICs[0].Secondary = []netip.Addr{ip("172.31.5.10"), ip("172.31.5.11")}
	b := instance(vpc, "172.31.16.40/20")
	mustEnsure(t, l, a, b)

	srv := serve(t, a.ID, ip("172.31.5.11"))
	mustReach(t, b.ID, srv, a.ID, ip("172.31.16.40"))
	// What a sends from a secondary address reaches b with that source.
	srvB := serve(t, b.ID, ip("172.31.16.40"))
	c, err := labtest.DialFrom(string(a.ID), ip("172.31.5.10"), srvB, labtest.OKWait)
	if err != nil || c.Server != string(b.ID) || c.Src != ip("172.31.5.10") {
		t.Fatalf("from a's secondary address: %+v %v, want %s seeing 172.31.5.10", c, err, b.ID)
	}
	c.Close()

	st, err := l.List()
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(st.Instances, func(x Instance) bool { return x.ID == a.ID }); i < 0 || !slices.EqualFunc(st.Instances[i].NICs, a.NICs, NIC.Equal) {
		t.Errorf("lab lists %+v, want NICs %+v", st.Instances, a.NICs)
	}

	one := a
	one.NICs = []NIC{a.NICs[0]}
	one.NICs[0].Secondary = []netip.Addr{ip("172.31.5.10")}
	mustEnsure(t, l, one)
	mustNotReach(t, b.ID, srv)
}

// TestIPv6OnlyNICWithSeveralAddresses: a NIC of an IPv6-only subnet (no
// IPv4 at all) is wired, and every one of its IPv6 addresses is on the
// device and routed by the router; an address taken away stops answering.
func TestIPv6OnlyNICWithSeveralAddresses(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	vpc := vpcID()
	mustEnsureVPC(t, l, vpc)
	a := Instance{ID: instID(), VPC: vpc, NICs: []NIC{{ENI: eniID(), IPv6: pfx("2001:db8:1:a::10/64"),
		MoreIPv6: []netip.Addr{ip("2001:db8:1:a::20"), ip("2001:db8:1:a::30")}}}}
	b := with6(instance(vpc, "10.1.0.11/24"), "2001:db8:1:b::11/64")
	mustEnsure(t, l, a, b)

	srv := serve(t, a.ID, netip.Addr{})
	for _, dst := range []string{"2001:db8:1:a::10", "2001:db8:1:a::20", "2001:db8:1:a::30"} {
		mustReach(t, b.ID, netip.AddrPortFrom(ip(dst), srv.Port()), a.ID, ip("2001:db8:1:b::11"))
	}
	// a reaches out from one of its addresses (which one is the kernel's
	// source selection, as on an instance).
	srvB := serve(t, b.ID, netip.Addr{})
	c, err := labtest.Dial(string(a.ID), netip.AddrPortFrom(ip("2001:db8:1:b::11"), srvB.Port()), labtest.OKWait)
	if err != nil || c.Server != string(b.ID) || !slices.Contains(a.NICs[0].addrs(), c.Src) {
		t.Errorf("%s → %s: %+v %v, want an answer to one of its addresses", a.ID, b.ID, c, err)
	}
	if err == nil {
		c.Close()
	}

	st, err := l.List()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(st.Instances, func(x Instance) bool { return x.ID == a.ID })
	if i < 0 || len(st.Instances[i].NICs) != 1 {
		t.Fatalf("lab lists %+v, want %s with one NIC", st.Instances, a.ID)
	}
	nic := st.Instances[i].NICs[0]
	if nic.IPv4.IsValid() || nic.IPv6 != a.NICs[0].IPv6 || !slices.Equal(nic.MoreIPv6, a.NICs[0].MoreIPv6) {
		t.Errorf("lab lists NIC %+v, want %+v", nic, a.NICs[0])
	}

	fewer := a
	fewer.NICs = []NIC{a.NICs[0]}
	fewer.NICs[0].MoreIPv6 = []netip.Addr{ip("2001:db8:1:a::20")}
	mustEnsure(t, l, fewer)
	mustReach(t, b.ID, netip.AddrPortFrom(ip("2001:db8:1:a::20"), srv.Port()), a.ID, ip("2001:db8:1:b::11"))
	mustNotReach(t, b.ID, netip.AddrPortFrom(ip("2001:db8:1:a::30"), srv.Port()))
}

// TestRouterInterfacesHaveTheirIndex: the router side of every veth has
// the index its name gives (nsexec.IfIndex), which the data plane matches;
// a veth made before that rule (the kernel's index, markers all right) is
// made again with it.
func TestRouterInterfacesHaveTheirIndex(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	vpc := vpcID()
	a, b := instance(vpc, "172.31.5.9/20"), instance(vpc, "172.31.5.10/20")
	h := Host{Name: "plh-" + randHex(8), VPC: vpc, IPv4: ip("203.0.113.9")}
	mustEnsureVPC(t, l, vpc)
	mustEnsure(t, l, a, b)
	mustEnsureHost(t, l, h)
	for _, name := range []string{RouterIfName(a.NICs[0].ENI), RouterIfName(b.NICs[0].ENI), HostIfName(h.Name)} {
		if x, ok := routerIndex(t, l, vpc, name); !ok || x != nsexec.IfIndex(name) {
			t.Fatalf("%s has index %d (%v), want %d", name, x, ok, nsexec.IfIndex(name))
		}
	}

	// b's veth as an older lab made it: same names and markers, the
	// kernel's index.
	r, err := openSpace(l.RouterNamespace(vpc))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s, err := openSpace(string(b.ID))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	name := RouterIfName(b.NICs[0].ENI)
	outer, _ := linkByName(r.h, name)
	inner, _ := linkByName(s.h, "eth0")
	if outer == nil || inner == nil {
		t.Fatal("no veth for b")
	}
	outerAlias, innerAlias := outer.Attrs().Alias, inner.Attrs().Alias
	if err := delLink(r.h, outer); err != nil {
		t.Fatal(err)
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	if err := r.h.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(s.ns))}); err != nil {
		t.Fatal(err)
	}
	outer, _ = linkByName(r.h, name)
	inner, _ = linkByName(s.h, "eth0")
	if outer == nil || inner == nil {
		t.Fatal("the veth made again is not there")
	}
	if err := errors.Join(r.h.LinkSetAlias(outer, outerAlias), s.h.LinkSetAlias(inner, innerAlias)); err != nil {
		t.Fatal(err)
	}
	if x, _ := routerIndex(t, l, vpc, name); x == nsexec.IfIndex(name) {
		t.Fatalf("the kernel gave %s the index of its name", name)
	}
	mustEnsure(t, l, b)
	if x, _ := routerIndex(t, l, vpc, name); x != nsexec.IfIndex(name) {
		t.Fatalf("%s kept index %d after Ensure, want %d", name, x, nsexec.IfIndex(name))
	}
	srvB := serve(t, b.ID, netip.Addr{})
	mustReach(t, a.ID, netip.AddrPortFrom(ip("172.31.5.10"), srvB.Port()), b.ID, ip("172.31.5.9"))
}
