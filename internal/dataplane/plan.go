package dataplane

import (
	"bytes"
	"slices"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
)

// plan is one batch: what to add, change and delete, queued in an order the
// kernel accepts inside one transaction (objects, sets and chains exist
// before anything refers to them; references are gone before what they
// refer to is deleted).
type plan struct {
	full                 bool // delete and re-add the whole table
	addObjs, delObjs     []*ctTimeoutObj
	addSets, delSets     []*set
	addChains, delChains []*chain
	rewrite              []*chain // existing chains whose rules change
	elems                []elemDelta
}

// elemDelta changes the elements of a set that stays.
type elemDelta struct {
	s        *set
	add, del []element
}

// rebuild replaces the table with rs.
func rebuild(rs *ruleset) *plan {
	return &plan{full: true, addObjs: rs.objs, addSets: rs.sets, addChains: rs.chains}
}

// diff plans the update from old to cur; ok is false when only a rebuild
// can do it (a set or base chain that changed its type). A set or chain
// that cur reused from old's build is the same object, and is not
// compared.
func diff(old, cur *ruleset) (p *plan, ok bool) {
	p = &plan{}
	wasObj, goneObjs := pairs(old.objs, cur.objs, func(o *ctTimeoutObj) string { return o.name })
	for i, o := range cur.objs {
		if wasObj[i] == nil {
			p.addObjs = append(p.addObjs, o)
		}
	}
	p.delObjs = goneObjs

	wasSet, goneSets := pairs(old.sets, cur.sets, func(s *set) string { return s.name })
	for i, s := range cur.sets {
		was := wasSet[i]
		switch {
		case was == s: // reused from the previous build
		case was == nil:
			p.addSets = append(p.addSets, s)
		case was.typeText() != s.typeText() || was.interval != s.interval || was.timeout != s.timeout:
			return nil, false
		default:
			if d := cur.elemDelta(was, s); len(d.add)+len(d.del) > 0 {
				p.elems = append(p.elems, d)
			}
		}
	}
	p.delSets = goneSets

	wasChain, goneChains := pairs(old.chains, cur.chains, func(c *chain) string { return c.name })
	for i, c := range cur.chains {
		was := wasChain[i]
		switch {
		case was == c: // reused from the previous build
		case was == nil:
			p.addChains = append(p.addChains, c)
		case (was.base == nil) != (c.base == nil) || was.base != nil && *was.base != *c.base:
			return nil, false
		case !sameRules(was.rules, c.rules):
			p.rewrite = append(p.rewrite, c)
		}
	}
	p.delChains = goneChains
	return p, true
}

// pairs returns, for each item of cur, the item of old with its name (nil
// for none), and the items of old whose name cur lacks, sorted by name.
// When both list the same names in the same order, as they do unless
// something was added or deleted, it pairs them by position, comparing
// names only where the items differ, instead of indexing old by name.
func pairs[T comparable](old, cur []T, name func(T) string) (was, gone []T) {
	if len(old) == len(cur) {
		was = make([]T, len(cur))
		i := 0
		for ; i < len(cur) && (old[i] == cur[i] || name(old[i]) == name(cur[i])); i++ {
			was[i] = old[i]
		}
		if i == len(cur) {
			return was, nil
		}
	}
	byOld := byName(old, name)
	was = make([]T, len(cur))
	for i, x := range cur {
		was[i] = byOld[name(x)]
		delete(byOld, name(x))
	}
	return was, sortedValues(byOld, name)
}

// elemDelta lists the elements to add to and delete from old to make
// cur, a set of rs: as rs's deltas note them when cur was made from old,
// else by comparing the two.
func (rs *ruleset) elemDelta(old, cur *set) elemDelta {
	if d := rs.deltas[cur]; d != nil && d.from.Value() == old {
		return elemDelta{s: cur, add: d.add, del: d.del}
	}
	return diffElems(old, cur)
}

