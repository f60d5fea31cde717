package policy

import (
	"net/netip"
	"slices"
	"strings"
	"sync"

	"palisade.dev/palisade/internal/model"
)

// Snapshot is what Compile reads: the groups, interfaces and prefix lists
// of one store revision (of one host, or of everything).
type Snapshot struct {
	Groups      []model.SecurityGroup
	ENIs        []model.ENI
	PrefixLists []model.PrefixList
	// Only, when not nil, limits the policies Compile builds to these
	// interfaces; every interface of ENIs still counts as a group member
	// and an owner of its addresses. The agent enforces the interfaces of
	// running instances only, and a VPC may hold thousands of others.
	Only map[model.ENIID]bool
}

// Entry is one rule in the effective policy of an interface: the rule of a
// group, with its peer resolved.
type Entry struct {
	Rule     model.Rule
	Group    model.GroupID   // the group that holds the rule
	Span     model.PortRange // the rule's extent on the port axis (model.Rule.Span)
	Prefixes []netip.Prefix  // PeerCIDR: the prefix; PeerPrefixList: the list's entries
	// Members of a PeerGroup rule are looked up in Compiled (shared by every
	// interface that references the group).
}

// Side is one direction of an interface's effective policy: the union of the
// rules of that direction of all its groups. Interfaces with the same groups
// share one Side.
type Side struct {
	Direction model.Direction
	Groups    []model.GroupID      // the groups whose rules make up the side
	Entries   []*Entry             // in group order, then rule order
	open      openSpans            // which flows are untracked (see track.go)
	key       string               // direction and groups: the Compiler's cache key
	lists     []model.PrefixListID // the prefix lists its entries resolve
	refs      []model.GroupID      // the groups its entries reference, each once

	// The lookup structures of Decide are built on its first call: the
	// agent programs rules but decides flows (untracked cuts) for few
	// interfaces, if any. They hold no members: a side outlives membership
	// changes (the Compiler keeps it), so Decide looks members up in the
	// policy's sets, by position in refs.
	indexOnce sync.Once
	byProto   [256]*portIndex // rules of one protocol
	all       *portIndex      // rules of protocol -1
}

// Policy is the effective policy of one network interface.
type Policy struct {
	ENI       model.ENIID
	VPC       model.VpcID
	Addrs     []netip.Addr // the interface's own private addresses, IPv4 first
	Groups    []model.GroupID
	Conntrack model.ConntrackTimeouts // effective idle timeouts (defaults filled in)
	Ingress   *Side
	Egress    *Side
	// Members holds, for every group that a rule of this policy references,
	// the private addresses of its member interfaces (sorted).
	Members map[model.GroupID][]netip.Addr
	// The same lists as Decide looks them up: per side, the member sets of
	// the side's refs, in order.
	inSets, outSets []*memberSet
}

// sets returns the member sets of side d's refs.
func (p *Policy) sets(d model.Direction) []*memberSet {
	if d == model.Egress {
		return p.outSets
	}
	return p.inSets
}

// Side returns the side of direction d.
func (p *Policy) Side(d model.Direction) *Side {
	if d == model.Egress {
		return p.Egress
	}
	return p.Ingress
}

// Compiled is the compiled form of a snapshot: every interface's effective
// policy. It is immutable and safe for concurrent use.
type Compiled struct {
	policies map[model.ENIID]*Policy
	members  map[model.GroupID]*memberSet
	enis     []*model.ENI // every interface, for ENIByAddr

	byAddrOnce sync.Once // ENIByAddr's map is built on its first call
	byAddr     map[vpcAddr]model.ENIID
}

type vpcAddr struct {
	vpc  model.VpcID
	addr netip.Addr
}

// Policy returns the effective policy of interface id, or nil.
func (c *Compiled) Policy(id model.ENIID) *Policy { return c.policies[id] }

// Policies returns every interface's policy, ordered by interface ID.
func (c *Compiled) Policies() []*Policy {
	out := make([]*Policy, 0, len(c.policies))
	for _, p := range c.policies {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *Policy) int { return strings.Compare(string(a.ENI), string(b.ENI)) })
	return out
}

// Members returns the private addresses of the member interfaces of group
// g, sorted.
func (c *Compiled) Members(g model.GroupID) []netip.Addr {
	if m := c.members[g]; m != nil {
		return m.addrs
	}
	return nil
}

