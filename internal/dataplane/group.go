package dataplane

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policy"
)

// Names of the objects of the table, derived from IDs only, so that the same
// policy always gives the same table.
func dirName(d model.Direction) string {
	if d == model.Egress {
		return "out"
	}
	return "in"
}

func famName(v6 bool) string {
	if v6 {
		return "6"
	}
	return "4"
}

func groupChainName(g model.GroupID, d model.Direction) string { return string(g) + "_" + dirName(d) }
func portChainName(e model.ENIID, d model.Direction) string    { return string(e) + "_" + dirName(d) }
func memberSetName(g model.GroupID, v6 bool) string            { return string(g) + "_m" + famName(v6) }

// groupSetName names a group's CIDR sets: kind "p" (peer . l4proto) or "t"
// (peer . l4proto . port).
func groupSetName(g model.GroupID, d model.Direction, kind string, v6 bool) string {
	return string(g) + "_" + dirName(d) + "_" + kind + famName(v6)
}

// groupOut is one direction of one group, rendered: its chain and CIDR
// sets, and the groups its rules reference.
type groupOut struct {
	fp    string // what the rendering was made from, to detect disagreeing ports
	chain *chain
	sets  []*set
	refs  []model.GroupID
}

// fingerprint identifies a group's entries of one side: everything its
// rendering depends on (rule IDs, keys, resolved prefixes), in order.
func fingerprint(entries []*policy.Entry) string {
	b := make([]byte, 0, 96*len(entries))
	for _, e := range entries {
		r := e.Rule
		b = append(b, r.ID...)
		b = append(b, ' ', byte(r.Direction), byte(r.Peer.Kind))
		b = append(b, r.Protocol.String()...)
		for _, v := range []int{int(r.Ports.From), int(r.Ports.To), int(r.ICMP.Type), int(r.ICMP.Code), int(e.Span.From), int(e.Span.To)} {
			b = strconv.AppendInt(append(b, ' '), int64(v), 10)
		}
		b = append(append(b, ' '), r.Peer.Group...)
		b = append(append(b, ' '), r.Peer.PrefixList...)
		for _, p := range e.Prefixes {
			b = p.AppendTo(append(b, ' '))
		}
		b = append(b, ';')
	}
	return string(b)
}

// renderGroup renders the entries of group g in direction d (the entries
// of one policy.Side whose Group is g, in order; fp their fingerprint).
func renderGroup(g model.GroupID, d model.Direction, fp string, entries []*policy.Entry) (*groupOut, error) {
	out := &groupOut{fp: fp, chain: &chain{name: groupChainName(g, d)}}
	var cidr, refs []*policy.Entry
	for _, e := range entries {
		if e.Rule.Peer.Kind == model.PeerGroup {
			if !validID(string(e.Rule.Peer.Group)) {
				return nil, fmt.Errorf("rule %s: bad group id %q: %w", e.Rule.ID, e.Rule.Peer.Group, ErrInvalid)
			}
			refs = append(refs, e)
			continue
		}
		cidr = append(cidr, e)
	}
	for _, v6 := range []bool{false, true} {
		if err := out.cidrs(g, d, v6, cidr); err != nil {
			return nil, err
		}
	}
	for _, e := range refs {
		for _, v6 := range []bool{false, true} {
			if err := out.ref(d, v6, e); err != nil {
				return nil, err
			}
		}
		if !slices.Contains(out.refs, e.Rule.Peer.Group) {
			out.refs = append(out.refs, e.Rule.Peer.Group)
		}
	}
	for _, s := range out.sets {
		sortElems(s)
	}
	return out, nil
}

