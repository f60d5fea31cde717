package labtest

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Ping sends one ICMP or ICMPv6 echo request from ns to dst and waits up
// to wait for its reply; nil when it came.
func Ping(ns string, dst netip.Addr, wait time.Duration) error {
	network, listen, proto := "ip4:icmp", "0.0.0.0", 1
	var req, rep icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	if dst.Is6() {
		network, listen, proto = "ip6:ipv6-icmp", "::", 58
		req, rep = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	}
	var pc *icmp.PacketConn
	if err := In(ns, func() (err error) { pc, err = icmp.ListenPacket(network, listen); return err }); err != nil {
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

// ExpectPing checks, once, whether an echo request from ns to dst is
// answered.
func ExpectPing(t testing.TB, ns string, dst netip.Addr, wantReply bool) {
	t.Helper()
	err := Ping(ns, dst, ReplyWait(wantReply))
	if got := err == nil; got != wantReply {
		t.Errorf("ping %s → %s: reply %v (%v), want %v", ns, dst, got, err, wantReply)
	}
}
