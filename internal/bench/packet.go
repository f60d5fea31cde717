package bench

import (
	"encoding/binary"
	"net/netip"

	"palisade.dev/palisade/internal/model"
)

// probe is the first packet of one new flow, as the differential test sends
// it: a TCP SYN, a UDP datagram, an ICMP or ICMPv6 message, or a packet of
// another protocol. Its tag is unique in the run; it rides in the TCP
// sequence number, or in a trailer (the run's nonce, then the tag) at the
// end of every other packet, so that thousands can be in flight at once.
type probe struct {
	tag uint32
	header
	id uint16 // icmp, icmpv6: identifier (unique in a batch, for conntrack)
}

// header is what a probe and its sighting at the receiver must agree on.
type header struct {
	src, dst netip.Addr
	proto    model.Proto
	sport    uint16 // tcp, udp
	dport    uint16 // tcp, udp
	typ      uint8  // icmp, icmpv6
	code     uint8  // icmp, icmpv6
}

// port is the flow's port as policy sees it (policy.Flow.Port).
func (p *probe) port() uint16 {
	switch {
	case p.proto.HasPorts():
		return p.dport
	case p.proto.IsICMP():
		return model.ICMPKey(p.typ, p.code)
	}
	return 0
}

// Protocol headers and fields the probes use.
const (
	ipv4HeaderLen = 20
	ipv6HeaderLen = 40
	tcpHeaderLen  = 20
	udpHeaderLen  = 8
	icmpHeaderLen = 8
	trailerLen    = 8 // nonce, tag
	ttl           = 64
	tcpSYN        = 0x02
)

// unusedPeer4 and unusedPeer6 are the far ends of the packets quoted in the
// ICMP errors the probes carry: addresses no flow ever uses, so that
// conntrack never finds the quoted flow (which would make the error
// "related" and pass it whatever the rules say).
var (
	unusedPeer4 = netip.MustParseAddr("192.0.2.250")
	unusedPeer6 = netip.MustParseAddr("2001:db8:dead::250")
)

// isICMPError reports whether ICMP (v6 when v6) type t is an error
// message, which quotes the packet that caused it.
func isICMPError(v6 bool, t uint8) bool {
	if v6 {
		return t < 128
	}
	switch t {
	case 3, 4, 5, 11, 12:
		return true
	}
	return false
}

// packet renders the probe as an IP packet (no link-layer header).
func (p *probe) packet(nonce uint32) []byte {
	l4 := p.transport(nonce)
	if p.src.Is4() {
		return append(ipv4Header(p.src, p.dst, uint8(p.proto), len(l4), uint16(p.tag)), l4...)
	}
	return append(ipv6Header(p.src, p.dst, uint8(p.proto), len(l4)), l4...)
}

// transport renders the layer-4 part with its checksum.
func (p *probe) transport(nonce uint32) []byte {
	var b []byte
	csumAt := -1
	switch p.proto {
	case model.ProtoTCP:
		b = make([]byte, tcpHeaderLen)
		binary.BigEndian.PutUint16(b[0:], p.sport)
		binary.BigEndian.PutUint16(b[2:], p.dport)
		binary.BigEndian.PutUint32(b[4:], p.tag) // sequence number
		b[12] = tcpHeaderLen / 4 << 4
		b[13] = tcpSYN
		binary.BigEndian.PutUint16(b[14:], 64240) // window
		csumAt = 16
	case model.ProtoUDP:
		b = make([]byte, udpHeaderLen, udpHeaderLen+trailerLen)
		binary.BigEndian.PutUint16(b[0:], p.sport)
		binary.BigEndian.PutUint16(b[2:], p.dport)
		b = appendTrailer(b, nonce, p.tag)
		binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
		csumAt = 6
	case model.ProtoICMP, model.ProtoICMPv6:
		b = p.icmp(nonce)
		csumAt = 2
	default:
		b = appendTrailer(nil, nonce, p.tag)
	}
	if csumAt >= 0 {
		var sum uint32
		if p.proto != model.ProtoICMP { // ICMPv4 has no pseudo-header
			sum = pseudoHeaderSum(p.src, p.dst, uint8(p.proto), len(b))
		}
		c := checksum(b, sum)
		if c == 0 && p.proto == model.ProtoUDP {
			c = 0xffff // a zero UDP checksum means "none" (and is invalid in IPv6)
		}
		binary.BigEndian.PutUint16(b[csumAt:], c)
	}
	return b
}

// icmp renders an ICMP or ICMPv6 message: for an error type, it quotes a
// UDP packet from the receiver to an unused address; for any other type,
// the identifier and sequence fields carry the probe's id.
func (p *probe) icmp(nonce uint32) []byte {
	b := make([]byte, icmpHeaderLen)
	b[0], b[1] = p.typ, p.code
	v6 := p.src.Is6()
	if isICMPError(v6, p.typ) {
		b = append(b, p.quoted(v6)...)
	} else {
		binary.BigEndian.PutUint16(b[4:], p.id)
		binary.BigEndian.PutUint16(b[6:], uint16(p.tag))
	}
	return appendTrailer(b, nonce, p.tag)
}