// ENIByAddr finds the interface that owns private address a in vpc.
func (c *Compiled) ENIByAddr(vpc model.VpcID, a netip.Addr) (model.ENIID, bool) {
	c.byAddrOnce.Do(func() {
		c.byAddr = make(map[vpcAddr]model.ENIID, len(c.enis))
		for _, e := range c.enis {
			for _, x := range e.Addrs() {
				c.byAddr[vpcAddr{e.VPC, x}] = e.ID
			}
		}
	})
	id, ok := c.byAddr[vpcAddr{vpc, a}]
	return id, ok
}

// Compile computes the effective policy of every interface in s (of those
// in s.Only, when set). The result refers to the interfaces of s: do not
// modify them afterwards. A caller that compiles again after small
// changes keeps a Compiler instead.
func Compile(s Snapshot) *Compiled {
	c := NewCompiler()
	c.PutSnapshot(s)
	return c.Compile()
}

type builder struct {
	c      *Compiled
	groups map[model.GroupID]*model.SecurityGroup
	lists  map[model.PrefixListID]*model.PrefixList
	sides  map[string]*Side // by direction and group list: shared sides
}

func (b *builder) policy(e *model.ENI) *Policy {
	p := &Policy{
		ENI:       e.ID,
		VPC:       e.VPC,
		Addrs:     e.Addrs(),
		Groups:    slices.Clone(e.Groups),
		Conntrack: e.Conntrack.Effective(),
		Members:   map[model.GroupID][]netip.Addr{},
	}
	p.Ingress = b.side(model.Ingress, e.Groups)
	p.Egress = b.side(model.Egress, e.Groups)
	p.inSets, p.outSets = b.sets(p, p.Ingress), b.sets(p, p.Egress)
	return p
}

// sets returns the current member sets of side s's refs, and records
// their addresses in p.Members.
func (b *builder) sets(p *Policy, s *Side) []*memberSet {
	out := make([]*memberSet, len(s.refs))
	for i, g := range s.refs {
		m := b.c.members[g]
		out[i] = m
		p.Members[g] = nil
		if m != nil {
			p.Members[g] = m.addrs
		}
	}
	return out
}

func (b *builder) side(d model.Direction, groups []model.GroupID) *Side {
	key := d.String() + ":" + joinIDs(groups)
	if s, ok := b.sides[key]; ok {
		return s
	}
	s := &Side{Direction: d, Groups: slices.Clone(groups), key: key}
	for _, gid := range groups {
		g := b.groups[gid]
		if g == nil {
			continue // a group that is gone allows nothing
		}
		for _, r := range g.Rules {
			if r.Direction != d {
				continue
			}
			s.Entries = append(s.Entries, b.entry(g.ID, r))
			if r.Peer.Kind == model.PeerPrefixList && !slices.Contains(s.lists, r.Peer.PrefixList) {
				s.lists = append(s.lists, r.Peer.PrefixList)
			}
			if r.Peer.Kind == model.PeerGroup && !slices.Contains(s.refs, r.Peer.Group) {
				s.refs = append(s.refs, r.Peer.Group)
			}
		}
	}
	s.open = openWorldOf(s.Entries)
	b.sides[key] = s
	return s
}

func joinIDs(ids []model.GroupID) string {
	var sb strings.Builder
	for _, id := range ids {
		sb.WriteString(string(id))
		sb.WriteByte(',')
	}
	return sb.String()
}

func (b *builder) entry(g model.GroupID, r model.Rule) *Entry {
	e := &Entry{Rule: r, Group: g, Span: r.Span()}
	switch r.Peer.Kind {
	case model.PeerCIDR:
		e.Prefixes = []netip.Prefix{r.Peer.Prefix}
	case model.PeerPrefixList:
		if pl := b.lists[r.Peer.PrefixList]; pl != nil {
			for _, en := range pl.Entries {
				e.Prefixes = append(e.Prefixes, en.CIDR)
			}
		}
	}
	return e
}

// indexed builds the side's lookup structures once, on first use.
func (s *Side) indexed() *Side {
	s.indexOnce.Do(s.index)
	return s
}

func (s *Side) index() {
	var byProto [256][]*Entry
	var all []*Entry
	for _, e := range s.Entries {
		if n, ok := e.Rule.Protocol.Number(); ok {
			byProto[n] = append(byProto[n], e)
		} else {
			all = append(all, e)
		}
	}
	for n, es := range byProto {
		if len(es) > 0 {
			s.byProto[n] = buildPortIndex(es, s.refs)
		}
	}
	if len(all) > 0 {
		s.all = buildPortIndex(all, s.refs)
	}
}
