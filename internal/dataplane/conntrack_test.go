package dataplane

import (
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"palisade.dev/palisade/internal/lab"
	"palisade.dev/palisade/internal/labtest"
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policy"
)

// TestCutUntracked: flows that AWS does not track (open to the world on
// their port, all traffic allowed back) stop at once when their rule goes;
// a flow that a narrower rule still allows continues, and so does a
// tracked flow whose rule goes (it idles out, as on AWS).
func TestCutUntracked(t *testing.T) {
	t.Parallel()
	w := newTestVPC(t)
	srv, cli := gid(1), gid(2)
	s := w.instance("10.0.1.10/24", "2001:db8:1::10/64", srv)
	a := w.instance("10.0.1.11/24", "2001:db8:1::11/64", cli)
	h := w.host("203.0.113.7", "2001:db8:ff::7")
	narrow := in("tcp", a.v4.String()+"/32", 7000, 7000)
	open4, open6 := in("tcp", "0.0.0.0/0", 7000, 7000), in("tcp", "::/0", 7000, 7000)
	tracked := in("tcp", h.v4.String()+"/32", 7001, 7001)
	before := append([]model.Rule{narrow, open4, open6, tracked}, allOut()...)
	w.apply(group(srv, before...), group(cli, allOut()...))
	tcpEcho(t, s, 7000)
	tcpEcho(t, s, 7001)

	was := w.port(s)
	for _, c := range []struct {
		f    policy.Flow
		want bool
	}{{policy.TCP(h.v4, 7000), false}, {policy.TCP(a.v4, 7000), false}, {policy.TCP(h.v4, 7001), true}} {
		if got := was.Policy.Tracked(model.Ingress, c.f); got != c.want {
			t.Fatalf("policy says %v tracked %v, the test assumes %v", c.f, got, c.want)
		}
	}
	conns := map[string]*labtest.Conn{}
	for name, p := range map[string]struct {
		from *node
		dst  netip.AddrPort
	}{
		"untracked from h":      {h, netip.AddrPortFrom(s.v4, 7000)},
		"untracked from h, v6":  {h, netip.AddrPortFrom(s.v6, 7000)},
		"untracked from a":      {a, netip.AddrPortFrom(s.v4, 7000)},
		"tracked from h (7001)": {h, netip.AddrPortFrom(s.v4, 7001)},
	} {
		c, err := labtest.Dial(p.from.ns, p.dst, okWait)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer c.Close()
		if err := c.RoundTrip(okWait); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		conns[name] = c
	}

	start := time.Now()
	w.apply(group(srv, append([]model.Rule{narrow}, allOut()...)...), group(cli, allOut()...))
	now := w.port(s).Policy
	cuts := policy.DiffPolicies(was.Policy, now).Cuts
	n, err := w.tbl.Cut(was, cuts, now)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("revoke: apply and cut of %v took %v, %d entries deleted", cuts, time.Since(start), n)
	if n != 2 {
		t.Errorf("cut %d conntrack entries, want 2 (h's IPv4 and IPv6 flows)", n)
	}
	for name, want := range map[string]bool{
		"untracked from h": false, "untracked from h, v6": false,
		"untracked from a": true, "tracked from h (7001)": true,
	} {
		wait := time.Second
		if err := conns[name].RoundTrip(wait); (err == nil) != want {
			t.Errorf("%s after the revoke: round trip %v, want ok=%v", name, err, want)
		}
	}
	expectTCP(t, h, s, false, 7000, timedOut)
	expectTCP(t, a, s, false, 7000, connected)
}

