package dataplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"palisade.dev/palisade/internal/lab"
)

// Probes run in the namespaces through lab.Do: sockets opened there stay
// there. A probe that should succeed waits up to okWait (the first IPv6
// packet may wait for neighbour discovery); one that should be dropped
// waits failWait, so that every "timeout" costs well under a second.
const (
	okWait   = 3 * time.Second
	failWait = 400 * time.Millisecond
)

// Outcomes of a TCP probe, as a client sees them.
const (
	connected = "connected" // handshake, then one echoed line
	refused   = "refused"   // the instance's own RST
	timedOut  = "timeout"   // dropped
)

// tcpEcho listens on port of every address of n (IPv4 and IPv6) and echoes
// what it reads, until the test ends.
func tcpEcho(t testing.TB, n *node, port uint16) {
	t.Helper()
	var ln net.Listener
	err := lab.Do(n.ns, func() (err error) {
		ln, err = net.Listen("tcp", fmt.Sprintf(":%d", port))
		return err
	})
	if err != nil {
		t.Fatalf("listen in %s: %v", n.ns, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
}

// dial connects from n to dst within wait.
func dial(n *node, dst netip.AddrPort, wait time.Duration) (net.Conn, error) {
	var c net.Conn
	err := lab.Do(n.ns, func() (err error) {
		c, err = (&net.Dialer{Timeout: wait}).Dial("tcp", dst.String())
		return err
	})
	return c, err
}

// roundTrip writes a line on c and reads it back within wait.
func roundTrip(c net.Conn, wait time.Duration) error {
	c.SetDeadline(time.Now().Add(wait))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	buf := make([]byte, 5)
	_, err := io.ReadFull(c, buf)
	return err
}

// tcpOutcome is what a client on from sees connecting to dst.
func tcpOutcome(from *node, dst netip.AddrPort, wait time.Duration) string {
	c, err := dial(from, dst, wait)
	if err == nil {
		defer c.Close()
		err = roundTrip(c, wait)
	}
	switch {
	case err == nil:
		return connected
	case errors.Is(err, syscall.ECONNREFUSED):
		return refused
	case errors.Is(err, os.ErrDeadlineExceeded) || isTimeout(err):
		return timedOut
	}
	return err.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func waitFor(want string) time.Duration {
	if want == timedOut {
		return failWait
	}
	return okWait
}

// expectTCP checks what from sees connecting to port of to's address.
func expectTCP(t *testing.T, from, to *node, v6 bool, port uint16, want string) {
	t.Helper()
	dst := netip.AddrPortFrom(to.addr(v6), port)
	start := time.Now()
	if got := tcpOutcome(from, dst, waitFor(want)); got != want {
		t.Errorf("tcp %s → %s %s: %s, want %s", from.ns, to.ns, dst, got, want)
		return
	}
	t.Logf("tcp %s → %s: %s in %v", from.ns, dst, want, time.Since(start).Round(100*time.Microsecond))
}

// udpEcho answers every datagram to port of n with itself, and reports the
// source of each on the returned channel.
func udpEcho(t *testing.T, n *node, port uint16) <-chan netip.Addr {
	t.Helper()
	var pc net.PacketConn
	err := lab.Do(n.ns, func() (err error) {
		pc, err = net.ListenPacket("udp", fmt.Sprintf(":%d", port))
		return err
	})
	if err != nil {
		t.Fatalf("udp listen in %s: %v", n.ns, err)
	}
	t.Cleanup(func() { pc.Close() })
	seen := make(chan netip.Addr, 100)
	go func() {
		buf := make([]byte, 1500)
		for {
			k, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			select {
			case seen <- from.(*net.UDPAddr).AddrPort().Addr().Unmap():
			default:
			}
			pc.WriteTo(buf[:k], from)
		}
	}()
	return seen
}

// expectUDP sends a datagram from n to dst and checks whether the echo
// comes back.
func expectUDP(t *testing.T, from, to *node, v6 bool, port uint16, wantEcho bool) {
	t.Helper()
	dst := netip.AddrPortFrom(to.addr(v6), port)
	wait := failWait
	if wantEcho {
		wait = okWait
	}
	err := udpExchange(from, dst, wait)
	if got := err == nil; got != wantEcho {
		t.Errorf("udp %s → %s: echo %v (%v), want %v", from.ns, dst, got, err, wantEcho)
	}
}

// udpExchange sends a datagram from n to dst and reads the echo.
func udpExchange(n *node, dst netip.AddrPort, wait time.Duration) error {
	var c net.Conn
	err := lab.Do(n.ns, func() (err error) {
		c, err = net.Dial("udp", dst.String())
		return err
	})
	if err != nil {
		return err
	}
	defer c.Close()
	return roundTrip(c, wait)
}

// sendUDPFrom sends one datagram from n with source address src (which n
// need not own: IP_TRANSPARENT lets a socket use any source).
func sendUDPFrom(n *node, src netip.Addr, dst netip.AddrPort) error {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if src.Is4() {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_TRANSPARENT, 1)
			} else {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_IPV6, unix.IPV6_TRANSPARENT, 1)
			}
		})
		return errors.Join(err, serr)
	}}
	return lab.Do(n.ns, func() error {
		network := "udp4"
		if src.Is6() {
			network = "udp6"
		}
		pc, err := lc.ListenPacket(context.Background(), network, netip.AddrPortFrom(src, 0).String())
		if err != nil {
			return err
		}
		defer pc.Close()
		_, err = pc.WriteTo([]byte("spoof\n"), net.UDPAddrFromAddrPort(dst))
		return err
	})
}

