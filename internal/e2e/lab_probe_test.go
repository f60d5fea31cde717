package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"palisade.dev/palisade/internal/lab"
)

// Probes: what a user observes, with real sockets opened inside the lab's
// namespaces (lab.Do). A probe that should pass waits up to okWait (the
// first IPv6 packet may wait for neighbour discovery); one that the
// security group should drop waits blockedWait, so every "timeout" costs
// well under a second. The agent applies a change asynchronously, so the
// first probe after a change is retried until it shows the new state, for
// at most applyWait: a bound for a hung agent, not a speed requirement.
// A datagram or an echo request is sent once (TCP retransmits its SYN), so
// the retries of eventually wait onceWait for each.
const (
	okWait      = 3 * time.Second
	blockedWait = 600 * time.Millisecond
	onceWait    = time.Second
	applyWait   = 20 * time.Second
	retryEvery  = 50 * time.Millisecond
)

// What a TCP client sees.
const (
	connected = "connected" // handshake, then the server's greeting
	refused   = "refused"   // the instance's own RST: the packet got through
	timedOut  = "timeout"   // dropped by a security group
)

// waitNS waits until the agent has made the named namespaces and, for
// instances and lab hosts, their routes out. Lab hosts have no state in the
// API that says they are wired (instances do: launch waits until running),
// so this is how a test knows that one can send at all.
func waitNS(t *testing.T, names ...string) {
	t.Helper()
	deadline := time.Now().Add(applyWait)
	for _, n := range names {
		for !nsExists(n) || !strings.HasPrefix(n, "palisade-vpc-") && !routed(n) {
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

func nsExists(name string) bool {
	_, err := os.Lstat(filepath.Join(netnsDir, name))
	return err == nil
}

// peers records the source addresses a server saw, safe for concurrent
// use.
type peers struct {
	mu   sync.Mutex
	seen []netip.Addr
}

func (p *peers) add(a netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = append(p.seen, a.Unmap())
}

// has reports whether a was ever seen.
func (p *peers) has(a netip.Addr) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Contains(p.seen, a)
}

// serveTCP listens on port of every address of namespace ns until the test
// ends. Each connection is greeted with the namespace's name and a newline,
// then echoed.
func serveTCP(t *testing.T, ns string, port uint16) *peers {
	t.Helper()
	var ln net.Listener
	err := lab.Do(ns, func() (err error) {
		ln, err = net.Listen("tcp", fmt.Sprintf(":%d", port))
		return err
	})
	if err != nil {
		t.Fatalf("listen on tcp %d in %s: %v", port, ns, err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &peers{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.add(c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr())
			go func() {
				defer c.Close()
				fmt.Fprintf(c, "%s\n", ns)
				io.Copy(c, c)
			}()
		}
	}()
	return p
}

// labConn is a client connection to serveTCP.
type labConn struct {
	net.Conn
	r *bufio.Reader
}

// dial connects from namespace ns to dst and reads the greeting, within
// wait. It returns the greeting (the server's namespace).
func dial(ns string, dst netip.AddrPort, wait time.Duration) (*labConn, string, error) {
	var c net.Conn
	err := lab.Do(ns, func() (err error) {
		c, err = (&net.Dialer{Timeout: wait}).Dial("tcp", dst.String())
		return err
	})
	if err != nil {
		return nil, "", err
	}
	lc := &labConn{Conn: c, r: bufio.NewReader(c)}
	c.SetReadDeadline(time.Now().Add(wait))
	hello, err := lc.r.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, "", err
	}
	return lc, strings.TrimSpace(hello), nil
}

// roundTrip sends a line and reads it back within wait.
func (c *labConn) roundTrip(wait time.Duration) error {
	c.SetDeadline(time.Now().Add(wait))
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		return err
	}
	line, err := c.r.ReadString('\n')
	if err == nil && line != "ping\n" {
		err = fmt.Errorf("echo %q", line)
	}
	return err
}

// outcome classifies a client's error.
func outcome(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return connected
	case errors.Is(err, syscall.ECONNREFUSED):
		return refused
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return timedOut
	}
	return err.Error()
}

// knock is one connection attempt from ns to dst: connected, refused or
// timeout (or another error's text). It waits blockedWait when a timeout
// is expected, okWait otherwise.
func knock(ns string, dst netip.AddrPort, want string) string {
	wait := okWait
	if want == timedOut {
		wait = blockedWait
	}
	c, _, err := dial(ns, dst, wait)
	if err == nil {
		c.Close()
	}
	return outcome(err)
}

// expectTCP checks once what a client in ns sees connecting to dst.
func expectTCP(t *testing.T, ns string, dst netip.AddrPort, want string) {
	t.Helper()
	if got := knock(ns, dst, want); got != want {
		t.Errorf("tcp %s → %s: %s, want %s", ns, dst, got, want)
	}
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
// ends, and records each datagram's source.
func serveUDP(t *testing.T, ns string, port uint16) *peers {
	t.Helper()
	var pc net.PacketConn
	err := lab.Do(ns, func() (err error) {
		pc, err = net.ListenPacket("udp", fmt.Sprintf(":%d", port))
		return err
	})
	if err != nil {
		t.Fatalf("listen on udp %d in %s: %v", port, ns, err)
	}
	t.Cleanup(func() { pc.Close() })
	p := &peers{}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			p.add(from.(*net.UDPAddr).AddrPort().Addr())
			pc.WriteTo(buf[:n], from)
		}
	}()
	return p
}

// udpEcho sends one datagram from ns to dst and reports whether its echo
// came back within wait.
func udpEcho(ns string, dst netip.AddrPort, wait time.Duration) bool {
	var c net.Conn
	if err := lab.Do(ns, func() (err error) { c, err = net.Dial("udp", dst.String()); return err }); err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(wait))
	if _, err := c.Write([]byte("datagram")); err != nil {
		return false
	}
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	return err == nil && string(buf[:n]) == "datagram"
}

// ping sends one ICMP (or ICMPv6) echo request from ns to dst and waits
// for its reply; nil when it came.
func ping(ns string, dst netip.Addr, wait time.Duration) error {
	network, listen, proto := "ip4:icmp", "0.0.0.0", 1
	var req, rep icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	if dst.Is6() {
		network, listen, proto = "ip6:ipv6-icmp", "::", 58
		req, rep = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	}
	var pc *icmp.PacketConn
	if err := lab.Do(ns, func() (err error) { pc, err = icmp.ListenPacket(network, listen); return err }); err != nil {
		return err
	}
	defer pc.Close()
	id := int(time.Now().UnixNano() & 0xffff)
	msg, err := (&icmp.Message{Type: req, Body: &icmp.Echo{ID: id, Seq: 1, Data: []byte("palisade")}}).Marshal(nil)
	if err != nil {
		return err
	}
	if _, err := pc.WriteTo(msg, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
		return err
	}
	pc.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 1500)
	for {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			return err
		}
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil || m.Type != rep {
			continue
		}
		if e, ok := m.Body.(*icmp.Echo); ok && e.ID == id {
			return nil
		}
	}
}

// yesNo renders a boolean probe for eventually.
func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

func port(a netip.Addr, p uint16) netip.AddrPort { return netip.AddrPortFrom(a, p) }
