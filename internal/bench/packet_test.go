package bench

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"golang.org/x/net/icmp"

	"palisade.dev/palisade/internal/model"
)

func TestProbePacketsParseBackAndCarryValidChecksums(t *testing.T) {
	a4, b4 := netip.MustParseAddr("10.77.1.9"), netip.MustParseAddr("203.0.113.7")
	a6, b6 := netip.MustParseAddr("fd77:77:0:1::9"), netip.MustParseAddr("2001:db8:77::7")
	const nonce = 0x5eed1234
	probes := []probe{
		{header: header{proto: model.ProtoTCP, sport: 20001, dport: 22}},
		{header: header{proto: model.ProtoUDP, sport: 20002, dport: 53}},
		{header: header{proto: model.ProtoICMP, typ: 8}, id: 7},
		{header: header{proto: model.ProtoICMP, typ: 3, code: 4}, id: 8},
		{header: header{proto: model.ProtoICMPv6, typ: 128}, id: 9},
		{header: header{proto: model.ProtoICMPv6, typ: 1, code: 3}, id: 10},
		{header: header{proto: 50}},
	}
	for i, p := range probes {
		for _, v6 := range []bool{false, true} {
			if v6 && p.proto == model.ProtoICMP || !v6 && p.proto == model.ProtoICMPv6 {
				continue
			}
			p.tag = uint32(0xabc000 + i)
			p.src, p.dst = a4, b4
			if v6 {
				p.src, p.dst = a6, b6
			}
			pkt := p.packet(nonce)
			s, ok := parseSighting(pkt, nonce)
			if !ok || s.tag != p.tag || !s.matches(&p) {
				t.Errorf("%v v6=%v: parsed %+v, %v; want tag %x", p.proto, v6, s, ok, p.tag)
			}
			if _, ok := parseSighting(pkt, nonce+1); ok && p.proto != model.ProtoTCP {
				t.Errorf("%v v6=%v: parsed with another run's nonce", p.proto, v6)
			}
			checkSums(t, &p, pkt)
		}
	}
}

// checkSums verifies the IPv4 header checksum and the transport checksum
// the way a receiver does: the sum over the covered bytes is 0xffff.
func checkSums(t *testing.T, p *probe, pkt []byte) {
	t.Helper()
	var l4 []byte
	if p.src.Is6() {
		l4 = pkt[ipv6HeaderLen:]
	} else {
		if checksum(pkt[:ipv4HeaderLen], 0) != 0 {
			t.Errorf("%v: bad IPv4 header checksum", p.proto)
		}
		if binary.BigEndian.Uint16(pkt[2:]) != uint16(len(pkt)) {
			t.Errorf("%v: IPv4 total length %d, packet %d", p.proto, binary.BigEndian.Uint16(pkt[2:]), len(pkt))
		}
		l4 = pkt[ipv4HeaderLen:]
	}
	var sum uint32
	switch {
	case p.proto == model.ProtoICMP:
		if _, err := icmp.ParseMessage(1, l4); err != nil {
			t.Errorf("icmp: %v", err)
		}
	case p.proto.HasPorts() || p.proto == model.ProtoICMPv6:
		sum = pseudoHeaderSum(p.src, p.dst, uint8(p.proto), len(l4))
	default:
		return // no transport checksum
	}
	if c := checksum(l4, sum); c != 0 {
		t.Errorf("%v %v: transport checksum does not verify (%#x)", p.proto, p.src, c)
	}
}
