package lab

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"palisade.dev/palisade/internal/labtest"
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policytest"
	"palisade.dev/palisade/internal/testutil"
)

// Tiny builders and probes: policytest's and labtest's, under short names.
var (
	randHex     = labtest.RandHex
	pfx         = policytest.Prefix
	ip          = policytest.Addr
	requireGone = labtest.RequireGone
)

func vpcID() model.VpcID       { return model.VpcID("vpc-" + randHex(17)) }
func instID() model.InstanceID { return model.InstanceID("i-" + randHex(17)) }
func eniID() model.ENIID       { return model.ENIID("eni-" + randHex(17)) }

// newLab returns a root-only Lab with a unique router prefix, and takes it
// down (checking that nothing of it is left) when the test ends, even when
// it fails.
func newLab(t *testing.T) *Lab {
	t.Helper()
	testutil.RequireRoot(t)
	l, err := New(Config{RouterPrefix: "plt" + randHex(6) + "-"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("down: %v", err)
		}
		requireEmpty(t, l)
	})
	return l
}

// requireEmpty fails unless l has nothing left on the machine.
func requireEmpty(t *testing.T, l *Lab) {
	t.Helper()
	st, err := l.List()
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if len(st.VPCs)+len(st.Instances)+len(st.Hosts) != 0 {
		t.Errorf("lab not empty: %+v", st)
	}
}

// instance builds a one-NIC instance.
func instance(vpc model.VpcID, addr string) Instance {
	return Instance{ID: instID(), VPC: vpc, NICs: []NIC{{ENI: eniID(), IPv4: pfx(addr)}}}
}

// with6 gives the instance's primary NIC an IPv6 address.
func with6(inst Instance, addr string) Instance {
	inst.NICs[0].IPv6 = pfx(addr)
	return inst
}

func mustEnsureVPC(t *testing.T, l *Lab, id model.VpcID) {
	t.Helper()
	if err := l.EnsureVPC(id); err != nil {
		t.Fatal(err)
	}
}

func mustEnsure(t *testing.T, l *Lab, insts ...Instance) {
	t.Helper()
	for _, inst := range insts {
		if err := l.EnsureInstance(inst); err != nil {
			t.Fatal(err)
		}
	}
}

func mustEnsureHost(t *testing.T, l *Lab, h Host) {
	t.Helper()
	if err := l.EnsureHost(h); err != nil {
		t.Fatal(err)
	}
}

// serve listens for TCP on addr (zero: all) inside namespace ns (see
// labtest.ServeTCP: it greets with "<ns> <client address>").
func serve[N ~string](t *testing.T, ns N, addr netip.Addr) netip.AddrPort {
	t.Helper()
	return labtest.ServeTCP(t, string(ns), netip.AddrPortFrom(addr, 0)).Addr
}

// mustReach connects from ns to dst and checks who answered (server ns)
// and whom it saw (src).
func mustReach[F, S ~string](t *testing.T, from F, dst netip.AddrPort, server S, src netip.Addr) {
	t.Helper()
	start := time.Now()
	c, err := labtest.Dial(string(from), dst, labtest.OKWait)
	if err != nil {
		t.Fatalf("%s → %s: %v", from, dst, err)
	}
	defer c.Close()
	if c.Server != string(server) || c.Src != src {
		t.Fatalf("%s → %s: answer from %s seeing %s, want %s seeing %s", from, dst, c.Server, c.Src, server, src)
	}
	t.Logf("%s → %s: %s saw %s in %v", from, dst, c.Server, c.Src, time.Since(start).Round(time.Millisecond))
}

// mustNotReach checks that a connection from ns to dst fails.
func mustNotReach[F ~string](t *testing.T, from F, dst netip.AddrPort) {
	t.Helper()
	if c, err := labtest.Dial(string(from), dst, labtest.BlockedWait); err == nil {
		c.Close()
		t.Fatalf("%s → %s: connected (answer from %s), want failure", from, dst, c.Server)
	} else {
		t.Logf("%s → %s: %v (as wanted)", from, dst, err)
	}
}

// echoUDP answers every datagram to addr (zero: all) inside ns with itself.
func echoUDP[N ~string](t *testing.T, ns N, addr netip.Addr) netip.AddrPort {
	t.Helper()
	return labtest.ServeUDP(t, string(ns), netip.AddrPortFrom(addr, 0)).Addr
}

// pingUDP sends n datagrams from ns to dst, one at a time, and waits for
// each echo.
func pingUDP[N ~string](t *testing.T, ns N, dst netip.AddrPort, n int) {
	t.Helper()
	var c net.Conn
	err := labtest.In(string(ns), func() error {
		var err error
		c, err = net.Dial("udp", dst.String())
		return err
	})
	if err != nil {
		t.Fatalf("udp dial from %s: %v", ns, err)
	}
	defer c.Close()
	buf := make([]byte, 64)
	for i := range n {
		c.SetDeadline(time.Now().Add(labtest.OKWait))
		if _, err := fmt.Fprintf(c, "ping %d", i); err != nil {
			t.Fatalf("udp send %d from %s: %v", i, ns, err)
		}
		if _, err := c.Read(buf); err != nil {
			t.Fatalf("udp echo %d from %s to %s: %v", i, ns, dst, err)
		}
	}
}

