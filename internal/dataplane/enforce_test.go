package dataplane

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"

	"github.com/google/nftables"

	"palisade.dev/palisade/internal/labtest"
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policy"
)

// TestEnforcement runs AWS's behaviour through real kernel rules in a lab
// VPC: a web instance a (groups web + admin), a client b (group client), an
// instance c with narrow egress (group narrow), an instance d the data
// plane does not know, and a lab host h.
func TestEnforcement(t *testing.T) {
	t.Parallel()
	w := newTestVPC(t)
	web, admin, client, narrow := gid(1), gid(2), gid(3), gid(4)
	a := w.instance("10.0.1.10/24", "2001:db8:1::10/64", web, admin)
	b := w.instance("10.0.1.11/24", "2001:db8:1::11/64", client)
	c := w.instance("10.0.2.12/24", "2001:db8:2::12/64", narrow)
	d := w.instance("10.0.1.13/24", "", web)
	d.detached = true
	h := w.host("203.0.113.7", "2001:db8:ff::7")
	groups := []model.SecurityGroup{
		group(web,
			in("tcp", "0.0.0.0/0", 80, 81), in("tcp", "::/0", 80, 81),
			in("udp", "0.0.0.0/0", 53, 55), in("udp", "::/0", 53, 53),
			in("icmp", "0.0.0.0/0", 8, -1), in("icmpv6", "::/0", 128, -1),
			in("icmp", "0.0.0.0/0", 3, 4), // path MTU discovery, as AWS advises
			in("tcp", string(client), 22, 22),
			out("udp", "0.0.0.0/0", 9999, 9999)), // nothing tcp: replies must pass anyway
		group(admin, in("tcp", h.v4.String()+"/32", 2222, 2222)),
		group(client, allOut()...),
		group(narrow, out("tcp", "0.0.0.0/0", 80, 80), out("tcp", "::/0", 80, 80)),
	}
	for _, n := range []*node{a, b, d, h} {
		tcpEcho(t, n, 80)
	}
	tcpEcho(t, a, 22)
	tcpEcho(t, a, 2222)
	seen := udpEcho(t, a, 53)

	t.Run("fail closed before the first apply", func(t *testing.T) {
		expectTCP(t, h, a, false, 80, timedOut)
		expectTCP(t, b, a, false, 80, timedOut)
	})
	w.apply(groups...)
	mustNoDrift(t, w.tbl)

	t.Run("allowed, closed, blocked", func(t *testing.T) {
		for _, v6 := range []bool{false, true} {
			expectTCP(t, h, a, v6, 80, connected)
			expectTCP(t, h, a, v6, 81, refused)
			expectTCP(t, h, a, v6, 82, timedOut)
		}
	})
	t.Run("replies pass without an outbound rule; new outbound flows do not", func(t *testing.T) {
		expectTCP(t, h, a, false, 80, connected)
		expectTCP(t, a, h, false, 80, timedOut)
		expectTCP(t, a, b, false, 80, timedOut)
	})
	t.Run("no inbound rule", func(t *testing.T) {
		expectTCP(t, c, b, false, 80, timedOut)
		expectTCP(t, h, b, false, 80, timedOut)
	})
	t.Run("group reference", func(t *testing.T) {
		for _, v6 := range []bool{false, true} {
			expectTCP(t, b, a, v6, 22, connected)
		}
		expectTCP(t, c, a, false, 22, timedOut)
		expectTCP(t, h, a, false, 22, timedOut)
	})
	t.Run("union of two groups", func(t *testing.T) {
		expectTCP(t, h, a, false, 2222, connected)
		expectTCP(t, b, a, false, 2222, timedOut)
	})
	t.Run("egress restriction", func(t *testing.T) {
		expectTCP(t, c, a, false, 80, connected)
		expectTCP(t, c, a, true, 80, connected)
		expectTCP(t, c, a, false, 81, timedOut) // a would refuse; c's egress drops first
		expectTCP(t, c, h, false, 80, connected)
		expectTCP(t, c, h, false, 81, timedOut)
	})
	t.Run("udp", func(t *testing.T) {
		expectUDP(t, h, a, false, 53, true)
		expectUDP(t, h, a, true, 53, true)
		expectUDP(t, b, a, false, 53, true)
		expectUDP(t, h, a, false, 56, false)
		expectUDP(t, c, a, false, 53, false)
	})
	t.Run("related icmp errors pass", func(t *testing.T) {
		// udp 55 is allowed and closed: a's port unreachable is related to
		// h's flow and passes, though a's egress allows no icmp.
		if err := labtest.UDPExchange(h.ns, netip.AddrPortFrom(a.v4, 55), okWait); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("udp to a closed, allowed port: %v, want connection refused", err)
		}
	})
	t.Run("icmp echo by type", func(t *testing.T) {
		expectPing(t, h, a, false, true)
		expectPing(t, h, a, true, true)
		expectPing(t, b, a, false, true)
		expectPing(t, a, h, false, false) // a's egress allows no icmp
		expectPing(t, c, a, false, false) // c's egress allows only tcp 80
		expectPing(t, h, b, false, false) // b allows no inbound icmp
	})
	t.Run("icmp errors of no flow follow the rules", func(t *testing.T) {
		for _, to := range []*node{a, b} {
			errs := icmpErrors(t, to)
			if err := sendFragNeeded(h, to.v4); err != nil {
				t.Fatal(err)
			}
			want := to == a // only a's rules allow ICMP 3/4
			if got := received(errs, h.v4, labtest.ReplyWait(want)); got != want {
				t.Errorf("unsolicited fragmentation-needed from h reached %s: %v, want %v", to.ns, got, want)
			}
		}
	})
	t.Run("anti-spoofing", func(t *testing.T) {
		for _, src := range []netip.Addr{b.v4, b.v6, addr("10.0.99.99"), c.v4, c.v6, addr("2001:db8:1::99")} {
			dst := netip.AddrPortFrom(a.addr(src.Is6()), 53)
			mark := seen.Mark()
			if err := sendUDPFrom(b, netip.AddrPortFrom(src, 0), dst); err != nil {
				t.Fatalf("send from %s: %v", src, err)
			}
			want := src == b.v4 || src == b.v6
			if got := seen.Await(src, mark, labtest.ReplyWait(want)); got != want {
				t.Errorf("datagram from b with source %s reached a: %v, want %v", src, got, want)
			}
		}
	})
	t.Run("anti-spoofing holds for established flows", func(t *testing.T) {
		// b and a have a UDP flow (b's datagram, a's echo: established
		// in the router); c, whose egress allows only TCP 80, sends
		// packets of that flow with b's and a's addresses. Conntrack
		// alone would take them for the flow's; the router must not.
		for _, v6 := range []bool{false, true} {
			flow := netip.AddrPortFrom(b.addr(v6), 40053)
			server := netip.AddrPortFrom(a.addr(v6), 53)
			conn := udpFlow(t, b, flow)
			if _, err := conn.WriteToUDPAddrPort([]byte("flow\n"), server); err != nil {
				t.Fatal(err)
			}
			if !readsWithin(conn, server, okWait) {
				t.Fatalf("no echo from %s to %s", server, flow)
			}
			mark := seen.Mark()
			if err := sendUDPFrom(c, flow, server); err != nil {
				t.Fatal(err)
			}
			if seen.Await(flow.Addr(), mark, failWait) {
				t.Errorf("c's datagram with b's source %s rode b's flow to a", flow)
			}
			if err := sendUDPFrom(c, server, flow); err != nil {
				t.Fatal(err)
			}
			if readsWithin(conn, server, failWait) {
				t.Errorf("c's datagram with a's source %s rode the flow's reply direction to b", server)
			}
			mark = seen.Mark()
			if _, err := conn.WriteToUDPAddrPort([]byte("flow\n"), server); err != nil {
				t.Fatal(err)
			}
			if !seen.Await(flow.Addr(), mark, okWait) || !readsWithin(conn, server, okWait) {
				t.Errorf("b's flow to %s broke", server)
			}
		}
	})
	t.Run("unknown interface gets nothing", func(t *testing.T) {
		expectTCP(t, h, d, false, 80, timedOut)
		expectTCP(t, b, d, false, 80, timedOut) // b may send anywhere
		expectTCP(t, d, a, false, 80, timedOut) // a accepts anyone on 80
		d.detached = false
		w.apply()
		expectTCP(t, h, d, false, 80, connected)
	})
	t.Run("membership change", func(t *testing.T) {
		dst := netip.AddrPortFrom(a.v4, 22)
		conn, err := labtest.Dial(b.ns, dst, okWait)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := conn.RoundTrip(okWait); err != nil {
			t.Fatal(err)
		}
		b.groups = []model.GroupID{narrow} // b leaves client
		res := w.apply()
		t.Logf("b leaves %s: %+v", client, res)
		if res.Full || res.Elements < 2 {
			t.Errorf("leaving a group changed %+v; want b's two addresses out of the member sets, no rebuild", res)
		}
		expectTCP(t, b, a, false, 22, timedOut)
		expectTCP(t, b, a, true, 22, timedOut)
		if err := conn.RoundTrip(okWait); err != nil {
			t.Errorf("established connection broke when b left the group: %v", err)
		}
		b.groups = []model.GroupID{client}
		w.apply()
		expectTCP(t, b, a, false, 22, connected)
		mustNoDrift(t, w.tbl)
	})
	t.Run("drift is repaired", func(t *testing.T) {
		c, err := nftables.New(nftables.WithNetNSFd(int(w.tbl.ns.Fd())))
		if err != nil {
			t.Fatal(err)
		}
		c.DelTable(w.tbl.tbl)
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
		expectTCP(t, h, a, false, 82, refused) // nothing filters any more
		if drift, err := w.tbl.Check(); err != nil || !drift {
			t.Fatalf("check after the table was deleted: drift %v, err %v", drift, err)
		}
		if res := w.apply(); !res.Full {
			t.Errorf("apply after drift: %+v, want a rebuild", res)
		}
		expectTCP(t, h, a, false, 82, timedOut)
		expectTCP(t, h, a, false, 80, connected)
		mustNoDrift(t, w.tbl)
	})
}

