package e2e

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"palisade.dev/palisade/internal/lab"
	"palisade.dev/palisade/internal/labtest"
	"palisade.dev/palisade/internal/nsexec"
)

// Probes: what a user observes, with real sockets opened inside the lab's
// namespaces (labtest). A probe that should pass waits up to okWait (the
// first IPv6 packet may wait for neighbour discovery); one that the
// security group should drop waits blockedWait, so every "timeout" costs
// well under a second. The agent applies a change asynchronously, so the
// first probe after a change is retried until it shows the new state, for
// at most applyWait: a bound for a hung agent, not a speed requirement.
// A datagram or an echo request is sent once (TCP retransmits its SYN), so
// the retries of eventually wait onceWait for each.
const (
	okWait      = labtest.OKWait
	blockedWait = labtest.BlockedWait
	onceWait    = time.Second
	applyWait   = 20 * time.Second
	retryEvery  = 50 * time.Millisecond
)

// What a TCP client sees.
const (
	connected = labtest.Connected // handshake, the server's greeting and echo
	refused   = labtest.Refused   // the instance's own RST: the packet got through
	timedOut  = labtest.TimedOut  // dropped by a security group
)

// labtest's probes under the short names the scenarios use.
var (
	nsExists  = labtest.Exists
	outcome   = labtest.Outcome
	knock     = labtest.Knock
	knockFrom = labtest.KnockFrom
	expectTCP = labtest.ExpectTCP
	ping      = labtest.Ping
)

// waitNS waits until the agent has made the named namespaces (a namespace
// is mounted on the name, not just the file that the mount goes on) and,
// for instances and lab hosts, their routes out. Lab hosts have no state in the
// API that says they are wired (instances do: launch waits until running),
// so this is how a test knows that one can send at all.
func waitNS(t *testing.T, names ...string) {
	t.Helper()
	deadline := time.Now().Add(applyWait)
	for _, n := range names {
		for !nsexec.IsNamespace(nsexec.Path(n)) || !strings.HasPrefix(n, "palisade-vpc-") && !routed(n) {
			if time.Now().After(deadline) {
				t.Fatalf("namespace %s did not appear, with a route out, within %v", n, applyWait)
			}
			time.Sleep(retryEvery)
		}
	}
}

// routed reports whether namespace ns has an IPv4 route out: connecting a
// UDP socket looks the route up and sends nothing.
func routed(ns string) bool {
	return lab.Do(ns, func() error {
		c, err := net.Dial("udp", "192.0.2.1:9")
		if err == nil {
			c.Close()
		}
		return err
	}) == nil
}

// waitNSGone waits until the agent has removed the named namespace.
func waitNSGone(t *testing.T, name string) {
	t.Helper()
	deadline := time.Now().Add(applyWait)
	for nsExists(name) {
		if time.Now().After(deadline) {
			t.Fatalf("namespace %s still there after %v", name, applyWait)
		}
		time.Sleep(retryEvery)
	}
}

// serveTCP listens on port of every address of namespace ns until the test
// ends: each connection is greeted ("<ns> <client address>") and echoed
// (labtest.ServeTCP).
func serveTCP(t *testing.T, ns string, port uint16) *labtest.Server {
	t.Helper()
	return labtest.ServeTCP(t, ns, netip.AddrPortFrom(netip.Addr{}, port))
}

// eventually retries probe until it returns want, for up to applyWait.
func eventually(t *testing.T, what, want string, probe func() string) {
	t.Helper()
	start := time.Now()
	got := probe()
	for got != want && time.Since(start) < applyWait {
		time.Sleep(retryEvery)
		got = probe()
	}
	if got != want {
		t.Fatalf("%s: still %s after %v, want %s", what, got, applyWait, want)
	}
	t.Logf("%s: %s after %v", what, want, time.Since(start).Round(time.Millisecond))
}

// eventuallyTCP waits until a client in ns sees want connecting to dst.
func eventuallyTCP(t *testing.T, ns string, dst netip.AddrPort, want string) {
	t.Helper()
	eventually(t, fmt.Sprintf("tcp %s → %s", ns, dst), want, func() string { return knock(ns, dst, want) })
}

// serveUDP echoes every datagram to port of namespace ns until the test
// ends, and records each datagram's source (labtest.ServeUDP).
func serveUDP(t *testing.T, ns string, port uint16) *labtest.Server {
	t.Helper()
	return labtest.ServeUDP(t, ns, netip.AddrPortFrom(netip.Addr{}, port))
}

// udpEcho sends one datagram from ns to dst and reports whether its echo
// came back within wait.
func udpEcho(ns string, dst netip.AddrPort, wait time.Duration) bool {
	return labtest.UDPExchange(ns, dst, wait) == nil
}

// yesNo renders a boolean probe for eventually.
func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

func port(a netip.Addr, p uint16) netip.AddrPort { return netip.AddrPortFrom(a, p) }
