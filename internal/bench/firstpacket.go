package bench

import (
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"palisade.dev/palisade/internal/model"
)

// LabEnd is an interface of the lab that a first packet leaves from or
// arrives at: the namespace and device of an instance's ethN or a lab
// host's eth0, and the router's end of its veth.
type LabEnd struct {
	NS, Dev  string
	RouterIf string
}

// FirstPacket is one real first packet of a new flow, sent by `palisade
// explain --probe` with the differential test's packet crafting.
type FirstPacket struct {
	From, To LabEnd
	Router   string // the VPC router's namespace
	Src, Dst netip.Addr
	Proto    model.Proto
	Port     uint16 // tcp/udp destination port, or model.ICMPKey(type, code)
}

// SendFirstPacket sends fp from its sender's interface to the router, with
// a random source port (or ICMP identifier) so that it is a new flow, and
// reports whether it arrived at the receiver's interface within wait.
// Nothing answers it: the receiver's kernel may reply (a RST, an echo
// reply), as it would to any client.
func SendFirstPacket(fp FirstPacket, wait time.Duration) (reached bool, err error) {
	from, err := openTap(fp.From.NS, fp.From.Dev, fp.Router, fp.From.RouterIf)
	if err != nil {
		return false, err
	}
	defer from.Close()
	to, err := openTap(fp.To.NS, fp.To.Dev, fp.Router, fp.To.RouterIf)
	if err != nil {
		return false, err
	}
	var r [12]byte
	crand.Read(r[:])
	nonce, tag := binary.BigEndian.Uint32(r[0:])|1, binary.BigEndian.Uint32(r[4:])
	p := probe{tag: tag, id: binary.BigEndian.Uint16(r[8:]) | 1,
		header: header{src: fp.Src, dst: fp.Dst, proto: fp.Proto}}
	switch {
	case fp.Proto.HasPorts():
		p.sport, p.dport = 32768+binary.BigEndian.Uint16(r[10:])%28000, fp.Port
	case fp.Proto.IsICMP():
		p.typ, p.code = uint8(fp.Port>>8), uint8(fp.Port)
	}
	seen := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, err := to.recv.Read(buf)
			if err != nil {
				return
			}
			if s, ok := parseSighting(buf[:n], nonce); ok && s.tag == tag && s.matches(&p) {
				close(seen)
				return
			}
		}
	}()
	defer func() { to.Close(); <-done }()
	if err := from.transmit(p.packet(nonce)); err != nil {
		return false, fmt.Errorf("send from %s in %s: %w", fp.From.Dev, fp.From.NS, err)
	}
	select {
	case <-seen:
		return true, nil
	case <-time.After(wait):
		return false, nil
	}
}
