package dataplane

import (
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"strconv"
	"weak"

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

// refSetName names the set of the ports that group g's rules of direction d
// open to the members of its k-th referenced group (in ID order): kind
// "rp" (l4proto . port, one element per port) or "rr" (the same, ranges).
func refSetName(g model.GroupID, d model.Direction, kind string, k int) string {
	return string(g) + "_" + dirName(d) + "_" + kind + strconv.Itoa(k)
}

// allow ends a rule of a group chain that lets the packet through its
// direction: on the receiver's side (ingress) that is the verdict; on the
// sender's side the receiver's side decides next (see forwardBase).
func allow(b *ruleBuilder, d model.Direction) rule {
	if d == model.Egress {
		return b.goTo(ingressChain)
	}
	return b.accept()
}

// groupOut is one direction of one group, rendered: its chain and CIDR
// sets, and the groups its rules reference.
type groupOut struct {
	key   groupKey
	fp    string // what the rendering was made from, to detect disagreeing ports
	chain *chain
	sets  []*set
	refs  []model.GroupID
	// weight is the bit length of the number of elements of its interval
	// sets: the order of magnitude of what their (pipapo) lookups cost a
	// new flow. Hash lookups (member sets, single ports) cost little at
	// any size and do not count. Port chains jump to light groups first.
	weight int
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
		b = strconv.AppendInt(append(b, ' '), int64(ruleExpiry(r)), 10)
		b = append(b, ';')
	}
	return string(b)
}

// renderGroup renders the entries of group g in direction d (the entries
// of one policy.Side whose Group is g, in order; fp their fingerprint).
func renderGroup(g model.GroupID, d model.Direction, fp string, entries []*policy.Entry) (*groupOut, error) {
	out := &groupOut{key: groupKey{g, d}, fp: fp, chain: &chain{name: groupChainName(g, d)}}
	var cidr []*policy.Entry
	refs := map[model.GroupID][]*policy.Entry{}
	for _, e := range entries {
		if ref := e.Rule.Peer.Group; e.Rule.Peer.Kind == model.PeerGroup {
			if !validID(string(ref)) {
				return nil, fmt.Errorf("rule %s: bad group id %q: %w", e.Rule.ID, ref, ErrInvalid)
			}
			if refs[ref] == nil {
				out.refs = append(out.refs, ref)
			}
			refs[ref] = append(refs[ref], e)
			continue
		}
		cidr = append(cidr, e)
	}
	for _, v6 := range []bool{false, true} {
		if err := out.cidrs(g, d, v6, cidr); err != nil {
			return nil, err
		}
	}
	slices.Sort(out.refs)
	for k, ref := range out.refs {
		if err := out.refRules(g, d, k, ref, refs[ref]); err != nil {
			return nil, err
		}
	}
	intervalElems := 0
	for _, s := range out.sets {
		sortElems(s)
		s.timeout = slices.ContainsFunc(s.elems, func(e element) bool { return e.exp != 0 })
		if s.interval {
			intervalElems += len(s.elems)
		}
	}
	out.weight = bits.Len(uint(intervalElems))
	return out, nil
}

// cidrs renders the CIDR and prefix-list entries of one family: rules that
// cover every port of their protocol(s) go to the peer . l4proto set, the
// others (tcp/udp port ranges, ICMP types) to the peer . l4proto . port set,
// with one lookup rule per protocol, since the port is read differently for
// ICMP. When the first set would hold every address and protocol of the
// family (AWS's default egress rule), the rule needs no set: the family
// alone matches, and the new flows of most instances save a lookup.
func (o *groupOut) cidrs(g model.GroupID, d model.Direction, v6 bool, entries []*policy.Entry) error {
	var whole []box
	byProto := map[model.Proto][]box{}
	for _, e := range entries {
		n, one := e.Rule.Protocol.Number()
		for _, p := range e.Prefixes {
			if p.Addr().Is6() != v6 {
				continue
			}
			exp := ruleExpiry(e.Rule)
			switch {
			case e.Span.IsAll() && one:
				whole = append(whole, box{p, uint32(n), uint32(n), exp})
			case e.Span.IsAll():
				whole = append(whole, box{p, 0, 255, exp})
			case keyLoad(n) == nil:
				return fmt.Errorf("rule %s: protocol %d has no ports: %w", e.Rule.ID, n, ErrInvalid)
			default:
				byProto[n] = append(byProto[n], box{p, uint32(e.Span.From), uint32(e.Span.To), exp})
			}
		}
	}
	peer := ldAddr(v6, d == model.Ingress)
	cs := cells(whole)
	if coversAll(cs, v6) {
		o.chain.rules = append(o.chain.rules, allow(new(ruleBuilder).nfproto(v6), d))
	} else if len(whole) > 0 {
		s := &set{name: groupSetName(g, d, "p", v6), fields: []keyType{peer.typ, tProto}, interval: true}
		for _, c := range cs {
			s.elems = append(s.elems, cellElems(c, nil)...)
		}
		o.sets = append(o.sets, s)
		o.chain.rules = append(o.chain.rules, allow(new(ruleBuilder).nfproto(v6).lookup([]load{peer, ldL4proto}, s.name, false), d))
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
		r := allow(new(ruleBuilder).nfproto(v6).eq(ldL4proto, []byte{uint8(n)}, protoName(uint8(n))).
			lookup([]load{peer, ldL4proto, *keyLoad(n)}, s.name, false), d)
		o.chain.rules = append(o.chain.rules, r)
	}
	o.sets = append(o.sets, s)
	return nil
}

