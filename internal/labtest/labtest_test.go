package labtest

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
)

// loopbackNetns is a fresh namespace with its loopback up.
func loopbackNetns(t *testing.T) string {
	t.Helper()
	ns := Netns(t, "ptl-")
	err := In(ns, func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	})
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func TestProbesOnLoopback(t *testing.T) {
	ns := loopbackNetns(t)
	lo := netip.MustParseAddr("127.0.0.1")
	tcp := ServeTCP(t, ns, netip.AddrPortFrom(lo, 0))
	c, err := Dial(ns, tcp.Addr, OKWait)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Server != ns || c.Src != lo || c.RoundTrip(OKWait) != nil || !tcp.Saw(lo) {
		t.Errorf("greeting %q %s, saw %v", c.Server, c.Src, tcp.Saw(lo))
	}
	ExpectTCP(t, ns, tcp.Addr, Connected)
	ExpectTCP(t, ns, netip.AddrPortFrom(lo, 9), Refused)

	udp := ServeUDP(t, ns, netip.AddrPort{})
	mark := udp.Mark()
	ExpectUDP(t, ns, netip.AddrPortFrom(lo, udp.Addr.Port()), true)
	if !udp.Await(lo, mark, OKWait) || udp.Await(lo, udp.Mark(), BlockedWait) {
		t.Error("Await counts datagrams before the mark, or misses the one after")
	}
	if err := UDPExchange(ns, netip.AddrPortFrom(lo, 9), OKWait); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("udp to a closed port: %v, want connection refused", err)
	}
	ExpectPing(t, ns, lo, true)
	ExpectPing(t, ns, netip.MustParseAddr("::1"), true)
}

func TestOutcome(t *testing.T) {
	for err, want := range map[error]string{
		nil: Connected,
		fmt.Errorf("dial: %w", syscall.ECONNREFUSED):   Refused,
		fmt.Errorf("read: %w", os.ErrDeadlineExceeded): TimedOut,
		errors.New("no route"):                         "no route",
	} {
		if got := Outcome(err); got != want {
			t.Errorf("Outcome(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestNetnsIsRemoved(t *testing.T) {
	var name string
	t.Run("make", func(t *testing.T) {
		name = Netns(t, "ptl-")
		if !Exists(name) {
			t.Fatalf("%s does not exist", name)
		}
	})
	RequireGone(t, name)
	if err := In(name, func() error { return nil }); err == nil {
		t.Error("In a removed namespace succeeded")
	}
}
