package dataplane

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policy"
)

// chain is one chain of the table.
type chain struct {
	name  string
	base  *int32 // a base chain's priority (hook forward, type filter, policy drop); nil: a regular chain
	rules []rule
}

// ruleset is the whole table: what Render prints and Apply makes the
// kernel hold.
type ruleset struct {
	objs   []*ctObj
	sets   []*set
	chains []*chain
}

// Names of the table's fixed objects. "ingress" and "egress" alone are nft
// keywords, hence the fwd_ prefix.
const (
	egressChain  = "fwd_egress"
	ingressChain = "fwd_ingress"
	hostsSet     = "hosts"
	outMap       = "out_ports"
	inMap        = "in_ports"
)

// The base chains' priorities: egress (the sender's rules) before ingress
// (the receiver's), both around the filter priority 0.
var (
	egressPriority  int32 = -10
	ingressPriority int32 = 10
)

func ownSetName(v6 bool) string { return "own" + famName(v6) }

var directions = []model.Direction{model.Ingress, model.Egress}

type groupKey struct {
	g model.GroupID
	d model.Direction
}

// groupCache holds rendered groups between Applies: a group whose entries
// did not change is not rendered again (rendering every group is most of
// the CPU an Apply costs). Its groupOuts are never modified.
type groupCache map[groupKey]*groupOut

// builder accumulates the ruleset of a Desired, port by port.
type builder struct {
	prev       groupCache // from the previous build; may be nil
	groups     groupCache
	members    map[model.GroupID][]netip.Addr
	objs       map[string]*ctObj
	portChains []*chain
	own        [2][]element
	maps       [2][]element // [0] in_ports, [1] out_ports
}

// build renders d, reusing the groups of prev that did not change, and
// returns the groups it used (the next build's prev). It is pure: Render
// prints its result, Apply sends it.
func build(d Desired, prev groupCache) (*ruleset, groupCache, error) {
	ports, hosts, err := validate(d)
	if err != nil {
		return nil, nil, err
	}
	b := &builder{
		prev:    prev,
		groups:  groupCache{},
		members: map[model.GroupID][]netip.Addr{},
		objs:    map[string]*ctObj{},
	}
	for _, p := range ports {
		if err := b.port(p); err != nil {
			return nil, nil, err
		}
	}
	return b.assemble(hosts), b.groups, nil
}

func (b *builder) port(p Port) error {
	for _, d := range directions {
		if err := b.side(p.Policy.Side(d)); err != nil {
			return fmt.Errorf("port %s: %w", p.ENI, err)
		}
	}
	for g, addrs := range p.Policy.Members {
		if have, ok := b.members[g]; ok && !sameAddrs(have, addrs) {
			return fmt.Errorf("port %s: members of %s differ from another port's: %w", p.ENI, g, ErrInconsistent)
		}
		b.members[g] = addrs
	}
	tcp, udp := ctObjects(p.Policy.Conntrack)
	b.objs[tcp.name], b.objs[udp.name] = tcp, udp
	for i, d := range directions {
		c := &chain{name: portChainName(p.ENI, d)}
		c.rules = append(c.rules,
			new(rb).eq(ldL4proto, []byte{tcp.proto}, "tcp").ctTimeout(tcp.name).done(),
			new(rb).eq(ldL4proto, []byte{udp.proto}, "udp").ctTimeout(udp.name).done())
		for _, g := range unique(p.Policy.Side(d).Groups) {
			c.rules = append(c.rules, new(rb).jump(groupChainName(g, d)))
		}
		c.rules = append(c.rules, new(rb).drop())
		b.portChains = append(b.portChains, c)
		b.maps[i] = append(b.maps[i], mapElem(p.IfName, c.name))
	}
	for _, a := range p.Policy.Addrs {
		a = a.Unmap()
		b.own[famIdx(a.Is6())] = append(b.own[famIdx(a.Is6())], plainElem(true, ifnameVal(p.IfName), addrVal(a)))
	}
	return nil
}

// side renders the groups of one side that no earlier port rendered, and
// checks that those already rendered have the same entries.
func (b *builder) side(s *policy.Side) error {
	byGroup := map[model.GroupID][]*policy.Entry{}
	type seenKey struct {
		g   model.GroupID
		id  model.RuleID
		key model.RuleKey
	}
	seen := map[seenKey]bool{} // a group listed twice on an interface repeats its entries
	for _, e := range s.Entries {
		if k := (seenKey{e.Group, e.Rule.ID, e.Rule.Key()}); !seen[k] {
			seen[k] = true
			byGroup[e.Group] = append(byGroup[e.Group], e)
		}
	}
	for _, g := range unique(s.Groups) {
		k, fp := groupKey{g, s.Direction}, fingerprint(byGroup[g])
		if have, ok := b.groups[k]; ok {
			if have.fp != fp {
				return fmt.Errorf("rules of %s (%s) differ from another port's: %w", g, s.Direction, ErrInconsistent)
			}
			continue
		}
		if old := b.prev[k]; old != nil && old.fp == fp {
			b.groups[k] = old
			continue
		}
		out, err := renderGroup(g, s.Direction, fp, byGroup[g])
		if err != nil {
			return err
		}
		b.groups[k] = out
	}
	return nil
}

func sameAddrs(a, b []netip.Addr) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0] || slices.Equal(a, b))
}

