package policy

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"palisade.dev/palisade/internal/model"
)

// addrRange is a run of addresses [lo, hi] of one family that the same set
// of rules allows.
type addrRange struct {
	lo, hi netip.Addr
	rules  []model.RuleID // shared between ranges with the same rule set
}

// addrIndex is a sorted list of disjoint address ranges, IPv4 before IPv6.
type addrIndex []addrRange

// lookup returns the rules that allow address a, or nil.
func (x addrIndex) lookup(a netip.Addr) []model.RuleID {
	lo, hi := 0, len(x)
	for lo < hi { // first range whose hi >= a
		m := int(uint(lo+hi) >> 1)
		if x[m].hi.Less(a) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(x) && x[lo].lo.Compare(a) <= 0 {
		return x[lo].rules
	}
	return nil
}

// covered is one prefix that one rule allows, as an input of buildAddrIndex.
type covered struct {
	prefix netip.Prefix
	rule   model.RuleID
}

type edge struct {
	at    netip.Addr
	start bool
	rule  model.RuleID
}

// buildAddrIndex turns overlapping prefixes into disjoint ranges with the
// set of rules that allow each one, by a sweep over the prefix boundaries of
// each family.
func buildAddrIndex(in []covered) addrIndex {
	var v4, v6 []edge
	for _, c := range in {
		lo, hi := c.prefix.Masked().Addr(), lastAddr(c.prefix)
		es := &v4
		if lo.Is6() {
			es = &v6
		}
		*es = append(*es, edge{lo, true, c.rule})
		if next := hi.Next(); next.IsValid() {
			*es = append(*es, edge{next, false, c.rule})
		}
	}
	intern := map[string][]model.RuleID{}
	out := sweep(v4, netip.IPv4Unspecified(), intern, nil)
	return sweep(v6, netip.IPv6Unspecified(), intern, out)
}

func sweep(es []edge, zero netip.Addr, intern map[string][]model.RuleID, out addrIndex) addrIndex {
	slices.SortFunc(es, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return cmp.Compare(b.rule, a.rule) // any stable order: starts and ends net out below
	})
	active := map[model.RuleID]int{}
	for i := 0; i < len(es); {
		at := es[i].at
		for ; i < len(es) && es[i].at == at; i++ {
			if es[i].start {
				active[es[i].rule]++
			} else if active[es[i].rule]--; active[es[i].rule] == 0 {
				delete(active, es[i].rule)
			}
		}
		if len(active) == 0 {
			continue
		}
		hi := maxAddr(zero)
		if i < len(es) {
			hi = es[i].at.Prev()
		}
		rules := internRules(active, intern)
		if n := len(out); n > 0 && sameRules(out[n-1].rules, rules) && out[n-1].hi.Next() == at {
			out[n-1].hi = hi
			continue
		}
		out = append(out, addrRange{at, hi, rules})
	}
	return out
}

func internRules(active map[model.RuleID]int, intern map[string][]model.RuleID) []model.RuleID {
	ids := make([]model.RuleID, 0, len(active))
	for id := range active {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(string(id))
		b.WriteByte(',')
	}
	if prev, ok := intern[b.String()]; ok {
		return prev
	}
	intern[b.String()] = ids
	return ids
}

func sameRules(a, b []model.RuleID) bool { return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0]) }

// lastAddr is the highest address in p.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().AsSlice()
	bits := p.Bits()
	for i := range a {
		for b := 0; b < 8; b++ {
			if i*8+b >= bits {
				a[i] |= 0x80 >> b
			}
		}
	}
	out, _ := netip.AddrFromSlice(a)
	return out
}

func maxAddr(zero netip.Addr) netip.Addr {
	return lastAddr(netip.PrefixFrom(zero, 0))
}

// class is the rules of one protocol index that share one port span. Rules
// with prefixes (CIDRs, prefix lists) are merged into one address index;
// rules that reference a group are one set lookup each, in a member set
// shared by every interface, so that compiling a host does not copy a large
// group once per interface.
type class struct {
	span  model.PortRange
	addrs addrIndex
	refs  []groupRef
}

// groupRef is the rules of a class that reference one group: the k-th of
// its side's refs, whose members are the policy's k-th member set.
type groupRef struct {
	k     int
	rules []model.RuleID
}

