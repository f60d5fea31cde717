package dataplane

import (
	"bytes"
	"cmp"
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
	objs   []*ctTimeoutObj
	sets   []*set
	chains []*chain
	// deltas are how some sets (of members) were made from a set of the
	// previous build: diff takes their changes from here instead of
	// comparing every element of both.
	deltas map[*set]*setDelta
	// clash: the interfaces left out, their index being another's
	// (validate).
	clash []string
}

// Names of the table's fixed objects. "ingress" and "egress" alone are nft
// keywords, hence the fwd_ prefix.
const (
	baseChain    = "fwd_filter"  // the only base chain: hook forward
	ingressChain = "fwd_ingress" // the receiver's side of a new flow
	hostChain    = "fwd_host"    // what a lab host sends
	hostsSet     = "hosts"
	inMap        = "in_ports"
)

// basePriority is the base chain's priority: filter.
var basePriority int32 = 0

func ownSetName(v6 bool) string { return "own" + famName(v6) }

// outMapName is the verdict map of one family from a port's interface and
// one of its own addresses to the port's egress chain.
func outMapName(v6 bool) string { return "out_ports" + famName(v6) }

var directions = []model.Direction{model.Ingress, model.Egress}

type groupKey struct {
	g model.GroupID
	d model.Direction
}

// cache is what one build leaves to the next: every piece it rendered or
// reused, with what it was rendered from. The next build reuses a piece
// whose inputs are the same instead of rendering it again, so that an
// Apply costs what changed rather than what the table holds (rendering
// everything is most of the CPU an Apply costs). Inputs are the same when
// they are the same immutable policy objects (a *policy.Side, a member
// slice), or equal small values (a port's names, groups, addresses and
// timeouts); holding the policy objects as keys keeps their addresses from
// being reused for other objects. Nothing in a cache is ever modified.
type cache struct {
	groups  map[groupKey]*groupOut       // by group and direction
	sides   map[*policy.Side][]*groupOut // the groups of a side, in the order of unique(Groups)
	ports   map[model.ENIID]*portOut
	members map[model.GroupID]*memberOut // referenced groups only
	// The pieces in the order the table lists them; nil in an empty cache.
	portPieces  *portPieces
	groupPieces *groupPieces
}

// newCache returns an empty cache, its maps sized for as many pieces as
// like has (which may be nil): a build mostly uses what the last one did.
func newCache(like *cache) *cache {
	if like == nil {
		like = &cache{}
	}
	return &cache{
		groups:  make(map[groupKey]*groupOut, len(like.groups)),
		sides:   make(map[*policy.Side][]*groupOut, len(like.sides)),
		ports:   make(map[model.ENIID]*portOut, len(like.ports)),
		members: make(map[model.GroupID]*memberOut, len(like.members)),
	}
}

// builder accumulates the ruleset of a Desired, port by port.
type builder struct {
	prev        *cache // from the previous build; empty for none
	next        *cache // what this build uses: the next build's prev
	ports       []Port // sorted by ENI
	observe     bool   // Desired.Observe
	members     map[model.GroupID][]netip.Addr
	reusedPorts int // ports whose portOut is the previous build's
}

// build renders d, reusing the pieces of prev (which may be nil) whose
// inputs did not change, and returns the pieces it used (the next build's
// prev). It is pure: Render prints its result, Apply sends it.
func build(d Desired, prev *cache) (*ruleset, *cache, error) {
	ports, hosts, clash, err := validate(d)
	if err != nil {
		return nil, nil, err
	}
	if prev == nil {
		prev = newCache(nil)
	}
	b := &builder{
		prev:    prev,
		next:    newCache(prev),
		ports:   ports,
		observe: d.Observe,
		members: make(map[model.GroupID][]netip.Addr, len(prev.members)),
	}
	for _, p := range ports {
		if err := b.port(p); err != nil {
			return nil, nil, err
		}
	}
	rs := b.assemble(hosts)
	rs.clash = clash
	return rs, b.next, nil
}