// counters are the packet counters of a router-side interface.
type counters struct{ rx, tx uint64 }

// routerCounters reads the packet counters of the router-side interface
// ifName of the VPC.
func routerCounters(t *testing.T, l *Lab, vpc model.VpcID, ifName string) counters {
	t.Helper()
	s, err := openSpace(l.RouterNamespace(vpc))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	k, err := s.h.LinkByName(ifName)
	if err != nil {
		t.Fatalf("router interface %s: %v", ifName, err)
	}
	st := k.Attrs().Statistics
	return counters{rx: st.RxPackets, tx: st.TxPackets}
}

// forwarded reads the router namespace's IPv4 and IPv6 forwarded-datagram
// counters (/proc/thread-self/net: /proc/net follows the main thread).
func forwarded(t *testing.T, l *Lab, vpc model.VpcID) (v4, v6 uint64) {
	t.Helper()
	err := Do(l.RouterNamespace(vpc), func() error {
		snmp, err := os.ReadFile("/proc/thread-self/net/snmp")
		if err != nil {
			return err
		}
		v4 = snmpField(string(snmp), "Ip:", "ForwDatagrams")
		snmp6, err := os.ReadFile("/proc/thread-self/net/snmp6")
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(snmp6), "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "Ip6OutForwDatagrams" {
				fmt.Sscan(f[1], &v6)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return v4, v6
}

// snmpField reads one counter from /proc/net/snmp's header/value line pairs.
func snmpField(snmp, section, field string) uint64 {
	lines := strings.Split(snmp, "\n")
	for i := 0; i+1 < len(lines); i++ {
		head, vals := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(head) == 0 || head[0] != section || len(vals) != len(head) {
			continue
		}
		for j, h := range head {
			if h == field {
				var v uint64
				fmt.Sscan(vals[j], &v)
				return v
			}
		}
	}
	return 0
}

// routerIndexes lists the router's interfaces as "name#index", sorted.
func routerIndexes(t *testing.T, l *Lab, vpc model.VpcID) []string {
	t.Helper()
	s, err := openSpace(l.RouterNamespace(vpc))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	links, err := dump(s.h.LinkList)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range links {
		out = append(out, fmt.Sprintf("%s#%d", k.Attrs().Name, k.Attrs().Index))
	}
	slices.Sort(out)
	return out
}

// routerIndex returns the index of the router's interface ifName.
func routerIndex(t *testing.T, l *Lab, vpc model.VpcID, ifName string) (int, bool) {
	t.Helper()
	s, err := openSpace(l.RouterNamespace(vpc))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	k, err := linkByName(s.h, ifName)
	if err != nil {
		t.Fatal(err)
	}
	if k == nil {
		return 0, false
	}
	return k.Attrs().Index, true
}

// requireNoLabRules fails when the instance still has policy-routing rules
// of the lab.
func requireNoLabRules[N ~string](t *testing.T, id N) {
	t.Helper()
	s, err := openSpace(string(id))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rules, err := dump(func() ([]netlink.Rule, error) { return s.h.RuleList(fam) })
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rules {
			if ourRule(r) {
				t.Errorf("rule left in %s: %s", id, r)
			}
		}
	}
}

func sortedInstances(insts ...Instance) []Instance {
	slices.SortFunc(insts, func(a, b Instance) int { return strings.Compare(string(a.ID), string(b.ID)) })
	return insts
}

func equalState(a, b State) bool {
	sameInstance := func(x, y Instance) bool {
		return x.ID == y.ID && x.VPC == y.VPC && slices.EqualFunc(x.NICs, y.NICs, NIC.Equal)
	}
	return slices.Equal(a.VPCs, b.VPCs) && slices.Equal(a.Hosts, b.Hosts) &&
		slices.EqualFunc(a.Instances, b.Instances, sameInstance)
}

// watchChanges subscribes, inside namespace ns, to the kernel's link,
// address and route notifications; the returned function counts those that
// arrived since the last call.
func watchChanges[N ~string](t *testing.T, ns N) func() int {
	t.Helper()
	fd := -1
	err := Do(string(ns), func() error {
		var err error
		fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		groups := unix.RTMGRP_LINK | unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR |
			unix.RTMGRP_IPV4_ROUTE | unix.RTMGRP_IPV6_ROUTE | unix.RTMGRP_IPV4_RULE
		return unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: uint32(groups)})
	})
	if err != nil {
		t.Fatalf("watch %s: %v", ns, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return func() int {
		n, buf := 0, make([]byte, 1<<16)
		for {
			k, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				return n
			}
			msgs, _ := syscall.ParseNetlinkMessage(buf[:k])
			n += len(msgs)
		}
	}
}

// settle drains the watches until none has seen a change for 300 ms (at most
// 5 s): asynchronous kernel work after an Ensure is over.
func settle(watches []func() int) {
	deadline := time.Now().Add(5 * time.Second)
	for quiet := 0; quiet < 3 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		n := 0
		for _, w := range watches {
			n += w()
		}
		if n == 0 {
			quiet++
		} else {
			quiet = 0
		}
	}
}
