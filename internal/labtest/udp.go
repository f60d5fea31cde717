package labtest

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

// ServeUDP answers every datagram to at (as in ServeTCP) inside namespace
// ns with itself until the test ends, and records each datagram's source.
func ServeUDP(t testing.TB, ns string, at netip.AddrPort) *Server {
	t.Helper()
	var pc net.PacketConn
	err := In(ns, func() (err error) {
		pc, err = net.ListenPacket("udp", listenAddr(at))
		return err
	})
	if err != nil {
		t.Fatalf("listen on udp %s in %s: %v", listenAddr(at), ns, err)
	}
	t.Cleanup(func() { pc.Close() })
	s := &Server{Addr: netip.MustParseAddrPort(pc.LocalAddr().String())}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			s.add(from.(*net.UDPAddr).AddrPort().Addr())
			pc.WriteTo(buf[:n], from)
		}
	}()
	return s
}

// UDPExchange sends one datagram from ns to dst and reads its echo within
// wait (a closed port answers syscall.ECONNREFUSED: the ICMP error came
// back).
func UDPExchange(ns string, dst netip.AddrPort, wait time.Duration) error {
	var c net.Conn
	if err := In(ns, func() (err error) { c, err = net.Dial("udp", dst.String()); return err }); err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(wait))
	if _, err := c.Write([]byte("datagram\n")); err != nil {
		return err
	}
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err == nil && string(buf[:n]) != "datagram\n" {
		err = fmt.Errorf("echo %q", buf[:n])
	}
	return err
}

// ExpectUDP checks, once, whether a datagram from ns to dst is echoed.
func ExpectUDP(t testing.TB, ns string, dst netip.AddrPort, wantEcho bool) {
	t.Helper()
	err := UDPExchange(ns, dst, ReplyWait(wantEcho))
	if got := err == nil; got != wantEcho {
		t.Errorf("udp %s → %s: echo %v (%v), want %v", ns, dst, got, err, wantEcho)
	}
}
