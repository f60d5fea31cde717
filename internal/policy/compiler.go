package policy

import (
	"net/netip"
	"slices"

	"palisade.dev/palisade/internal/model"
)

// Compiler compiles a snapshot that changes a little at a time. It holds
// the groups, interfaces and prefix lists it was given, and each Compile
// rebuilds only what the changes since the last one touch: the sides of
// changed groups and prefix lists, the policies of changed interfaces and
// of those whose sides or referenced members changed, and the member lists
// of groups that gained or lost an address. Everything else in the new
// Compiled is the very object of the previous one: the same *Policy, the
// same *Side, the same member slice. The data plane relies on that
// identity to skip what did not change, so a rule or membership change in
// a VPC of ten thousand interfaces costs in proportion to the change.
//
// The objects passed to Put* belong to the Compiler afterwards: the caller
// must not modify them (put a new object instead). A Compiler is not safe
// for concurrent use; the Compileds it returns are.
type Compiler struct {
	groups map[model.GroupID]*model.SecurityGroup
	enis   map[model.ENIID]*model.ENI
	lists  map[model.PrefixListID]*model.PrefixList
	only   map[model.ENIID]bool // nil: every interface has a policy

	members map[model.GroupID]*memberList
	sides   map[string]*Side // by direction and group list
	last    *Compiled

	// Changes since the last Compile.
	dirtyGroups  map[model.GroupID]bool
	dirtyLists   map[model.PrefixListID]bool
	dirtyENIs    map[model.ENIID]bool
	dirtyMembers map[model.GroupID]bool
	enisChanged  bool // an interface came, went or changed (ENIByAddr's input)
}

// memberList is the private addresses of one group's members: a count per
// address (two interfaces may claim one address while a change is on its
// way) and the member set as of the last Compile, which Compileds share
// and nobody modifies.
type memberList struct {
	count   map[netip.Addr]int32
	cur     *memberSet
	touched []netip.Addr // addresses whose count changed since (may repeat)
}

// NewCompiler returns an empty compiler.
func NewCompiler() *Compiler {
	return &Compiler{
		groups:       map[model.GroupID]*model.SecurityGroup{},
		enis:         map[model.ENIID]*model.ENI{},
		lists:        map[model.PrefixListID]*model.PrefixList{},
		members:      map[model.GroupID]*memberList{},
		sides:        map[string]*Side{},
		dirtyGroups:  map[model.GroupID]bool{},
		dirtyLists:   map[model.PrefixListID]bool{},
		dirtyENIs:    map[model.ENIID]bool{},
		dirtyMembers: map[model.GroupID]bool{},
	}
}

// PutSnapshot puts everything in s (pointers to its elements: do not
// modify them afterwards) and enforces s.Only.
func (c *Compiler) PutSnapshot(s Snapshot) {
	for i := range s.Groups {
		c.PutGroup(&s.Groups[i])
	}
	for i := range s.PrefixLists {
		c.PutPrefixList(&s.PrefixLists[i])
	}
	for i := range s.ENIs {
		c.PutENI(&s.ENIs[i])
	}
	c.Enforce(s.Only)
}

// PutGroup adds or replaces a security group.
func (c *Compiler) PutGroup(g *model.SecurityGroup) {
	c.groups[g.ID] = g
	mark(c, c.dirtyGroups, g.ID)
}

// mark records a change that the next Compile must look at; before the
// first Compile everything is built anyway.
func mark[K comparable](c *Compiler, dirty map[K]bool, k K) {
	if c.last != nil {
		dirty[k] = true
	}
}

// DeleteGroup removes a security group: rules that reference it, and
// interfaces that still list it, get nothing from it.
func (c *Compiler) DeleteGroup(id model.GroupID) {
	if _, ok := c.groups[id]; ok {
		delete(c.groups, id)
		mark(c, c.dirtyGroups, id)
	}
}

// PutPrefixList adds or replaces a prefix list.
func (c *Compiler) PutPrefixList(pl *model.PrefixList) {
	c.lists[pl.ID] = pl
	mark(c, c.dirtyLists, pl.ID)
}

// DeletePrefixList removes a prefix list.
func (c *Compiler) DeletePrefixList(id model.PrefixListID) {
	if _, ok := c.lists[id]; ok {
		delete(c.lists, id)
		mark(c, c.dirtyLists, id)
	}
}

// PutENI adds or replaces a network interface.
func (c *Compiler) PutENI(e *model.ENI) {
	old := c.enis[e.ID]
	c.enis[e.ID] = e
	c.enisChanged = true
	mark(c, c.dirtyENIs, e.ID)
	c.moveMembers(old, e)
}

// DeleteENI removes a network interface.
func (c *Compiler) DeleteENI(id model.ENIID) {
	old, ok := c.enis[id]
	if !ok {
		return
	}
	delete(c.enis, id)
	c.enisChanged = true
	mark(c, c.dirtyENIs, id)
	c.moveMembers(old, nil)
}

// Enforce limits the policies Compile builds to the interfaces in only
// (nil: every interface); every interface still counts as a group member
// and an owner of its addresses. The map belongs to the Compiler.
func (c *Compiler) Enforce(only map[model.ENIID]bool) { c.only = only }

// moveMembers takes old's addresses out of its groups and puts cur's into
// its groups (either may be nil). An interface whose groups and addresses
// did not change touches no member list.
func (c *Compiler) moveMembers(old, cur *model.ENI) {
	if old != nil && cur != nil && slices.Equal(old.Groups, cur.Groups) &&
		slices.Equal(old.PrivateIPs, cur.PrivateIPs) && slices.Equal(old.IPv6s, cur.IPv6s) {
		return
	}
	if old != nil {
		c.count(old, -1)
	}
	if cur != nil {
		c.count(cur, 1)
	}
}

