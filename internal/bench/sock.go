package bench

import (
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"

	"palisade.dev/palisade/internal/lab"
)

// tap is one network interface of a namespace the differential test made
// (an instance's ethN, a lab host's eth0), with two packet sockets: one that
// sends crafted IP packets straight to the router's end of the veth, and
// one that reads every packet arriving on the interface (never the ones
// leaving it). Both stay in the namespace they were opened in and may be
// used from any goroutine.
type tap struct {
	ns      string
	dev     string
	ifindex int
	gateway [8]byte // MAC of the router's end of the veth, padded for sockaddr_ll
	send    int     // AF_PACKET datagram socket, send only
	recv    *os.File
}

// ethP* are the EtherTypes, in network byte order as sockaddr_ll wants them.
var (
	ethPAll  = htons(unix.ETH_P_ALL)
	ethPIPv4 = htons(unix.ETH_P_IP)
	ethPIPv6 = htons(unix.ETH_P_IPV6)
)

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// socketBuffer is the forced size of the taps' socket buffers: a batch of
// a few thousand probes may arrive faster than the reader drains it.
const socketBuffer = 16 << 20

// openTap opens the sockets of dev in namespace ns; routerIf is the
// router's end of its veth in namespace router.
func openTap(ns, dev, router, routerIf string) (*tap, error) {
	gw, err := macIn(router, routerIf)
	if err != nil {
		return nil, err
	}
	t := &tap{ns: ns, dev: dev, send: -1}
	copy(t.gateway[:], gw)
	err = lab.Do(ns, func() error {
		ifc, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		t.ifindex = ifc.Index
		if t.send, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		if err := unix.SetsockoptInt(t.send, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, socketBuffer); err != nil {
			return fmt.Errorf("send buffer: %w", err)
		}
		t.recv, err = listenPackets(t.ifindex, ns+"/"+dev)
		return err
	})
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("tap %s in %s: %w", dev, ns, err)
	}
	return t, nil
}

// listenPackets opens a packet socket that receives what arrives on
// interface ifindex, as a non-blocking file (so that Close ends a Read).
func listenPackets(ifindex int, name string) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	err = errors.Join(
		unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1),
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, socketBuffer),
	)
	if err == nil {
		// Binding with a protocol starts the reception, on this interface only.
		err = unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: ethPAll, Ifindex: ifindex})
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listen on %s: %w", name, err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

// macIn returns the MAC address of interface name in namespace ns.
func macIn(ns, name string) (net.HardwareAddr, error) {
	var mac net.HardwareAddr
	err := lab.Do(ns, func() error {
		ifc, err := net.InterfaceByName(name)
		if err == nil {
			mac = ifc.HardwareAddr
		}
		return err
	})
	if err == nil && len(mac) != 6 {
		err = fmt.Errorf("interface %s in %s has no Ethernet address", name, ns)
	}
	return mac, err
}

// transmit sends one IP packet to the router.
func (t *tap) transmit(pkt []byte) error {
	proto := ethPIPv4
	if pkt[0]>>4 == 6 {
		proto = ethPIPv6
	}
	to := &unix.SockaddrLinklayer{Protocol: proto, Ifindex: t.ifindex, Halen: 6, Addr: t.gateway}
	for {
		err := unix.Sendto(t.send, pkt, 0, to)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// Close closes both sockets; a reader blocked in recv.Read returns.
func (t *tap) Close() error {
	var errs []error
	if t.send >= 0 {
		errs = append(errs, unix.Close(t.send))
		t.send = -1
	}
	if t.recv != nil {
		errs = append(errs, t.recv.Close())
	}
	return errors.Join(errs...)
}
