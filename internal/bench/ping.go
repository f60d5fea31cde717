package bench

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"palisade.dev/palisade/internal/lab"
)

// pingAll sends one echo request from namespace ns to every target and
// waits up to wait for the replies. It fails when a target does not answer.
func pingAll(ns string, targets []netip.Addr, wait time.Duration) error {
	var c4, c6 *icmp.PacketConn
	err := lab.Do(ns, func() (err error) {
		if c4, err = icmp.ListenPacket("ip4:icmp", "0.0.0.0"); err != nil {
			return err
		}
		c6, err = icmp.ListenPacket("ip6:ipv6-icmp", "::")
		return err
	})
	if c4 != nil {
		defer c4.Close()
	}
	if c6 != nil {
		defer c6.Close()
	}
	if err != nil {
		return fmt.Errorf("ping from %s: %w", ns, err)
	}
	pending := map[netip.Addr]bool{}
	for _, a := range targets {
		c, typ := c4, icmp.Type(ipv4.ICMPTypeEcho)
		if a.Is6() {
			c, typ = c6, ipv6.ICMPTypeEchoRequest
		}
		msg, _ := (&icmp.Message{Type: typ, Body: &icmp.Echo{ID: 0x7e57, Seq: 1, Data: []byte("palisade bench")}}).Marshal(nil)
		if _, err := c.WriteTo(msg, &net.IPAddr{IP: a.AsSlice()}); err != nil {
			return fmt.Errorf("ping %s from %s: %w", a, ns, err)
		}
		pending[a] = true
	}
	deadline := time.Now().Add(wait)
	for _, c := range []*icmp.PacketConn{c4, c6} {
		drainReplies(c, pending, deadline)
	}
	for a := range pending {
		return fmt.Errorf("ping from %s: %s did not answer within %v", ns, a, wait)
	}
	return nil
}

// drainReplies reads echo replies from c until every pending address of
// c's family answered or the deadline passes.
func drainReplies(c *icmp.PacketConn, pending map[netip.Addr]bool, deadline time.Time) {
	c.SetReadDeadline(deadline)
	buf := make([]byte, 1500)
	v6 := c.IPv6PacketConn() != nil
	for {
		left := 0
		for a := range pending {
			if a.Is6() == v6 {
				left++
			}
		}
		if left == 0 {
			return
		}
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		proto := 1
		if v6 {
			proto = 58
		}
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil || (m.Type != ipv4.ICMPTypeEchoReply && m.Type != ipv6.ICMPTypeEchoReply) {
			continue
		}
		a, _ := netip.AddrFromSlice(from.(*net.IPAddr).IP)
		delete(pending, a.Unmap())
	}
}