// diffElems lists the elements to add to and delete from old to make cur.
// It runs on every set at every Apply (a 10,000-member set included), so
// it merges the two sorted lists without allocating; a set reused from
// the previous build is the same list, and lists that are not sorted
// (none are, but the merge would be wrong) take the slow way.
func diffElems(old, cur *set) elemDelta {
	d := elemDelta{s: cur}
	if old == cur {
		return d
	}
	if !sortedElems(old.elems) || !sortedElems(cur.elems) {
		return diffElemsByID(old, cur)
	}
	o, c := old.elems, cur.elems
	for len(o) > 0 || len(c) > 0 {
		k := 0
		switch {
		case len(c) == 0:
			k = -1
		case len(o) == 0:
			k = 1
		default:
			k = compareElems(o[0], c[0])
		}
		switch {
		case k < 0:
			d.del, o = append(d.del, o[0]), o[1:]
		case k > 0:
			d.add, c = append(d.add, c[0]), c[1:]
		default:
			if !sameVerdict(o[0].verdict, c[0].verdict) || o[0].exp != c[0].exp {
				d.del, d.add = append(d.del, o[0]), append(d.add, c[0])
			}
			o, c = o[1:], c[1:]
		}
	}
	return d
}

// sameVerdict reports whether a and b are the same verdict (verdictID
// would write them alike), without writing them.
func sameVerdict(a, b *expr.Verdict) bool {
	return a == b || a != nil && b != nil && a.Kind == b.Kind && a.Chain == b.Chain
}

// compareElems orders elements by key, then end (as sortElems does).
func compareElems(a, b element) int {
	if k := bytes.Compare(a.key, b.key); k != 0 {
		return k
	}
	return bytes.Compare(a.end, b.end)
}

// sortedElems reports whether es is strictly increasing by key and end.
func sortedElems(es []element) bool {
	for i := 1; i < len(es); i++ {
		if compareElems(es[i-1], es[i]) >= 0 {
			return false
		}
	}
	return true
}

// diffElemsByID is diffElems for lists in any order.
func diffElemsByID(old, cur *set) elemDelta {
	d := elemDelta{s: cur}
	had := make(map[string]bool, len(old.elems))
	for _, e := range old.elems {
		had[e.id()] = true
	}
	for _, e := range cur.elems {
		if !had[e.id()] {
			d.add = append(d.add, e)
		}
		delete(had, e.id())
	}
	for _, e := range old.elems {
		if had[e.id()] {
			d.del = append(d.del, e)
		}
	}
	return d
}

func sameRules(a, b []rule) bool {
	return slices.EqualFunc(a, b, func(x, y rule) bool { return x.text == y.text })
}

func byName[T any](xs []T, name func(T) string) map[string]T {
	m := make(map[string]T, len(xs))
	for _, x := range xs {
		m[name(x)] = x
	}
	return m
}

func sortedValues[T any](m map[string]T, name func(T) string) []T {
	out := make([]T, 0, len(m))
	for _, x := range m {
		out = append(out, x)
	}
	return sortedByName(out, name)
}

// result counts what the plan changes.
func (p *plan) result() Result {
	r := Result{
		Full:   p.full,
		Sets:   len(p.addSets) + len(p.delSets),
		Chains: len(p.addChains) + len(p.delChains) + len(p.rewrite),
	}
	for _, s := range p.addSets {
		r.Elements += len(s.elems)
	}
	for _, d := range p.elems {
		r.Elements += len(d.add) + len(d.del)
	}
	return r
}

// bulkMin is the number of elements added to one set in one batch from
// which Apply counts the set's elements back from the kernel: google/
// nftables v0.3.0 silently dropped elements beyond 64 KiB per message
// (docs/dataplane.md#pitfalls, pitfall 1); the pinned version splits them, and this check
// would catch a regression.
const bulkMin = 1000

// bulk lists the sets that got at least bulkMin elements.
func (p *plan) bulk() []string {
	var out []string
	for _, s := range p.addSets {
		if len(s.elems) >= bulkMin {
			out = append(out, s.name)
		}
	}
	for _, d := range p.elems {
		if len(d.add) >= bulkMin {
			out = append(out, d.s.name)
		}
	}
	return out
}