// cidrs renders the CIDR and prefix-list entries of one family: rules that
// cover every port of their protocol(s) go to the peer . l4proto set, the
// others (tcp/udp port ranges, ICMP types) to the peer . l4proto . port set,
// with one lookup rule per protocol, since the port is read differently for
// ICMP.
func (o *groupOut) cidrs(g model.GroupID, d model.Direction, v6 bool, entries []*policy.Entry) error {
	var whole []box
	byProto := map[model.Proto][]box{}
	for _, e := range entries {
		n, one := e.Rule.Protocol.Number()
		for _, p := range e.Prefixes {
			if p.Addr().Is6() != v6 {
				continue
			}
			switch {
			case e.Span.IsAll() && one:
				whole = append(whole, box{p, uint32(n), uint32(n)})
			case e.Span.IsAll():
				whole = append(whole, box{p, 0, 255})
			case keyLoad(n) == nil:
				return fmt.Errorf("rule %s: protocol %d has no ports: %w", e.Rule.ID, n, ErrInvalid)
			default:
				byProto[n] = append(byProto[n], box{p, uint32(e.Span.From), uint32(e.Span.To)})
			}
		}
	}
	peer := ldAddr(v6, d == model.Ingress)
	if len(whole) > 0 {
		s := &set{name: groupSetName(g, d, "p", v6), fields: []keyType{peer.typ, tProto}, interval: true}
		for _, c := range cells(whole) {
			s.elems = append(s.elems, cellElems(c, nil)...)
		}
		o.sets = append(o.sets, s)
		o.chain.rules = append(o.chain.rules, new(rb).nfproto(v6).lookup([]load{peer, ldL4proto}, s.name, false).accept())
	}
	if len(byProto) == 0 {
		return nil
	}
	s := &set{name: groupSetName(g, d, "t", v6), fields: []keyType{peer.typ, tProto, tPort}, interval: true}
	protos := make([]model.Proto, 0, len(byProto))
	for n := range byProto {
		protos = append(protos, n)
	}
	slices.Sort(protos)
	for _, n := range protos {
		for _, c := range cells(byProto[n]) {
			p := uint8(n)
			s.elems = append(s.elems, cellElems(c, &p)...)
		}
		r := new(rb).nfproto(v6).eq(ldL4proto, []byte{uint8(n)}, protoName(uint8(n))).
			lookup([]load{peer, ldL4proto, *keyLoad(n)}, s.name, false).accept()
		o.chain.rules = append(o.chain.rules, r)
	}
	o.sets = append(o.sets, s)
	return nil
}

// cellElems turns a cell into set elements: with proto nil the cell's span
// is a protocol range (peer . l4proto), else a port range of *proto.
func cellElems(c cell, proto *uint8) []element {
	var out []element
	for _, a := range c.addrs {
		los, his := []value{addrVal(a.lo)}, []value{addrVal(a.hi)}
		texts := []string{a.text()}
		if proto == nil {
			p0, p1 := uint8(c.lo), uint8(c.hi)
			los, his = append(los, protoVal(p0)), append(his, protoVal(p1))
			texts = append(texts, numRange(p0, p1, protoName))
		} else {
			q0, q1 := uint16(c.lo), uint16(c.hi)
			los, his = append(los, protoVal(*proto), portVal(q0)), append(his, protoVal(*proto), portVal(q1))
			texts = append(texts, protoName(*proto), numRange(q0, q1, itoa16))
		}
		out = append(out, rangeElem(los, his, texts))
	}
	return out
}

func itoa16(v uint16) string { return strconv.Itoa(int(v)) }

// keyLoad is how the port axis of protocol n is read: the destination port
// for tcp and udp, type and code for icmp and icmpv6; nil for protocols
// whose rules always cover every port.
func keyLoad(n model.Proto) *load {
	switch {
	case n.HasPorts():
		return &ldDport
	case n.IsICMP():
		return &ldICMP
	}
	return nil
}

// ref renders one group-reference rule for one family: its protocol and
// port match, then a lookup of the peer in the referenced group's member
// set.
func (o *groupOut) ref(d model.Direction, v6 bool, e *policy.Entry) error {
	b := new(rb).nfproto(v6)
	if n, ok := e.Rule.Protocol.Number(); ok {
		b.eq(ldL4proto, []byte{uint8(n)}, protoName(uint8(n)))
		if !e.Span.IsAll() {
			l := keyLoad(n)
			if l == nil {
				return fmt.Errorf("rule %s: protocol %d has no ports: %w", e.Rule.ID, n, ErrInvalid)
			}
			lo, hi := be16(e.Span.From), be16(e.Span.To)
			if e.Span.From == e.Span.To {
				b.eq(*l, lo, itoa16(e.Span.From))
			} else {
				b.between(*l, lo, hi, e.Span.String())
			}
		}
	}
	peer := ldAddr(v6, d == model.Ingress)
	r := b.lookup([]load{peer}, memberSetName(e.Rule.Peer.Group, v6), false).accept()
	o.chain.rules = append(o.chain.rules, r)
	return nil
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