func (c *Compiler) count(e *model.ENI, delta int32) {
	addrs := e.Addrs()
	for i, g := range e.Groups {
		if slices.Contains(e.Groups[:i], g) {
			continue // listed twice: one member
		}
		m := c.members[g]
		if m == nil {
			m = &memberList{count: map[netip.Addr]int32{}}
			c.members[g] = m
		}
		for _, a := range addrs {
			if n := m.count[a] + delta; n > 0 {
				m.count[a] = n
			} else {
				delete(m.count, a)
			}
			if m.cur != nil { // else the next Compile sorts them all
				m.touched = append(m.touched, a)
			}
		}
		c.dirtyMembers[g] = true
	}
}

// Compile returns the effective policy of every enforced interface,
// reusing every part of the previous result that no change touched.
func (c *Compiler) Compile() *Compiled {
	changed := c.refreshMembers()
	dead := c.dropSides()
	out := &Compiled{
		policies: make(map[model.ENIID]*Policy, c.enforcedLen()),
		members:  make(map[model.GroupID]*memberSet, len(c.members)),
	}
	for g, m := range c.members {
		out.members[g] = m.cur
	}
	if c.last != nil && !c.enisChanged {
		out.enis = c.last.enis
	} else {
		out.enis = make([]*model.ENI, 0, len(c.enis))
		for _, e := range c.enis {
			out.enis = append(out.enis, e)
		}
	}
	b := builder{c: out, groups: c.groups, lists: c.lists, sides: c.sides}
	c.enforced(func(e *model.ENI) {
		if p := c.reusable(e.ID, dead, changed); p != nil {
			out.policies[e.ID] = p
			return
		}
		out.policies[e.ID] = b.policy(e)
	})
	// Keep only the sides in use: interfaces that changed groups leave
	// theirs behind. The first compile made only sides in use.
	if c.last != nil {
		c.sides = make(map[string]*Side, len(c.sides))
		for _, p := range out.policies {
			c.sides[p.Ingress.key] = p.Ingress
			c.sides[p.Egress.key] = p.Egress
		}
	}
	c.last = out
	clear(c.dirtyGroups)
	clear(c.dirtyLists)
	clear(c.dirtyENIs)
	clear(c.dirtyMembers)
	c.enisChanged = false
	return out
}

// enforced calls fn for every interface that gets a policy.
func (c *Compiler) enforced(fn func(*model.ENI)) {
	if c.only == nil {
		for _, e := range c.enis {
			fn(e)
		}
		return
	}
	for id := range c.only {
		if e := c.enis[id]; e != nil {
			fn(e)
		}
	}
}

func (c *Compiler) enforcedLen() int {
	if c.only == nil {
		return len(c.enis)
	}
	return len(c.only)
}

// reusable returns the previous policy of id if nothing it was made from
// changed: the interface, its sides, the members of the groups it
// references.
func (c *Compiler) reusable(id model.ENIID, dead map[*Side]bool, changed map[model.GroupID]bool) *Policy {
	if c.last == nil || c.dirtyENIs[id] {
		return nil
	}
	p := c.last.policies[id]
	if p == nil || dead[p.Ingress] || dead[p.Egress] {
		return nil
	}
	for g := range p.Members {
		if changed[g] {
			return nil
		}
	}
	return p
}

// refreshMembers brings the sorted member lists up to date and returns the
// groups whose list changed.
func (c *Compiler) refreshMembers() map[model.GroupID]bool {
	changed := map[model.GroupID]bool{}
	for g := range c.dirtyMembers {
		m := c.members[g]
		next := m.next()
		m.touched = nil
		if len(m.count) == 0 {
			delete(c.members, g)
		}
		if m.cur == nil || !slices.Equal(next, m.cur.addrs) {
			m.cur = &memberSet{addrs: next}
			changed[g] = true
		}
	}
	return changed
}

// next is the sorted member list after the touched addresses: a merge of
// the old list with the few that came and went, or, when many did, a sort
// of them all.
func (m *memberList) next() []netip.Addr {
	if m.cur == nil || len(m.touched)*4 > len(m.cur.addrs) {
		out := make([]netip.Addr, 0, len(m.count))
		for a := range m.count {
			out = append(out, a)
		}
		slices.SortFunc(out, netip.Addr.Compare)
		return out
	}
	slices.SortFunc(m.touched, netip.Addr.Compare)
	touched := slices.Compact(m.touched)
	old := m.cur.addrs
	out := make([]netip.Addr, 0, len(old)+len(touched))
	for _, a := range touched {
		i, found := slices.BinarySearchFunc(old, a, netip.Addr.Compare)
		out = append(out, old[:i]...)
		if found {
			i++
		}
		if m.count[a] > 0 {
			out = append(out, a)
		}
		old = old[i:]
	}
	return append(out, old...)
}

// dropSides forgets the cached sides made from a changed group or prefix
// list and returns them: policies that hold one are rebuilt.
func (c *Compiler) dropSides() map[*Side]bool {
	dead := map[*Side]bool{}
	if len(c.dirtyGroups) == 0 && len(c.dirtyLists) == 0 {
		return dead
	}
	for key, s := range c.sides {
		if c.stale(s) {
			dead[s] = true
			delete(c.sides, key)
		}
	}
	return dead
}

func (c *Compiler) stale(s *Side) bool {
	for _, g := range s.Groups {
		if c.dirtyGroups[g] {
			return true
		}
	}
	for _, pl := range s.lists {
		if c.dirtyLists[pl] {
			return true
		}
	}
	return false
}