// quoted is the start of the packet an ICMP error is about: an IP header
// and the first 8 bytes of a UDP datagram that the receiver supposedly sent
// to an address that no flow uses.
func (p *probe) quoted(v6 bool) []byte {
	udp := make([]byte, udpHeaderLen)
	binary.BigEndian.PutUint16(udp[0:], p.id|1)
	binary.BigEndian.PutUint16(udp[2:], 33434)
	binary.BigEndian.PutUint16(udp[4:], udpHeaderLen+32)
	if v6 {
		return append(ipv6Header(p.dst, unusedPeer6, uint8(model.ProtoUDP), udpHeaderLen+32), udp...)
	}
	return append(ipv4Header(p.dst, unusedPeer4, uint8(model.ProtoUDP), udpHeaderLen+32, p.id), udp...)
}

func appendTrailer(b []byte, nonce, tag uint32) []byte {
	b = binary.BigEndian.AppendUint32(b, nonce)
	return binary.BigEndian.AppendUint32(b, tag)
}

func ipv4Header(src, dst netip.Addr, proto uint8, payload int, id uint16) []byte {
	h := make([]byte, ipv4HeaderLen)
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(ipv4HeaderLen+payload))
	binary.BigEndian.PutUint16(h[4:], id)
	h[8], h[9] = ttl, proto
	s, d := src.As4(), dst.As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	binary.BigEndian.PutUint16(h[10:], checksum(h, 0))
	return h
}

func ipv6Header(src, dst netip.Addr, proto uint8, payload int) []byte {
	h := make([]byte, ipv6HeaderLen)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(payload))
	h[6], h[7] = proto, ttl
	s, d := src.As16(), dst.As16()
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	return h
}

// pseudoHeaderSum is the unfolded sum of the pseudo-header of TCP, UDP and
// ICMPv6 checksums.
func pseudoHeaderSum(src, dst netip.Addr, proto uint8, length int) uint32 {
	sum := uint32(proto) + uint32(length)
	for _, a := range []netip.Addr{src, dst} {
		for i, b := 0, a.AsSlice(); i < len(b); i += 2 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
	}
	return sum
}

// checksum is the Internet checksum (RFC 1071) of b, starting from sum.
func checksum(b []byte, sum uint32) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// sighting is what the receiving side read from one packet: the fields a
// probe must match, and its tag.
type sighting struct {
	tag uint32
	header
}

// parseSighting reads an IP packet (as an AF_PACKET datagram socket
// delivers it) and reports whether it can be a probe of this run: a TCP
// packet with only SYN set (the tag is its sequence number), or any other
// packet ending in the run's trailer. Replies (RST, echo replies, ICMP
// errors quoting a probe) may parse too; match rejects them, since their
// addresses or types differ from the probe whose tag they carry.
func parseSighting(b []byte, nonce uint32) (sighting, bool) {
	var s sighting
	var l4 []byte
	switch {
	case len(b) >= ipv4HeaderLen && b[0]>>4 == 4:
		ihl := int(b[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(b[2:]))
		if ihl < ipv4HeaderLen || total < ihl || total > len(b) {
			return s, false
		}
		s.proto = model.Proto(b[9])
		s.src = netip.AddrFrom4([4]byte(b[12:16]))
		s.dst = netip.AddrFrom4([4]byte(b[16:20]))
		l4 = b[ihl:total]
	case len(b) >= ipv6HeaderLen && b[0]>>4 == 6:
		end := ipv6HeaderLen + int(binary.BigEndian.Uint16(b[4:]))
		if end > len(b) {
			return s, false
		}
		s.proto = model.Proto(b[6])
		s.src = netip.AddrFrom16([16]byte(b[8:24]))
		s.dst = netip.AddrFrom16([16]byte(b[24:40]))
		l4 = b[ipv6HeaderLen:end]
	default:
		return s, false
	}
	return s, s.readTransport(l4, nonce)
}

func (s *sighting) readTransport(l4 []byte, nonce uint32) bool {
	if s.proto == model.ProtoTCP {
		if len(l4) < tcpHeaderLen || l4[13] != tcpSYN {
			return false
		}
		s.sport, s.dport = binary.BigEndian.Uint16(l4[0:]), binary.BigEndian.Uint16(l4[2:])
		s.tag = binary.BigEndian.Uint32(l4[4:])
		return true
	}
	if len(l4) < trailerLen || binary.BigEndian.Uint32(l4[len(l4)-trailerLen:]) != nonce {
		return false
	}
	s.tag = binary.BigEndian.Uint32(l4[len(l4)-4:])
	switch {
	case s.proto == model.ProtoUDP && len(l4) >= udpHeaderLen:
		s.sport, s.dport = binary.BigEndian.Uint16(l4[0:]), binary.BigEndian.Uint16(l4[2:])
	case s.proto.IsICMP() && len(l4) >= icmpHeaderLen:
		s.typ, s.code = l4[0], l4[1]
	}
	return true
}

// matches reports whether s is probe p arriving, not a reply that carries
// p's tag.
func (s *sighting) matches(p *probe) bool {
	if s.src != p.src || s.dst != p.dst || s.proto != p.proto {
		return false
	}
	switch {
	case p.proto.HasPorts():
		return s.sport == p.sport && s.dport == p.dport
	case p.proto.IsICMP():
		return s.typ == p.typ && s.code == p.code
	}
	return true
}