// port adds p: the groups of its sides, the members of the groups its
// rules reference, and its own pieces (reused when their inputs are those
// the previous build rendered them from).
func (b *builder) port(p Port) error {
	var order [2][]model.GroupID
	for i, d := range directions {
		if err := b.side(p.Policy.Side(d)); err != nil {
			return fmt.Errorf("port %s: %w", p.ENI, err)
		}
		order[i] = b.jumpOrder(p.Policy.Side(d))
	}
	for g, addrs := range p.Policy.Members {
		if have, ok := b.members[g]; ok && !sameAddrs(have, addrs) {
			return fmt.Errorf("port %s: members of %s differ from another port's: %w", p.ENI, g, ErrInconsistent)
		}
		b.members[g] = addrs
	}
	out := b.prev.ports[p.ENI]
	if out != nil && out.renders(p, b.observe, order) {
		b.reusedPorts++
	} else {
		out = renderPort(p, b.observe, order)
	}
	b.next.ports[p.ENI] = out
	return nil
}

// jumpOrder returns the groups of side s (added by side) in the order the
// port chain jumps to them: by weight, the lightest first, and in the
// order of s.Groups among equals. Any group that lets a new flow through
// decides it, whatever the order, so the order changes what a flow costs
// and nothing else: a flow that a light group lets through skips the
// lookups of the heavy ones (an interface's big CIDR groups behind the
// one whose group reference allows the flow); one that a heavy group lets
// through pays first for the lookups of the light ones, which are few.
// Weights are orders of magnitude, so that a rule change seldom reorders
// and rewrites port chains.
func (b *builder) jumpOrder(s *policy.Side) []model.GroupID {
	groups := unique(s.Groups)
	slices.SortStableFunc(groups, func(x, y model.GroupID) int {
		return cmp.Compare(b.next.groups[groupKey{x, s.Direction}].weight, b.next.groups[groupKey{y, s.Direction}].weight)
	})
	return groups
}

// portOut is one port, rendered: its chains and verdict map elements (one
// per direction), its elements of the own sets (one per family) and its
// ct timeout objects; and the inputs they were rendered from besides the
// ENI (which keys the cache), small enough to compare by value at every
// build.
type portOut struct {
	ifName    string
	groups    [2][]model.GroupID // each side's groups in the order of its chain's jumps (jumpOrder)
	conntrack model.ConntrackTimeouts
	addrs     []netip.Addr
	observe   bool // rendered with the drop log rules (Desired.Observe)

	chains [2]*chain
	in     element      // in_ports: the interface to the ingress chain
	own    [2][]element // own4, own6: the interface and each own address
	out    [2][]element // out_ports4, out_ports6: the same keys to the egress chain
	objs   []*ctTimeoutObj
}

// renders reports whether o is what p renders to (o being p.ENI's), its
// sides' groups jumped to in order.
func (o *portOut) renders(p Port, observe bool, order [2][]model.GroupID) bool {
	pol := p.Policy
	return o.observe == observe && o.ifName == p.IfName && o.conntrack == pol.Conntrack && slices.Equal(o.addrs, pol.Addrs) &&
		slices.Equal(o.groups[0], order[0]) && slices.Equal(o.groups[1], order[1])
}

// renderPort renders the pieces of p that are its own, its sides' groups
// jumped to in order.
func renderPort(p Port, observe bool, order [2][]model.GroupID) *portOut {
	pol := p.Policy
	o := &portOut{ifName: p.IfName, conntrack: pol.Conntrack, addrs: slices.Clone(pol.Addrs), observe: observe}
	tcp, udp := ctTimeoutObjects(pol.Conntrack)
	for _, c := range []*ctTimeoutObj{tcp, udp} {
		if c != nil {
			o.objs = append(o.objs, c)
		}
	}
	for i, d := range directions {
		o.groups[i] = order[i]
		c := &chain{name: portChainName(p.ENI, d), rules: timeoutRules(d, o.objs)}
		for _, g := range o.groups[i] {
			c.rules = append(c.rules, new(ruleBuilder).jump(groupChainName(g, d)))
		}
		if observe {
			c.rules = append(c.rules, logDrop(d))
		}
		// Counted, for Drops: only refused packets pay for it.
		c.rules = append(c.rules, new(ruleBuilder).counter().drop())
		o.chains[i] = c
	}
	o.in = mapElem(plainElem(false, ifaceVal(p.IfName)), &expr.Verdict{Kind: expr.VerdictGoto, Chain: o.chains[0].name})
	egress := &expr.Verdict{Kind: expr.VerdictGoto, Chain: o.chains[1].name}
	for _, a := range pol.Addrs {
		a = a.Unmap()
		k := plainElem(true, ifaceVal(p.IfName), addrVal(a))
		f := famIdx(a.Is6())
		o.own[f] = append(o.own[f], k)
		o.out[f] = append(o.out[f], mapElem(k, egress))
	}
	return o
}