// received reports whether a datagram from src reaches the server within
// wait.
func received(seen <-chan netip.Addr, src netip.Addr, wait time.Duration) bool {
	deadline := time.After(wait)
	for {
		select {
		case a := <-seen:
			if a == src {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

// ping sends one ICMP or ICMPv6 echo request from n to dst and waits for
// the reply.
func ping(n *node, dst netip.Addr, wait time.Duration) error {
	network, listen, req, rep := "ip4:icmp", "0.0.0.0", icmp.Type(ipv4.ICMPTypeEcho), icmp.Type(ipv4.ICMPTypeEchoReply)
	proto := 1
	if dst.Is6() {
		network, listen, req, rep = "ip6:ipv6-icmp", "::", ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
		proto = 58
	}
	var pc *icmp.PacketConn
	if err := lab.Do(n.ns, func() (err error) { pc, err = icmp.ListenPacket(network, listen); return err }); err != nil {
		return err
	}
	defer pc.Close()
	id := int(time.Now().UnixNano() & 0xffff)
	msg, _ := (&icmp.Message{Type: req, Body: &icmp.Echo{ID: id, Seq: 1, Data: []byte("palisade")}}).Marshal(nil)
	if _, err := pc.WriteTo(msg, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
		return err
	}
	pc.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 1500)
	for {
		k, _, err := pc.ReadFrom(buf)
		if err != nil {
			return err
		}
		m, err := icmp.ParseMessage(proto, buf[:k])
		if err != nil || m.Type != rep {
			continue
		}
		if e, ok := m.Body.(*icmp.Echo); ok && e.ID == id {
			return nil
		}
	}
}

func expectPing(t *testing.T, from, to *node, v6, wantReply bool) {
	t.Helper()
	wait := failWait
	if wantReply {
		wait = okWait
	}
	err := ping(from, to.addr(v6), wait)
	if got := err == nil; got != wantReply {
		t.Errorf("ping %s → %s: reply %v (%v), want %v", from.ns, to.addr(v6), got, err, wantReply)
	}
}

// icmpErrors reports the source of every ICMP "destination unreachable"
// that reaches n, until the test ends.
func icmpErrors(t *testing.T, n *node) <-chan netip.Addr {
	t.Helper()
	var pc *icmp.PacketConn
	if err := lab.Do(n.ns, func() (err error) { pc, err = icmp.ListenPacket("ip4:icmp", "0.0.0.0"); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	seen := make(chan netip.Addr, 10)
	go func() {
		buf := make([]byte, 1500)
		for {
			k, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if m, err := icmp.ParseMessage(1, buf[:k]); err == nil && m.Type == ipv4.ICMPTypeDestinationUnreachable {
				a, _ := netip.AddrFromSlice(from.(*net.IPAddr).IP)
				seen <- a.Unmap()
			}
		}
	}()
	return seen
}

// sendFragNeeded sends n's unsolicited "fragmentation needed" (ICMP 3/4)
// about a TCP packet from dst that no flow ever carried.
func sendFragNeeded(n *node, dst netip.Addr) error {
	inner := make([]byte, 28) // an IPv4 header and 8 bytes of TCP
	inner[0], inner[9] = 0x45, 6
	copy(inner[12:], dst.AsSlice())
	copy(inner[16:], netip.MustParseAddr("198.51.100.1").AsSlice())
	msg, err := (&icmp.Message{Type: ipv4.ICMPTypeDestinationUnreachable, Code: 4,
		Body: &icmp.PacketTooBig{MTU: 1400, Data: inner}}).Marshal(nil)
	if err != nil {
		return err
	}
	return lab.Do(n.ns, func() error {
		pc, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
		if err != nil {
			return err
		}
		defer pc.Close()
		_, err = pc.WriteTo(msg, &net.IPAddr{IP: dst.AsSlice()})
		return err
	})
}