func unique[T comparable](xs []T) []T {
	var out []T
	for _, x := range xs {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

func famIdx(v6 bool) int {
	if v6 {
		return 1
	}
	return 0
}

func mapElem(ifName, chain string) element {
	v := ifnameVal(ifName)
	return element{key: v.b, jump: chain, text: v.text + " : jump " + chain}
}

// assemble orders everything: objects, the fixed sets and maps, member
// sets, group sets; base chains, port chains, group chains.
func (b *builder) assemble(hosts []string) *ruleset {
	rs := &ruleset{}
	for _, o := range b.objs {
		rs.objs = append(rs.objs, o)
	}
	slices.SortFunc(rs.objs, func(x, y *ctObj) int { return strings.Compare(x.name, y.name) })

	hs := &set{name: hostsSet, fields: []keyType{tIfname}}
	for _, h := range hosts {
		hs.elems = append(hs.elems, plainElem(false, ifnameVal(h)))
	}
	rs.sets = append(rs.sets, hs,
		&set{name: ownSetName(false), fields: []keyType{tIfname, tIPv4}, elems: b.own[0]},
		&set{name: ownSetName(true), fields: []keyType{tIfname, tIPv6}, elems: b.own[1]},
		&set{name: outMap, fields: []keyType{tIfname}, vmap: true, elems: b.maps[1]},
		&set{name: inMap, fields: []keyType{tIfname}, vmap: true, elems: b.maps[0]})
	rs.sets = append(rs.sets, b.memberSets()...)
	for _, s := range rs.sets {
		sortElems(s)
	}
	var groupSets []*set
	var groupChains []*chain
	for _, out := range b.groups {
		groupSets = append(groupSets, out.sets...)
		groupChains = append(groupChains, out.chain)
	}
	rs.sets = append(rs.sets, sortedByName(groupSets, func(s *set) string { return s.name })...)
	rs.chains = append(rs.chains, egressBase(), ingressBase())
	rs.chains = append(rs.chains, sortedByName(b.portChains, func(c *chain) string { return c.name })...)
	rs.chains = append(rs.chains, sortedByName(groupChains, func(c *chain) string { return c.name })...)
	return rs
}

// memberSets are the hash sets of the members of every referenced group.
func (b *builder) memberSets() []*set {
	var refs []model.GroupID
	for _, out := range b.groups {
		refs = append(refs, out.refs...)
	}
	slices.Sort(refs)
	var out []*set
	for _, g := range slices.Compact(refs) {
		m4 := &set{name: memberSetName(g, false), fields: []keyType{tIPv4}}
		m6 := &set{name: memberSetName(g, true), fields: []keyType{tIPv6}}
		for _, a := range b.members[g] {
			a = a.Unmap()
			s := m4
			if a.Is6() {
				s = m6
			}
			s.elems = append(s.elems, plainElem(false, addrVal(a)))
		}
		out = append(out, m4, m6)
	}
	return out
}

func sortedByName[T any](xs []T, name func(T) string) []T {
	slices.SortFunc(xs, func(a, b T) int { return strings.Compare(name(a), name(b)) })
	return xs
}

// sortElems orders a set's elements by key and drops repeats.
func sortElems(s *set) {
	slices.SortFunc(s.elems, func(a, b element) int {
		if c := bytes.Compare(a.key, b.key); c != 0 {
			return c
		}
		return bytes.Compare(a.end, b.end)
	})
	s.elems = slices.CompactFunc(s.elems, func(a, b element) bool {
		return bytes.Equal(a.key, b.key) && bytes.Equal(a.end, b.end) && a.jump == b.jump
	})
}

// egressBase is the sender's side: lab hosts pass (no security group
// governs them), every other interface may send only from its own
// addresses (checked before the conntrack shortcut, so a spoofed packet
// cannot ride on another interface's flow; an unknown interface has no
// addresses and is dropped), then established and related traffic passes
// and new flows go to the sending port's chain. Policy drop: an interface
// that is no port gets nothing.
func egressBase() *chain {
	return &chain{name: egressChain, base: &egressPriority, rules: []rule{
		new(rb).lookup([]load{ldIif}, hostsSet, false).accept(),
		new(rb).nfproto(false).lookup([]load{ldIif, ldAddr(false, true)}, ownSetName(false), true).drop(),
		new(rb).nfproto(true).lookup([]load{ldIif, ldAddr(true, true)}, ownSetName(true), true).drop(),
		new(rb).ctState(ctEstablished|ctRelated, "established,related").accept(),
		dropInvalid(),
		new(rb).vmap(ldIif, outMap).done(),
	}}
}

// dropInvalid drops what conntrack finds invalid (a TCP segment outside
// the window, a bad checksum), except ICMP and ICMPv6: an ICMP error that
// belongs to no tracked flow is "invalid" too, and it goes on to the rules,
// which decide it as policy does (a rule allowing ICMP 3/4 for path MTU
// discovery lets it in). Errors of tracked flows are "related" and pass
// before.
func dropInvalid() rule {
	return new(rb).
		neq(ldL4proto, []byte{uint8(model.ProtoICMP)}, protoName(uint8(model.ProtoICMP))).
		neq(ldL4proto, []byte{uint8(model.ProtoICMPv6)}, protoName(uint8(model.ProtoICMPv6))).
		ctState(ctInvalid, "invalid").drop()
}

// ingressBase is the receiver's side: established and related traffic
// passes, new flows go to the receiving port's chain, and flows to lab
// hosts pass. Policy drop, as egress.
func ingressBase() *chain {
	return &chain{name: ingressChain, base: &ingressPriority, rules: []rule{
		new(rb).ctState(ctEstablished|ctRelated, "established,related").accept(),
		dropInvalid(),
		new(rb).vmap(ldOif, inMap).done(),
		new(rb).lookup([]load{ldOif}, hostsSet, false).accept(),
	}}
}