// memberSet is one version of a group's member list: the sorted addresses
// (Policy.Members) and, built on the first lookup, a hash set of them.
// Every policy of a Compiled that references the group shares it; a
// membership change makes a new one.
type memberSet struct {
	addrs []netip.Addr
	once  sync.Once
	set   map[netip.Addr]struct{}
}

// has reports whether a is a member's address; a nil set has none.
func (m *memberSet) has(a netip.Addr) bool {
	if m == nil {
		return false
	}
	m.once.Do(func() {
		m.set = make(map[netip.Addr]struct{}, len(m.addrs))
		for _, x := range m.addrs {
			m.set[x] = struct{}{}
		}
	})
	_, ok := m.set[a]
	return ok
}

func (c *class) lookup(a netip.Addr, ms []*memberSet) []model.RuleID {
	if rules := c.addrs.lookup(a); rules != nil {
		return rules
	}
	for i := range c.refs {
		if ms[c.refs[i].k].has(a) {
			return c.refs[i].rules
		}
	}
	return nil
}

// portIndex finds, for a port (or ICMP type/code key), the classes whose
// span covers it: the port axis is cut into elementary intervals at every
// span boundary, and each interval lists its covering classes.
type portIndex struct {
	starts  []uint16  // elementary interval i covers [starts[i], starts[i+1]-1]
	covers  [][]int32 // per interval: indices into classes
	classes []class
}

// lookup returns the rules of the first class covering port that allow
// addr, and whether more than one class covers the port.
func (x *portIndex) lookup(port uint16, addr netip.Addr, ms []*memberSet) []model.RuleID {
	lo, hi := 0, len(x.starts)
	for lo < hi { // last interval whose start <= port
		m := int(uint(lo+hi) >> 1)
		if x.starts[m] <= port {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return nil
	}
	for _, ci := range x.covers[lo-1] {
		if rules := x.classes[ci].lookup(addr, ms); rules != nil {
			return rules
		}
	}
	return nil
}

// buildPortIndex indexes entries (all of one protocol bucket).
func buildPortIndex(entries []*Entry, refs []model.GroupID) *portIndex {
	type pending struct {
		prefixes []covered
		refs     map[model.GroupID][]model.RuleID
		order    []model.GroupID
	}
	bySpan := map[model.PortRange]*pending{}
	var spans []model.PortRange
	for _, e := range entries {
		p := bySpan[e.Span]
		if p == nil {
			p = &pending{refs: map[model.GroupID][]model.RuleID{}}
			bySpan[e.Span] = p
			spans = append(spans, e.Span)
		}
		for _, pfx := range e.Prefixes {
			p.prefixes = append(p.prefixes, covered{pfx, e.Rule.ID})
		}
		if g := e.Rule.Peer.Group; e.Rule.Peer.Kind == model.PeerGroup {
			if _, ok := p.refs[g]; !ok {
				p.order = append(p.order, g)
			}
			p.refs[g] = append(p.refs[g], e.Rule.ID)
		}
	}
	// Wider spans first: an all-ports rule is the likeliest match.
	slices.SortFunc(spans, func(a, b model.PortRange) int {
		return cmp.Or(cmp.Compare(int(b.To)-int(b.From), int(a.To)-int(a.From)), cmp.Compare(a.From, b.From))
	})
	x := &portIndex{}
	cuts := map[uint16]bool{}
	for _, s := range spans {
		p := bySpan[s]
		c := class{span: s, addrs: buildAddrIndex(p.prefixes)}
		for _, g := range p.order {
			c.refs = append(c.refs, groupRef{slices.Index(refs, g), p.refs[g]})
		}
		x.classes = append(x.classes, c)
		cuts[s.From] = true
		if s.To < 65535 {
			cuts[s.To+1] = true
		}
	}
	for c := range cuts {
		x.starts = append(x.starts, c)
	}
	slices.Sort(x.starts)
	x.covers = make([][]int32, len(x.starts))
	for i, start := range x.starts {
		for ci, c := range x.classes {
			if c.span.Contains(start) {
				x.covers[i] = append(x.covers[i], int32(ci))
			}
		}
	}
	return x
}
