package dataplane

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables/expr"

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
	baseChain    = "fwd_filter"  // the only base chain: hook forward
	ingressChain = "fwd_ingress" // the receiver's side of a new flow
	hostsSet     = "hosts"
	outMap       = "out_ports"
	inMap        = "in_ports"
)

// basePriority is the base chain's priority: filter.
var basePriority int32 = 0

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
	var objs []*ctObj
	tcp, udp := ctObjects(p.Policy.Conntrack)
	for _, o := range []*ctObj{tcp, udp} {
		if o != nil {
			b.objs[o.name] = o
			objs = append(objs, o)
		}
	}
	for i, d := range directions {
		c := &chain{name: portChainName(p.ENI, d), rules: timeoutRules(d, objs)}
		for _, g := range unique(p.Policy.Side(d).Groups) {
			c.rules = append(c.rules, new(rb).jump(groupChainName(g, d)))
		}
		c.rules = append(c.rules, new(rb).drop())
		b.portChains = append(b.portChains, c)
		b.maps[i] = append(b.maps[i], mapElem(p.IfName, &expr.Verdict{Kind: expr.VerdictGoto, Chain: c.name}))
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

// timeoutRules assign an interface's ct timeout objects (those that differ
// from AWS's defaults) to its new flows of their protocol. A flow between
// two instances takes the receiver's timeouts, one between an instance and
// a lab host the instance's. The receiver's chain runs after the sender's,
// so its assignment would win, but a receiver with default timeouts has no
// rule that could undo the sender's: the sender's chain therefore assigns
// its timeouts only to flows towards lab hosts.
func timeoutRules(d model.Direction, objs []*ctObj) []rule {
	var out []rule
	for _, o := range objs {
		b := new(rb).eq(ldL4proto, []byte{o.proto}, protoName(o.proto))
		if d == model.Egress {
			b.lookup([]load{ldOif}, hostsSet, false)
		}
		out = append(out, b.ctTimeout(o.name).done())
	}
	return out
}

// mapElem is the element of a verdict map that decides v for the
// interface ifName.
func mapElem(ifName string, v *expr.Verdict) element {
	k := ifnameVal(ifName)
	text := k.text + " : accept"
	if v.Kind == expr.VerdictGoto {
		text = k.text + " : goto " + v.Chain
	}
	return element{key: k.b, verdict: v, text: text}
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
		// A lab host has no egress rules: its new flows go straight to the
		// receiver's side; and none towards it: what may leave reaches it.
		b.maps[1] = append(b.maps[1], mapElem(h, &expr.Verdict{Kind: expr.VerdictGoto, Chain: ingressChain}))
		b.maps[0] = append(b.maps[0], mapElem(h, &expr.Verdict{Kind: expr.VerdictAccept}))
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
	rs.chains = append(rs.chains, forwardBase(), ingressSide())
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
		return bytes.Equal(a.key, b.key) && bytes.Equal(a.end, b.end) && verdictID(a.verdict) == verdictID(b.verdict)
	})
}

// forwardBase is the table's only base chain; every forwarded packet passes
// it once. Every interface but a lab host's may send only from its own
// addresses (checked before the conntrack shortcut, so a spoofed packet
// cannot ride on another interface's flow; an unknown interface has no
// addresses and is dropped; the hosts lookup runs only when the address
// lookup failed); then established and related traffic passes, and a new
// flow goes to the sending port's chain, or, from a lab host (which no
// security group governs), straight to the receiver's side. Policy drop:
// an interface that is no port gets nothing.
//
// One base chain instead of one per side: nf_tables runs a base chain per
// hook and packet, and an accept ends only the current one, so a second
// chain would cost every packet a second pass and conntrack check. The
// sender's side therefore does not accept: its groups' rules continue in
// the receiver's side (goto fwd_ingress), which decides.
func forwardBase() *chain {
	return &chain{name: baseChain, base: &basePriority, rules: []rule{
		antiSpoof(false),
		antiSpoof(true),
		new(rb).ctState(ctEstablished|ctRelated, "established,related").accept(),
		dropInvalid(),
		new(rb).vmap(ldIif, outMap).done(),
	}}
}

// antiSpoof drops a packet of one family whose interface and source address
// are not one of a port's, unless it comes from a lab host.
func antiSpoof(v6 bool) rule {
	return new(rb).nfproto(v6).
		lookup([]load{ldIif, ldAddr(v6, true)}, ownSetName(v6), true).
		lookup([]load{ldIif}, hostsSet, true).drop()
}

// dropInvalid drops what conntrack finds invalid (a TCP segment outside
// the window, a bad checksum), except ICMP and ICMPv6: an ICMP error that
// belongs to no tracked flow is "invalid" too, and it goes on to the rules,
// which decide it as policy does (a rule allowing ICMP 3/4 for path MTU
// discovery lets it in). Errors of tracked flows are "related" and pass
// before. The state is tested first: it is one expression, and it fails for
// nearly every packet that gets here.
func dropInvalid() rule {
	return new(rb).ctState(ctInvalid, "invalid").
		neq(ldL4proto, []byte{uint8(model.ProtoICMP)}, protoName(uint8(model.ProtoICMP))).
		neq(ldL4proto, []byte{uint8(model.ProtoICMPv6)}, protoName(uint8(model.ProtoICMPv6))).drop()
}

// ingressSide is the receiver's side of a new flow that the sender's side
// let go: the receiving port's chain decides, a lab host accepts. It is
// reached by goto and must end with a verdict of its own: a chain reached
// by goto that ends returns to the caller of the last jump, which is the
// sender's port chain, whose next group would then be tried. An interface
// that is neither a port nor a host gets nothing.
func ingressSide() *chain {
	return &chain{name: ingressChain, rules: []rule{
		new(rb).vmap(ldOif, inMap).done(),
		new(rb).drop(),
	}}
}