// side adds the groups of one side. A side met before (in this build, as
// ports with the same groups share one, or in the previous one) brings the
// groups it rendered to; another is rendered.
func (b *builder) side(s *policy.Side) error {
	outs, ok := b.next.sides[s]
	if !ok {
		outs, ok = b.prev.sides[s]
	}
	if !ok {
		var err error
		if outs, err = b.renderSide(s); err != nil {
			return err
		}
	}
	for _, out := range outs {
		if err := b.addGroup(out); err != nil {
			return err
		}
	}
	b.next.sides[s] = outs
	return nil
}

// addGroup adds one direction of a group, unless a port added it before,
// which then must have had the same entries.
func (b *builder) addGroup(out *groupOut) error {
	have, ok := b.next.groups[out.key]
	switch {
	case !ok:
		b.next.groups[out.key] = out
	case have != out && have.fp != out.fp:
		return inconsistentGroup(out.key)
	}
	return nil
}

func inconsistentGroup(k groupKey) error {
	return fmt.Errorf("rules of %s (%s) differ from another port's: %w", k.g, k.d, ErrInconsistent)
}

// renderSide returns the groups of one side, in the order of
// unique(s.Groups): the one an earlier port added when it has the same
// entries, else the previous build's when it has, else rendered anew.
func (b *builder) renderSide(s *policy.Side) ([]*groupOut, error) {
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
	groups := unique(s.Groups)
	outs := make([]*groupOut, 0, len(groups))
	for _, g := range groups {
		k, fp := groupKey{g, s.Direction}, fingerprint(byGroup[g])
		if have := b.next.groups[k]; have != nil {
			if have.fp != fp {
				return nil, inconsistentGroup(k)
			}
			outs = append(outs, have)
			continue
		}
		if old := b.prev.groups[k]; old != nil && old.fp == fp {
			outs = append(outs, old)
			continue
		}
		out, err := renderGroup(g, s.Direction, fp, byGroup[g])
		if err != nil {
			return nil, err
		}
		outs = append(outs, out)
	}
	return outs, nil
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
func timeoutRules(d model.Direction, objs []*ctTimeoutObj) []rule {
	var out []rule
	for _, o := range objs {
		b := new(ruleBuilder).eq(ldL4proto, []byte{o.proto}, protoName(o.proto))
		if d == model.Egress {
			b.lookup([]load{ldOif}, hostsSet, false)
		}
		out = append(out, b.ctTimeout(o.name).done())
	}
	return out
}

// mapElem is the element of a verdict map that decides v for the key of
// k, an element of a plain set.
func mapElem(k element, v *expr.Verdict) element {
	text := k.text + " : accept"
	if v.Kind == expr.VerdictGoto {
		text = k.text + " : goto " + v.Chain
	}
	return element{key: k.key, verdict: v, text: text}
}

// assemble orders everything: objects, the fixed sets and maps, member
// sets, group sets; base chains, port chains, group chains.
func (b *builder) assemble(hosts []string) *ruleset {
	pp, gp := b.portPieces(hosts), b.groupPieces()
	b.next.portPieces, b.next.groupPieces = pp, gp
	rs := &ruleset{objs: pp.objs, deltas: map[*set]*setDelta{}}
	rs.sets = append(slices.Clone(pp.sets), b.memberSets(gp.refs, rs)...)
	for _, o := range gp.sets {
		rs.sets = append(rs.sets, o.x)
	}
	rs.chains = append(rs.chains, fixedChains(b.observe)...)
	rs.chains = append(rs.chains, pp.chains...)
	for _, o := range gp.chains {
		rs.chains = append(rs.chains, o.x)
	}
	return rs
}

// portPieces is what the table holds for its ports and lab hosts, each
// list in the table's order: the ct timeout objects, the fixed sets (hosts,
// own addresses, verdict maps) and the port chains.
type portPieces struct {
	hosts  []string // what they were made from, with the ports
	objs   []*ctTimeoutObj
	sets   []*set
	chains []*chain
}

// portPieces returns the previous build's when it had the same hosts and
// every port reused its rendering from it, else makes them from the
// ports: at most O(ports) to reuse, nothing per rule or member.
func (b *builder) portPieces(hosts []string) *portPieces {
	pp := b.prev.portPieces
	if pp != nil && b.reusedPorts == len(b.ports) && len(b.prev.ports) == len(b.ports) && slices.Equal(pp.hosts, hosts) {
		return pp
	}
	pp = &portPieces{hosts: hosts}
	objs := map[string]*ctTimeoutObj{}
	var in []element
	var own, out [2][]element // [0] IPv4, [1] IPv6
	for _, p := range b.ports {
		po := b.next.ports[p.ENI]
		for _, o := range po.objs {
			objs[o.name] = o
		}
		pp.chains = append(pp.chains, po.chains[:]...)
		in = append(in, po.in)
		for f := range own {
			own[f] = append(own[f], po.own[f]...)
			out[f] = append(out[f], po.out[f]...)
		}
	}
	for _, o := range objs {
		pp.objs = append(pp.objs, o)
	}
	sortedByName(pp.objs, func(o *ctTimeoutObj) string { return o.name })
	sortedByName(pp.chains, func(c *chain) string { return c.name })
	pp.sets = fixedSets(hosts, own, out, in)
	return pp
}

// fixedSets are the sets and maps that are always there: the lab hosts,
// the ports' own addresses (own4, own6) and the same keys to the ports'
// egress chains (out_ports4, out_ports6), and in_ports with the hosts'
// elements added.
func fixedSets(hosts []string, own, out [2][]element, in []element) []*set {
	hs := &set{name: hostsSet, fields: []keyType{tIface}}
	for _, h := range hosts {
		k := plainElem(false, ifaceVal(h))
		hs.elems = append(hs.elems, k)
		// Nothing is towards a lab host: what may leave reaches it.
		in = append(in, mapElem(k, &expr.Verdict{Kind: expr.VerdictAccept}))
	}
	sets := []*set{hs,
		{name: ownSetName(false), fields: []keyType{tIface, tIPv4}, elems: own[0]},
		{name: ownSetName(true), fields: []keyType{tIface, tIPv6}, elems: own[1]},
		{name: outMapName(false), fields: []keyType{tIface, tIPv4}, vmap: true, elems: out[0]},
		{name: outMapName(true), fields: []keyType{tIface, tIPv6}, vmap: true, elems: out[1]},
		{name: inMap, fields: []keyType{tIface}, vmap: true, elems: in}}
	for _, s := range sets {
		sortElems(s)
	}
	return sets
}

// groupPieces is what the table holds for its groups, each list sorted by
// name, with the rendering each piece comes from: the group chains and
// sets; and the groups their rules reference, sorted.
type groupPieces struct {
	chains []owned[*chain]
	sets   []owned[*set]
	refs   []model.GroupID
}

// owned is a piece of the table with the group rendering it is part of.
type owned[T any] struct {
	out *groupOut
	x   T
}

// groupPieces returns the previous build's when this build uses the same
// group renderings, else the previous build's pieces of the renderings it
// still uses merged with those of the new ones: it sorts what is new, not
// every group's pieces.
func (b *builder) groupPieces() *groupPieces {
	prev := b.prev.groupPieces
	chains, sets := b.newGroupPieces()
	if prev != nil && chains == nil && len(b.next.groups) == len(b.prev.groups) {
		return prev
	}
	if prev == nil {
		prev = &groupPieces{}
	}
	still := func(o *groupOut) bool { return b.next.groups[o.key] == o }
	gp := &groupPieces{
		chains: mergeByName(prev.chains, still, chains, func(o owned[*chain]) string { return o.x.name }),
		sets:   mergeByName(prev.sets, still, sets, func(o owned[*set]) string { return o.x.name }),
	}
	for _, out := range b.next.groups {
		gp.refs = append(gp.refs, out.refs...)
	}
	slices.Sort(gp.refs)
	gp.refs = slices.Compact(gp.refs)
	return gp
}

// newGroupPieces are the chains and sets of the group renderings that
// this build uses and the previous one did not, in no order.
func (b *builder) newGroupPieces() (chains []owned[*chain], sets []owned[*set]) {
	for k, out := range b.next.groups {
		if b.prev.groups[k] == out {
			continue
		}
		chains = append(chains, owned[*chain]{out, out.chain})
		for _, s := range out.sets {
			sets = append(sets, owned[*set]{out, s})
		}
	}
	return chains, sets
}

// mergeByName returns the pieces of prev (sorted by name) whose rendering
// the build still uses, and added (in any order), in one list sorted by
// name. It costs a lookup per piece kept and a comparison per piece up to
// where the last one added goes, where a sort of them all would cost
// O(n log n) comparisons.
func mergeByName[T any](prev []owned[T], still func(*groupOut) bool, added []owned[T], name func(owned[T]) string) []owned[T] {
	sortedByName(added, name)
	out := make([]owned[T], 0, len(prev)+len(added))
	for _, o := range prev {
		if !still(o.out) {
			continue
		}
		for len(added) > 0 && name(added[0]) < name(o) {
			out, added = append(out, added[0]), added[1:]
		}
		out = append(out, o)
	}
	return append(out, added...)
}

// memberSets are the hash sets of the members of the referenced groups
// refs, each group's reused from the previous build when its members are
// the same slice, else updated from them (noting the changes in rs's
// deltas) or rendered.
func (b *builder) memberSets(refs []model.GroupID, rs *ruleset) []*set {
	out := make([]*set, 0, 2*len(refs))
	for _, g := range refs {
		m := b.memberOut(g)
		b.next.members[g] = m
		for f, s := range m.sets {
			if d := m.deltas[f]; d != nil && m != b.prev.members[g] {
				rs.deltas[s] = d
			}
		}
		out = append(out, m.sets[0], m.sets[1])
	}
	return out
}

// memberOut returns the member sets of g: the previous build's when made
// from the same slice of addresses (see sameSlice), else updated from
// them when it can be, else rendered.
func (b *builder) memberOut(g model.GroupID) *memberOut {
	addrs, old := b.members[g], b.prev.members[g]
	if old == nil {
		return renderMembers(g, addrs)
	}
	if sameSlice(old.addrs, addrs) {
		return old
	}
	if m, ok := old.update(addrs); ok {
		return m
	}
	return renderMembers(g, addrs)
}

// sameSlice reports whether a and b are the same slice (the same array
// and length): policy's member slices are immutable, so the same slice
// has the same members.
func sameSlice[T any](a, b []T) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
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

// fixedChains are the chains made at every build (they are few and
// small): the base chain and the two it goes on to, whatever the ports.
func fixedChains(observe bool) []*chain {
	return []*chain{forwardBase(), ingressSide(observe), hostSide()}
}

// forwardBase is the table's only base chain; every forwarded packet passes
// it once. Every interface but a lab host's may send only from its own
// addresses (checked before the conntrack shortcut, so a spoofed packet
// cannot ride on another interface's flow); then established and related
// traffic passes, and a new flow goes to the sending port's chain, or,
// from a lab host (which no security group governs), straight to the
// receiver's side. Policy drop: an interface that is no port and no lab
// host gets nothing, nor does a port sending from an address not its own.
//
// The first two rules are the path of nearly every packet: a packet of an
// established or related flow, from an instance port and one of its own
// addresses, is accepted by one rule, the conntrack state tested first
// (it fails at once for a new flow, before the address lookup). A new
// flow then meets one lookup that both checks its source and picks its
// chain: out_ports4/6 holds the same keys as own4/own6 (interface and own
// address), each to the port's egress chain. Before it, what conntrack
// finds invalid is dropped; after it, only what is not a port's own
// remains: a lab host's packets go on in fwd_host, the rest (a spoofed
// source, an unknown interface) meets the policy.
//
// One base chain instead of one per side: nf_tables runs a base chain per
// hook and packet, and an accept ends only the current one, so a second
// chain would cost every packet a second pass and conntrack check. The
// sender's side therefore does not accept: its groups' rules continue in
// the receiver's side (goto fwd_ingress), which decides.
func forwardBase() *chain {
	return &chain{name: baseChain, base: &basePriority, rules: []rule{
		new(ruleBuilder).ctState(ctEstablished|ctRelated, "established,related").nfproto(false).
			lookup([]load{ldIif, ldAddr(false, true)}, ownSetName(false), false).accept(),
		// The family first: an IPv4 packet, new or not, fails it at once.
		new(ruleBuilder).nfproto(true).ctState(ctEstablished|ctRelated, "established,related").
			lookup([]load{ldIif, ldAddr(true, true)}, ownSetName(true), false).accept(),
		dropInvalid(),
		new(ruleBuilder).nfproto(false).vmap([]load{ldIif, ldAddr(false, true)}, outMapName(false)).done(),
		new(ruleBuilder).nfproto(true).vmap([]load{ldIif, ldAddr(true, true)}, outMapName(true)).done(),
		new(ruleBuilder).lookup([]load{ldIif}, hostsSet, false).goTo(hostChain),
	}}
}

// hostSide is what a lab host sends, reached by goto from the base chain:
// its established and related packets pass; its new flows go straight to
// the receiver's side (a lab host has no egress rules).
func hostSide() *chain {
	return &chain{name: hostChain, rules: []rule{
		new(ruleBuilder).ctState(ctEstablished|ctRelated, "established,related").accept(),
		new(ruleBuilder).goTo(ingressChain),
	}}
}

// dropInvalid drops what conntrack finds invalid (a TCP segment outside
// the window, a bad checksum), except ICMP and ICMPv6: an ICMP error that
// belongs to no tracked flow is "invalid" too, and it goes on to the rules,
// which decide it as policy does (a rule allowing ICMP 3/4 for path MTU
// discovery lets it in). Errors of tracked flows are "related" and pass
// before. The state is tested first: it is one expression, and it fails for
// nearly every packet that gets here.
func dropInvalid() rule {
	return new(ruleBuilder).ctState(ctInvalid, "invalid").
		neq(ldL4proto, []byte{uint8(model.ProtoICMP)}, protoName(uint8(model.ProtoICMP))).
		neq(ldL4proto, []byte{uint8(model.ProtoICMPv6)}, protoName(uint8(model.ProtoICMPv6))).drop()
}

// ingressSide is the receiver's side of a new flow that the sender's side
// let go: the receiving port's chain decides, a lab host accepts. It is
// reached by goto and must end with a verdict of its own: a chain reached
// by goto that ends returns to the caller of the last jump, which is the
// sender's port chain, whose next group would then be tried. An interface
// that is neither a port nor a host gets nothing.
func ingressSide(observe bool) *chain {
	c := &chain{name: ingressChain}
	if observe {
		c.rules = append(c.rules, logNew())
	}
	c.rules = append(c.rules, new(ruleBuilder).vmap([]load{ldOif}, inMap).done())
	if observe {
		c.rules = append(c.rules, logDrop(model.Ingress))
	}
	c.rules = append(c.rules, new(ruleBuilder).drop())
	return c
}