// coversAll reports whether cells (of the peer . l4proto set of one family)
// cover every address and protocol.
func coversAll(cs []cell, v6 bool) bool {
	all := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	if v6 {
		all = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	}
	return len(cs) == 1 && cs[0].lo == 0 && cs[0].hi == 255 &&
		slices.Equal(cs[0].addrs, []addrRange{{lo: all.Addr(), hi: lastAddr(all)}}) // and no expiry
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
		e := rangeElem(los, his, texts)
		e.exp = a.exp
		out = append(out, e)
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

// refRules renders the entries that reference group ref (the k-th
// referenced group of the chain, in ID order) for both families. They are
// not one rule each: the ports of all of them go into one set (see
// refSet), so that a flow makes one set lookup per referenced group and
// protocol, however many rules reference the group, and a change of their
// ports is a change of set elements.
func (o *groupOut) refRules(g model.GroupID, d model.Direction, k int, ref model.GroupID, entries []*policy.Entry) error {
	rp, err := refPortsOf(entries)
	if err != nil {
		return err
	}
	var s *set
	if len(rp.ported) > 0 {
		s = refSet(g, d, k, rp.ported, rp.spans)
		o.sets = append(o.sets, s)
	}
	for _, v6 := range []bool{false, true} {
		peer := []load{ldAddr(v6, d == model.Ingress)}
		members := memberSetName(ref, v6)
		if rp.all {
			o.chain.rules = append(o.chain.rules, allow(new(ruleBuilder).nfproto(v6).lookup(peer, members, false), d))
			continue
		}
		for _, n := range rp.whole {
			r := new(ruleBuilder).nfproto(v6).eq(ldL4proto, []byte{uint8(n)}, protoName(uint8(n))).lookup(peer, members, false)
			o.chain.rules = append(o.chain.rules, allow(r, d))
		}
		for _, n := range rp.ported {
			r := new(ruleBuilder).nfproto(v6).eq(ldL4proto, []byte{uint8(n)}, protoName(uint8(n))).
				lookup([]load{ldL4proto, *keyLoad(n)}, s.name, false).lookup(peer, members, false)
			o.chain.rules = append(o.chain.rules, allow(r, d))
		}
	}
	return nil
}

// refPorts is what the rules that reference one group open: all traffic,
// or every port of the protocols whole, and the spans of the protocols
// ported (sorted; a protocol that is whole is not ported as well).
type refPorts struct {
	all           bool
	whole, ported []model.Proto
	spans         map[model.Proto][]span
}

func refPortsOf(entries []*policy.Entry) (refPorts, error) {
	rp := refPorts{spans: map[model.Proto][]span{}}
	whole := map[model.Proto]bool{}
	for _, e := range entries {
		n, one := e.Rule.Protocol.Number()
		exp := ruleExpiry(e.Rule)
		switch {
		case !one:
			rp.all = true // an expiry, if any, is the store's only (expiring.go)
		case e.Span.IsAll() && (exp == 0 || keyLoad(n) == nil):
			whole[n] = true
		case keyLoad(n) == nil:
			return rp, fmt.Errorf("rule %s: protocol %d has no ports: %w", e.Rule.ID, n, ErrInvalid)
		default:
			// An expiring rule on every port is a span, so that its
			// elements can time out.
			rp.spans[n] = append(rp.spans[n], span{e.Span.From, e.Span.To, exp})
		}
	}
	if rp.all {
		return refPorts{all: true}, nil
	}
	for n := range whole {
		rp.whole = append(rp.whole, n)
	}
	for n := range rp.spans {
		if !whole[n] {
			rp.ported = append(rp.ported, n)
		}
	}
	slices.Sort(rp.whole)
	slices.Sort(rp.ported)
	return rp, nil
}

// maxRefPorts is the most ports (or ICMP type<<8|code values) that the
// rules referencing one group may open for refSet to list them one by one.
const maxRefPorts = 256

// refSet is the set of the ports of protos that the rules referencing one
// group open: a hash set of l4proto . port, one element per port, when
// they are at most maxRefPorts, as group references mostly open a few
// ports; else an interval set of l4proto . port ranges. The kernel keeps
// an interval set of two fields as pipapo, whose lookup runs on the vector
// unit (saving and restoring the interrupted task's registers) and reads
// a bitmap per 4 bits of key; a hash lookup reads a few cache lines. In
// bench dataplane, whose new connections pass three such lookups, hash
// sets gave about 1.5% more connections per second.
func refSet(g model.GroupID, d model.Direction, k int, protos []model.Proto, spans map[model.Proto][]span) *set {
	merged := map[model.Proto][]span{}
	count := 0
	for _, n := range protos {
		merged[n] = mergeSpans(spans[n])
		for _, sp := range merged[n] {
			count += int(sp.hi) - int(sp.lo) + 1
		}
	}
	if count > maxRefPorts {
		s := &set{name: refSetName(g, d, "rr", k), fields: []keyType{tProto, tPort}, interval: true}
		for _, n := range protos {
			p := uint8(n)
			for _, sp := range merged[n] {
				e := rangeElem(
					[]value{protoVal(p), portVal(sp.lo)}, []value{protoVal(p), portVal(sp.hi)},
					[]string{protoName(p), numRange(sp.lo, sp.hi, itoa16)})
				e.exp = sp.exp
				s.elems = append(s.elems, e)
			}
		}
		return s
	}
	s := &set{name: refSetName(g, d, "rp", k), fields: []keyType{tProto, tPort}}
	for _, n := range protos {
		p := uint8(n)
		for _, sp := range merged[n] {
			for v := uint32(sp.lo); v <= uint32(sp.hi); v++ {
				e := plainElem(true, protoVal(p), portVal(uint16(v)))
				e.exp = sp.exp
				s.elems = append(s.elems, e)
			}
		}
	}
	return s
}

// span is a range of ports (or ICMP type<<8|code) of one protocol, and
// when the rule that opens it expires.
type span struct {
	lo, hi uint16
	exp    expiry
}

// mergeSpans returns the disjoint, sorted, maximal ranges that spans cover
// (the kernel refuses overlapping elements of an interval set), cut where
// their expiry changes when some expire.
func mergeSpans(spans []span) []span {
	if slices.ContainsFunc(spans, func(sp span) bool { return sp.exp != 0 }) {
		ps := make([]piece[uint16], len(spans))
		for i, sp := range spans {
			ps[i] = piece[uint16]{sp.lo, sp.hi, sp.exp}
		}
		var out []span
		for _, p := range cover(ps, portAxis, 0xffff) {
			out = append(out, span{p.lo, p.hi, p.exp})
		}
		return out
	}
	spans = slices.Clone(spans)
	slices.SortFunc(spans, func(a, b span) int { return int(a.lo) - int(b.lo) })
	var out []span
	for _, sp := range spans {
		if n := len(out); n > 0 && uint32(sp.lo) <= uint32(out[n-1].hi)+1 {
			out[n-1].hi = max(out[n-1].hi, sp.hi)
			continue
		}
		out = append(out, sp)
	}
	return out
}

// memberOut is the member sets of one referenced group, rendered from
// addrs (the group's slice of a policy).
type memberOut struct {
	addrs []netip.Addr
	sets  [2]*set // [0] IPv4, [1] IPv6
	// plain: addrs are strictly increasing plain addresses (plainAddr), so
	// the elements of sets[f] are the addresses of family f one for one,
	// in order, as update needs.
	plain bool
	// deltas, where not nil, made sets[f] from the previous build's.
	deltas [2]*setDelta
}

// setDelta is how a set was made from another: diff takes these changes
// instead of comparing the two sets' elements, which for a group of
// 10,000 members would be most of the CPU a membership change costs. The
// pointer is weak so that a set does not keep its predecessor alive (nor
// that one its own).
type setDelta struct {
	from     weak.Pointer[set]
	add, del []element // sorted, as diffElems lists them
}

// renderMembers renders the member sets of g from its addresses.
func renderMembers(g model.GroupID, addrs []netip.Addr) *memberOut {
	m := &memberOut{addrs: addrs, plain: true, sets: [2]*set{
		{name: memberSetName(g, false), fields: []keyType{tIPv4}},
		{name: memberSetName(g, true), fields: []keyType{tIPv6}},
	}}
	for i, a := range addrs {
		if !plainAddr(a) || i > 0 && addrs[i-1].Compare(a) >= 0 {
			m.plain = false
		}
		a = a.Unmap()
		s := m.sets[famIdx(a.Is6())]
		s.elems = append(s.elems, plainElem(false, addrVal(a)))
	}
	for _, s := range m.sets {
		sortElems(s)
	}
	return m
}

// plainAddr reports whether a is an address whose element's key sorts as
// the address does among those of its family: valid, no zone, not an
// IPv4-mapped IPv6 address (whose element is IPv4's).
func plainAddr(a netip.Addr) bool {
	return a.Is4() || a.Is6() && !a.Is4In6() && a.Zone() == ""
}

// update makes the member sets of addrs from o's, when both lists are
// plain: one merge of the two sorted lists copies the elements of the runs
// of addresses they share, renders those of the added ones and notes the
// changes for diff. That is an equality test per member and a copy of the
// elements, where rendering sorts and allocates for every member. A family
// that did not change keeps o's set. ok is false when a list is not plain.
func (o *memberOut) update(addrs []netip.Addr) (m *memberOut, ok bool) {
	if !o.plain {
		return nil, false
	}
	u := membersUpdate{o: o}
	for f, s := range o.sets {
		u.elems[f] = make([]element, 0, len(s.elems)+max(0, len(addrs)-len(o.addrs)))
	}
	i, j := 0, 0
	for {
		i0 := i
		for i < len(o.addrs) && j < len(addrs) && o.addrs[i] == addrs[j] {
			i, j = i+1, j+1
		}
		u.keep(i0, i)
		switch {
		case i == len(o.addrs) && j == len(addrs):
			return u.result(addrs), true
		case j == len(addrs) || i < len(o.addrs) && o.addrs[i].Less(addrs[j]):
			u.del(i)
			i++
		case !plainAddr(addrs[j]) || j > 0 && !addrs[j-1].Less(addrs[j]):
			return nil, false // not plain (a shared address follows a smaller one: see keep)
		default:
			u.add(addrs[j])
			j++
		}
	}
}

// membersUpdate is the state of update: the elements of the new sets
// (by family) and the changes from o's.
type membersUpdate struct {
	o     *memberOut
	elems [2][]element
	ds    [2]setDelta
}

// keep copies the elements of o.addrs[i0:i1], shared by the new list. o is
// plain, so IPv4 addresses come first (netip orders by length) and the
// element of o.addrs[i] is the i-th of its family. A shared address is
// greater than the new list's one before it: that one is shared too (and
// smaller in o), or was added before it (compared smaller).
func (u *membersUpdate) keep(i0, i1 int) {
	n4 := len(u.o.sets[0].elems)
	if i0 < n4 {
		u.elems[0] = append(u.elems[0], u.o.sets[0].elems[i0:min(i1, n4)]...)
	}
	if i1 > n4 {
		u.elems[1] = append(u.elems[1], u.o.sets[1].elems[max(i0, n4)-n4:i1-n4]...)
	}
}

// del notes the deletion of o.addrs[i].
func (u *membersUpdate) del(i int) {
	f, k := 0, i
	if n4 := len(u.o.sets[0].elems); i >= n4 {
		f, k = 1, i-n4
	}
	u.ds[f].del = append(u.ds[f].del, u.o.sets[f].elems[k])
}

// add renders the element of an added address.
func (u *membersUpdate) add(a netip.Addr) {
	f, e := famIdx(a.Is6()), plainElem(false, addrVal(a))
	u.elems[f] = append(u.elems[f], e)
	u.ds[f].add = append(u.ds[f].add, e)
}

// result is the member sets of addrs: o's for a family that did not
// change, else a new set with its delta from o's.
func (u *membersUpdate) result(addrs []netip.Addr) *memberOut {
	m := &memberOut{addrs: addrs, plain: true, sets: u.o.sets}
	for f, s := range u.o.sets {
		if len(u.ds[f].add)+len(u.ds[f].del) == 0 {
			continue
		}
		m.sets[f] = &set{name: s.name, fields: s.fields, elems: u.elems[f]}
		u.ds[f].from = weak.Make(s)
		m.deltas[f] = &u.ds[f]
	}
	return m
}
