package lab

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"palisade.dev/palisade/internal/testutil"
)

// probeTimeout bounds every connection attempt that should succeed;
// docs/dataplane.md#pitfalls (13): first IPv6 connects take ~1 s when neighbour discovery
// was cold. failTimeout bounds those that should fail (ARP for an address
// nobody routes goes unanswered, so some fail by timing out).
const (
	probeTimeout = 3 * time.Second
	failTimeout  = time.Second
)

func randHex(n int) string {
	b := make([]byte, (n+1)/2)
	rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

func vpcID() string  { return "vpc-" + randHex(17) }
func instID() string { return "i-" + randHex(17) }
func eniID() string  { return "eni-" + randHex(17) }

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ip(s string) netip.Addr    { return netip.MustParseAddr(s) }

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

// requireGone fails when a namespace of that name is still under /run/netns.
func requireGone(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := os.Lstat(filepath.Join(netnsDir, n)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("namespace %s still in %s (err %v)", n, netnsDir, err)
		}
	}
}

// instance builds a one-NIC instance.
func instance(vpc, addr string) Instance {
	return Instance{ID: instID(), VPC: vpc, NICs: []NIC{{ENI: eniID(), IPv4: pfx(addr)}}}
}

// with6 gives the instance's primary NIC an IPv6 address.
func with6(inst Instance, addr string) Instance {
	inst.NICs[0].IPv6 = pfx(addr)
	return inst
}

func mustEnsureVPC(t *testing.T, l *Lab, id string) {
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

// listenAddr is addr:0, or ":0" (every address) for the zero Addr.
func listenAddr(addr netip.Addr) string {
	if !addr.IsValid() {
		return ":0"
	}
	return netip.AddrPortFrom(addr, 0).String()
}

// serve listens for TCP on addr (zero: all) inside namespace ns and answers
// every connection with one line: "<ns> <remote address>".
func serve(t *testing.T, ns string, addr netip.Addr) netip.AddrPort {
	t.Helper()
	var ln net.Listener
	err := Do(ns, func() error {
		var err error
		ln, err = net.Listen("tcp", listenAddr(addr))
		return err
	})
	if err != nil {
		t.Fatalf("listen in %s: %v", ns, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "%s %s\n", ns, c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap())
			c.Close()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

// call connects from namespace ns to dst and returns the server's line.
func call(ns string, dst netip.AddrPort, timeout time.Duration) (string, error) {
	var c net.Conn
	err := Do(ns, func() error {
		var err error
		c, err = (&net.Dialer{Timeout: timeout}).Dial("tcp", dst.String())
		return err
	})
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

// mustReach connects from ns to dst and checks who answered (server ns)
// and whom it saw (src).
func mustReach(t *testing.T, from string, dst netip.AddrPort, server string, src netip.Addr) {
	t.Helper()
	start := time.Now()
	got, err := call(from, dst, probeTimeout)
	if err != nil {
		t.Fatalf("%s → %s: %v", from, dst, err)
	}
	if want := server + " " + src.String(); got != want {
		t.Fatalf("%s → %s: answer %q, want %q", from, dst, got, want)
	}
	t.Logf("%s → %s: %q in %v", from, dst, got, time.Since(start).Round(time.Millisecond))
}

// mustNotReach checks that a connection from ns to dst fails.
func mustNotReach(t *testing.T, from string, dst netip.AddrPort) {
	t.Helper()
	if got, err := call(from, dst, failTimeout); err == nil {
		t.Fatalf("%s → %s: connected (answer %q), want failure", from, dst, got)
	} else {
		t.Logf("%s → %s: %v (as wanted)", from, dst, err)
	}
}

// echoUDP answers every datagram to addr:port inside ns with itself.
func echoUDP(t *testing.T, ns string, addr netip.Addr) netip.AddrPort {
	t.Helper()
	var pc net.PacketConn
	err := Do(ns, func() error {
		var err error
		pc, err = net.ListenPacket("udp", listenAddr(addr))
		return err
	})
	if err != nil {
		t.Fatalf("udp listen in %s: %v", ns, err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

// pingUDP sends n datagrams from ns to dst, one at a time, and waits for
// each echo.
func pingUDP(t *testing.T, ns string, dst netip.AddrPort, n int) {
	t.Helper()
	var c net.Conn
	err := Do(ns, func() error {
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
		c.SetDeadline(time.Now().Add(probeTimeout))
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
func routerCounters(t *testing.T, l *Lab, vpc, ifName string) counters {
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
func forwarded(t *testing.T, l *Lab, vpc string) (v4, v6 uint64) {
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
func routerIndexes(t *testing.T, l *Lab, vpc string) []string {
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
func routerIndex(t *testing.T, l *Lab, vpc, ifName string) (int, bool) {
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
func requireNoLabRules(t *testing.T, id string) {
	t.Helper()
	s, err := openSpace(id)
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
	slices.SortFunc(insts, func(a, b Instance) int { return strings.Compare(a.ID, b.ID) })
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
func watchChanges(t *testing.T, ns string) func() int {
	t.Helper()
	fd := -1
	err := Do(ns, func() error {
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
