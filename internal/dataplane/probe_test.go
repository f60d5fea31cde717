package dataplane

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"palisade.dev/palisade/internal/lab"
	"palisade.dev/palisade/internal/labtest"
)

// Probes run in the namespaces (labtest: sockets opened there stay
// there); a probe that should pass waits up to okWait, one that should be
// dropped failWait.
const (
	okWait   = labtest.OKWait
	failWait = labtest.BlockedWait
)

// Outcomes of a TCP probe, as a client sees them.
const (
	connected = labtest.Connected // handshake, greeting, one echoed line
	refused   = labtest.Refused   // the instance's own RST
	timedOut  = labtest.TimedOut  // dropped
)

// tcpEcho listens on port of every address of n (IPv4 and IPv6), greets
// and echoes, until the test ends (labtest.ServeTCP).
func tcpEcho(t testing.TB, n *node, port uint16) {
	t.Helper()
	labtest.ServeTCP(t, n.ns, netip.AddrPortFrom(netip.Addr{}, port))
}

// expectTCP checks what from sees connecting to port of to's address.
func expectTCP(t *testing.T, from, to *node, v6 bool, port uint16, want string) {
	t.Helper()
	labtest.ExpectTCP(t, from.ns, netip.AddrPortFrom(to.addr(v6), port), want)
}

// udpEcho answers every datagram to port of n with itself, and records the
// source of each (labtest.ServeUDP).
func udpEcho(t *testing.T, n *node, port uint16) *labtest.Server {
	t.Helper()
	return labtest.ServeUDP(t, n.ns, netip.AddrPortFrom(netip.Addr{}, port))
}

// expectUDP sends a datagram from n to port of to's address and checks
// whether the echo comes back.
func expectUDP(t *testing.T, from, to *node, v6 bool, port uint16, wantEcho bool) {
	t.Helper()
	labtest.ExpectUDP(t, from.ns, netip.AddrPortFrom(to.addr(v6), port), wantEcho)
}

// sendUDPFrom sends one datagram from n with source src (an address n
// need not own: IP_TRANSPARENT lets a socket use any source; port 0: any).
func sendUDPFrom(n *node, src netip.AddrPort, dst netip.AddrPort) error {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if src.Addr().Is4() {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_TRANSPARENT, 1)
			} else {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_IPV6, unix.IPV6_TRANSPARENT, 1)
			}
		})
		return errors.Join(err, serr)
	}}
	return lab.Do(n.ns, func() error {
		network := "udp4"
		if src.Addr().Is6() {
			network = "udp6"
		}
		pc, err := lc.ListenPacket(context.Background(), network, src.String())
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

// expectPing checks whether an echo request from from to to's address
// is answered.
func expectPing(t *testing.T, from, to *node, v6, wantReply bool) {
	t.Helper()
	labtest.ExpectPing(t, from.ns, to.addr(v6), wantReply)
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

// udpFlow is a UDP socket of n bound to local, for a flow that the test
// drives by hand; the socket closes when the test ends.
func udpFlow(t *testing.T, n *node, local netip.AddrPort) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := lab.Do(n.ns, func() (err error) {
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(local))
		return err
	})
	if err != nil {
		t.Fatalf("udp socket on %s in %s: %v", local, n.ns, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readsWithin reports whether c receives a datagram from src within wait.
func readsWithin(c *net.UDPConn, src netip.AddrPort, wait time.Duration) bool {
	buf := make([]byte, 1500)
	c.SetReadDeadline(time.Now().Add(wait))
	for {
		_, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return false
		}
		if netip.AddrPortFrom(from.Addr().Unmap(), from.Port()) == src {
			return true
		}
	}
}