// TestConntrackTimeouts: an interface's idle timeouts reach the router's
// conntrack entries of its new flows (IPv4 and IPv6, TCP and UDP); the
// receiver's timeouts win for a flow between two instances, also when they
// are the defaults; a flow to a lab host takes the sender's.
func TestConntrackTimeouts(t *testing.T) {
	t.Parallel()
	w := newTestVPC(t)
	web, cli := gid(1), gid(2)
	s := w.instance("10.0.1.10/24", "2001:db8:1::10/64", web)
	a := w.instance("10.0.1.11/24", "", cli)
	h := w.host("203.0.113.7", "2001:db8:ff::7")
	w.groups = []model.SecurityGroup{
		group(web, append([]model.Rule{in("tcp", "0.0.0.0/0", 7000, 7000), in("tcp", "::/0", 7000, 7000),
			in("udp", "0.0.0.0/0", 7002, 7002)}, allOut()...)...),
		group(cli, append([]model.Rule{in("tcp", "0.0.0.0/0", 7000, 7000), in("udp", "0.0.0.0/0", 7002, 7002)}, allOut()...)...),
	}
	d := w.desired()
	for i := range d.Ports {
		if d.Ports[i].ENI == s.eni {
			p := *d.Ports[i].Policy
			p.Conntrack = model.ConntrackTimeouts{TCPEstablished: 3600, UDP: 45, UDPStream: 90}.Effective()
			d.Ports[i].Policy = &p
		}
	}
	mustApply(t, w.tbl, d)
	tcpEcho(t, s, 7000)
	tcpEcho(t, a, 7000)
	tcpEcho(t, h, 7000)
	udpEcho(t, s, 7002)
	udpEcho(t, a, 7002)

	for _, p := range []struct {
		from *node
		dst  netip.Addr
	}{{h, s.v4}, {h, s.v6}, {h, a.v4}, {a, s.v4}, {s, a.v4}, {s, h.v4}} {
		c, err := labtest.Dial(p.from.ns, netip.AddrPortFrom(p.dst, 7000), okWait)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close() // open while the entries are read: a closed flow is in TIME_WAIT
		if err := c.RoundTrip(okWait); err != nil {
			t.Fatal(err)
		}
	}
	expectUDP(t, h, s, false, 7002, true)
	expectUDP(t, h, a, false, 7002, true)
	cases := []struct {
		name     string
		src, dst netip.Addr
		proto    uint8
		lo, hi   uint32 // seconds left
	}{
		{"tcp to s (3600)", h.v4, s.v4, unix.IPPROTO_TCP, 3500, 3600},
		{"tcp to s over IPv6", h.v6, s.v6, unix.IPPROTO_TCP, 3500, 3600},
		{"tcp to a (default)", h.v4, a.v4, unix.IPPROTO_TCP, 431000, 432000},
		{"tcp from a to s: the receiver's", a.v4, s.v4, unix.IPPROTO_TCP, 3500, 3600},
		{"tcp from s to a: the receiver's (default)", s.v4, a.v4, unix.IPPROTO_TCP, 431000, 432000},
		{"tcp from s to a lab host: the sender's", s.v4, h.v4, unix.IPPROTO_TCP, 3500, 3600},
		{"udp to s (45)", h.v4, s.v4, unix.IPPROTO_UDP, 40, 45},
		{"udp to a (default)", h.v4, a.v4, unix.IPPROTO_UDP, 25, 30},
	}
	flows := conntrackFlows(t, w.router())
	for _, c := range cases {
		found := false
		for _, f := range flows {
			if f.Forward.Protocol == c.proto && ipAddr(f.Forward.SrcIP) == c.src && ipAddr(f.Forward.DstIP) == c.dst &&
				(f.Forward.DstPort == 7000 || f.Forward.DstPort == 7002) {
				found = true
				if f.TimeOut < c.lo || f.TimeOut > c.hi {
					t.Errorf("%s: timeout %d s, want %d–%d", c.name, f.TimeOut, c.lo, c.hi)
				}
			}
		}
		if !found {
			t.Errorf("%s: no conntrack entry", c.name)
		}
	}
}

func conntrackFlows(t *testing.T, ns string) []*netlink.ConntrackFlow {
	t.Helper()
	h, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	nl, err := netlink.NewHandleAt(h, unix.NETLINK_NETFILTER)
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	var out []*netlink.ConntrackFlow
	for _, fam := range []netlink.InetFamily{unix.AF_INET, unix.AF_INET6} {
		fs, err := nl.ConntrackTableList(netlink.ConntrackTable, fam)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fs...)
	}
	return out
}

// TestOpenSetsConntrackDefaults: Open makes the namespace's conntrack
// timeouts AWS's defaults, on a new table and on one it adopts, and leaves
// those of the namespace the process runs in alone.
func TestOpenSetsConntrackDefaults(t *testing.T) {
	ns := newNetns(t)
	want, root := map[string]string{}, map[string]string{}
	for _, s := range conntrackDefaults() {
		want[s.key] = strconv.FormatUint(uint64(s.value), 10)
		b, err := os.ReadFile(filepath.Join("/proc/sys", s.key))
		if err != nil {
			t.Fatal(err)
		}
		root[s.key] = string(b)
	}
	defer func() {
		for key, v := range root {
			if b, err := os.ReadFile(filepath.Join("/proc/sys", key)); err != nil || string(b) != v {
				t.Errorf("%s of the process's namespace changed: %q (%v), was %q", key, b, err, v)
			}
		}
	}()
	openTable(t, ns)
	check := func(when string) {
		t.Helper()
		for key, v := range want {
			var got []byte
			err := lab.Do(ns, func() (err error) {
				got, err = os.ReadFile(filepath.Join("/proc/sys", key))
				return err
			})
			if err != nil || strings.TrimSpace(string(got)) != v {
				t.Errorf("%s: %s = %q (%v), want %s", when, key, got, err, v)
			}
		}
	}
	check("new table")
	err := lab.Do(ns, func() error {
		return os.WriteFile("/proc/sys/net/netfilter/nf_conntrack_udp_timeout_stream", []byte("120"), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	openTable(t, ns)
	check("adopted table")
}
