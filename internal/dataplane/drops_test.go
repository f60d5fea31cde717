package dataplane

import (
	"maps"
	"net"
	"net/netip"
	"testing"
	"time"

	"palisade.dev/palisade/internal/lab"
	"palisade.dev/palisade/internal/model"
)

// TestDropsCounted sends datagrams that the groups refuse and some they
// allow through real kernel rules, and reads each interface's drops back.
func TestDropsCounted(t *testing.T) {
	t.Parallel()
	w := newTestVPC(t)
	web, narrow := gid(1), gid(2)
	a := w.instance("10.0.1.10/24", "2001:db8:1::10/64", web)
	b := w.instance("10.0.1.11/24", "2001:db8:1::11/64", narrow)
	h := w.host("203.0.113.7", "2001:db8:ff::7")
	udpEcho(t, a, 53)
	w.apply(group(web, in("udp", "0.0.0.0/0", 53, 53), out("-1", "0.0.0.0/0")),
		group(narrow, out("tcp", "0.0.0.0/0", 80, 80)))
	mustNoDrift(t, w.tbl)

	expectUDP(t, h, a, false, 53, true) // allowed: counts nothing
	sendUDP(t, h, netip.AddrPortFrom(a.v4, 9), 3)
	sendUDP(t, h, netip.AddrPortFrom(a.v6, 53), 1) // no IPv6 rule
	sendUDP(t, b, netip.AddrPortFrom(a.v4, 53), 2) // b's egress allows only tcp 80

	want := map[model.ENIID]Drops{a.eni: {Ingress: 4}, b.eni: {Egress: 2}}
	// veths hand packets over in softirq: wait until they have arrived.
	var got map[model.ENIID]Drops
	for deadline := time.Now().Add(okWait); ; time.Sleep(10 * time.Millisecond) {
		var err error
		if got, err = w.tbl.Drops(); err != nil {
			t.Fatal(err)
		}
		if maps.Equal(got, want) || time.Now().After(deadline) {
			break
		}
	}
	for eni, d := range want {
		if got[eni] != d {
			t.Errorf("drops of %s: %+v, want %+v", eni, got[eni], d)
		}
	}
	if len(got) != 2 {
		t.Errorf("drops of %d interfaces, want 2 (every port): %v", len(got), got)
	}
	mustNoDrift(t, w.tbl) // counters moving is not drift
}

// sendUDP sends n datagrams from node to dst, one socket, no answer read.
func sendUDP(t *testing.T, from *node, dst netip.AddrPort, n int) {
	t.Helper()
	err := lab.Do(from.ns, func() error {
		c, err := net.Dial("udp", dst.String())
		if err != nil {
			return err
		}
		defer c.Close()
		for range n {
			if _, err := c.Write([]byte("x")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("udp %s → %s: %v", from.ns, dst, err)
	}
}