// enqueue queues the plan's messages on t's connection, in this order:
// objects, sets and chains are created before anything refers to them
// (map elements jump to chains, so maps get theirs after the chains);
// elements are deleted before they are added (a replacement cell of an
// interval set may overlap the one it replaces); chains are flushed
// before their rules are added again or they are deleted; what is deleted
// goes last, when no rule or element refers to it any more.
func (p *plan) enqueue(t *Table) error {
	c := t.conn
	if p.full {
		c.AddTable(t.tbl) // so that the delete finds it
		c.DelTable(t.tbl)
		c.AddTable(t.tbl)
	}
	for _, o := range p.addObjs {
		addCtTimeoutObj(c, t.tbl, o)
	}
	now := time.Now()
	for _, s := range p.addSets {
		var es []element
		if !s.vmap {
			es = s.elems
		}
		if err := c.AddSet(t.nftSet(s), nftElems(s, es, now)); err != nil {
			return err
		}
	}
	for _, ch := range p.addChains {
		c.AddChain(t.nftChain(ch))
	}
	if err := p.enqueueElems(t, now); err != nil {
		return err
	}
	p.enqueueRules(t)
	for _, ch := range p.delChains {
		c.DelChain(t.nftChain(ch))
	}
	for _, s := range p.delSets {
		c.DelSet(t.nftSet(s))
	}
	for _, o := range p.delObjs {
		c.DeleteObject(&nftables.NamedObj{Table: t.tbl, Name: o.name, Type: nftables.ObjTypeCtTimeout})
	}
	return nil
}

// enqueueElems queues the element changes. In a set with expiring
// elements a deletion is a destroy: the kernel may have dropped the
// element on its own (its timeout passed), and deleting a missing element
// would fail the batch.
func (p *plan) enqueueElems(t *Table, now time.Time) error {
	c := t.conn
	for _, d := range p.elems {
		del := c.SetDeleteElements
		if d.s.timeout {
			del = c.SetDestroyElements
		}
		if err := del(t.nftSet(d.s), nftElems(d.s, d.del, time.Time{})); err != nil {
			return err
		}
	}
	for _, d := range p.elems {
		if err := c.SetAddElements(t.nftSet(d.s), nftElems(d.s, d.add, now)); err != nil {
			return err
		}
	}
	for _, s := range p.addSets {
		if s.vmap && len(s.elems) > 0 {
			if err := c.SetAddElements(t.nftSet(s), nftElems(s, s.elems, now)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *plan) enqueueRules(t *Table) {
	c := t.conn
	for _, ch := range append(slices.Clone(p.rewrite), p.delChains...) {
		c.FlushChain(t.nftChain(ch))
	}
	for _, ch := range append(slices.Clone(p.addChains), p.rewrite...) {
		nc := t.nftChain(ch)
		for _, r := range ch.rules {
			c.AddRule(&nftables.Rule{Table: t.tbl, Chain: nc, Exprs: r.exprs})
		}
	}
}

func (t *Table) nftSet(s *set) *nftables.Set {
	ns := &nftables.Set{Table: t.tbl, Name: s.name, Interval: s.interval, Concatenation: len(s.fields) > 1}
	types := make([]nftables.SetDatatype, len(s.fields))
	for i, f := range s.fields {
		types[i] = f.dt
	}
	ns.KeyType = types[0]
	if s.fields[0] == tIface && len(types) == 1 {
		// nft reads an interface index key in host byte order, as it
		// declares it; without this userdata `nft list` shows it swapped.
		ns.KeyByteOrder = binaryutil.NativeEndian
	}
	if len(types) > 1 {
		ns.KeyType = nftables.MustConcatSetType(types...)
	}
	if s.vmap {
		ns.IsMap, ns.DataType = true, nftables.TypeVerdict
	}
	ns.HasTimeout = s.timeout
	return ns
}

// nftElems converts elements for the kernel. With now set (an addition),
// an expiring element gets its timeout, and one whose expiry has passed
// is left out: the kernel would never drop it.
func nftElems(s *set, es []element, now time.Time) []nftables.SetElement {
	out := make([]nftables.SetElement, 0, len(es))
	for _, e := range es {
		ne := nftables.SetElement{Key: e.key, KeyEnd: e.end}
		if s.vmap {
			ne.VerdictData = e.verdict
		}
		if e.exp != 0 && !now.IsZero() {
			left, ok := e.exp.timeoutAt(now)
			if !ok {
				continue
			}
			ne.Timeout = left
		}
		out = append(out, ne)
	}
	return out
}

func (t *Table) nftChain(c *chain) *nftables.Chain {
	nc := &nftables.Chain{Name: c.name, Table: t.tbl}
	if c.base != nil {
		drop := nftables.ChainPolicyDrop
		nc.Type = nftables.ChainTypeFilter
		nc.Hooknum = nftables.ChainHookForward
		nc.Priority = nftables.ChainPriorityRef(nftables.ChainPriority(*c.base))
		nc.Policy = &drop
	}
	return nc
}