// TestMembershipChangeIsOneElement: when an interface joins a group that
// another group's rule references, the referencing group's chains stay as
// they are: the update is one set element (plus the joining interface's
// own chains, which now jump to the group's chain). A new interface adds
// its chains and map elements only.
func TestMembershipChangeIsOneElement(t *testing.T) {
	ns := newNetns(t)
	tbl := openTable(t, ns)
	srv, cli, other := gid(1), gid(2), gid(3)
	groups := []model.SecurityGroup{
		group(srv, in("tcp", string(cli), 443, 443)),
		group(cli, allOut()...),
		group(other, allOut()...),
	}
	snap := func(c2 ...model.GroupID) Desired {
		enis := []model.ENI{
			iface(eniID(1), gs(srv), addr("10.0.0.1")),
			iface(eniID(2), gs(cli), addr("10.0.0.2")),
			iface(eniID(3), c2, addr("10.0.0.3")),
		}
		return desired(policy.Snapshot{Groups: groups, ENIs: enis}, nil)
	}
	mustApply(t, tbl, snap(other))
	res := mustApply(t, tbl, snap(other, cli))
	t.Logf("interface joins %s: %+v", cli, res)
	if res.Full || res.Chains != 2 || res.Elements != 1 || res.Sets != 0 {
		t.Errorf("joining a group changed %+v; want 1 element and the joiner's 2 chains", res)
	}
	mustNoDrift(t, tbl)
	res = mustApply(t, tbl, snap(other))
	if res.Full || res.Chains != 2 || res.Elements != 1 || res.Sets != 0 {
		t.Errorf("leaving a group changed %+v; want 1 element and the leaver's 2 chains", res)
	}
	attached := desired(policy.Snapshot{Groups: groups, ENIs: []model.ENI{
		iface(eniID(1), gs(srv), addr("10.0.0.1")),
		iface(eniID(2), gs(cli), addr("10.0.0.2")),
		iface(eniID(3), gs(other), addr("10.0.0.3")),
		iface(eniID(4), gs(srv), addr("10.0.0.4")),
	}}, nil)
	res = mustApply(t, tbl, attached)
	t.Logf("interface attached: %+v", res)
	// its 2 chains, 2 map elements and 1 own address
	if res.Full || res.Chains != 2 || res.Elements != 3 || res.Sets != 0 {
		t.Errorf("attaching an interface changed %+v", res)
	}
	mustNoDrift(t, tbl)
}
