package policy

import (
	"net/netip"
	"slices"
	"strings"

	"palisade.dev/palisade/internal/model"
)

// Diff is what changed in one interface's effective policy between two
// compilations: what an incremental data plane update must do.
type Diff struct {
	ENI model.ENIID
	// Created and Deleted are set when the interface appears or disappears.
	Created, Deleted bool
	// AddrsChanged: the interface's own addresses changed (anti-spoofing).
	AddrsChanged bool
	// ConntrackChanged: the idle timeouts changed.
	ConntrackChanged bool
	// Added and Removed list rules entering and leaving the effective policy
	// (a modified rule leaves in its old form and enters in its new one).
	Added, Removed []*Entry
	// Members lists, per referenced group, the member addresses that joined
	// and left: one set element each in the kernel, not a rebuild.
	Members map[model.GroupID]MemberDelta
	// Cuts lists the untracked flow classes of the old policy whose flows the
	// new policy may no longer allow: the data plane deletes the conntrack
	// entries of those flows that the new policy denies (tracked flows are
	// left to idle out, as AWS does).
	Cuts []UntrackedClass
}

// MemberDelta is a change of a group's member addresses.
type MemberDelta struct {
	Added, Removed []netip.Addr
}

// Empty reports whether nothing changed.
func (d *Diff) Empty() bool {
	return !d.Created && !d.Deleted && !d.AddrsChanged && !d.ConntrackChanged &&
		len(d.Added) == 0 && len(d.Removed) == 0 && len(d.Members) == 0 && len(d.Cuts) == 0
}

// DiffPolicies compares two policies of one interface; either may be nil
// (the interface appears or disappears).
func DiffPolicies(old, cur *Policy) Diff {
	switch {
	case old == nil && cur == nil:
		return Diff{}
	case old == nil:
		return Diff{ENI: cur.ENI, Created: true, Added: allEntries(cur)}
	case cur == nil:
		return Diff{ENI: old.ENI, Deleted: true, Removed: allEntries(old), Cuts: old.Untracked()}
	}
	d := Diff{
		ENI:              cur.ENI,
		AddrsChanged:     !slices.Equal(old.Addrs, cur.Addrs),
		ConntrackChanged: old.Conntrack != cur.Conntrack,
		Members:          map[model.GroupID]MemberDelta{},
	}
	d.Added, d.Removed = diffEntries(allEntries(old), allEntries(cur))
	for g, now := range cur.Members {
		if md := diffAddrs(old.Members[g], now); len(md.Added)+len(md.Removed) > 0 {
			d.Members[g] = md
		}
	}
	for g, was := range old.Members {
		if _, ok := cur.Members[g]; !ok && len(was) > 0 {
			d.Members[g] = MemberDelta{Removed: was}
		}
	}
	if len(d.Members) == 0 {
		d.Members = nil
	}
	d.Cuts = cuts(old, cur)
	return d
}

func allEntries(p *Policy) []*Entry {
	return append(slices.Clone(p.Ingress.Entries), p.Egress.Entries...)
}

type entryKey struct {
	group model.GroupID
	id    model.RuleID
	key   model.RuleKey
}

func keyOf(e *Entry) entryKey { return entryKey{e.Group, e.Rule.ID, e.Rule.Key()} }

func diffEntries(old, cur []*Entry) (added, removed []*Entry) {
	was := make(map[entryKey]bool, len(old))
	for _, e := range old {
		was[keyOf(e)] = true
	}
	is := make(map[entryKey]bool, len(cur))
	for _, e := range cur {
		is[keyOf(e)] = true
		if !was[keyOf(e)] {
			added = append(added, e)
		}
	}
	for _, e := range old {
		if !is[keyOf(e)] {
			removed = append(removed, e)
		}
	}
	return added, removed
}

// diffAddrs compares two sorted address lists.
func diffAddrs(old, cur []netip.Addr) MemberDelta {
	var d MemberDelta
	i, j := 0, 0
	for i < len(old) || j < len(cur) {
		switch {
		case j == len(cur) || (i < len(old) && old[i].Less(cur[j])):
			d.Removed = append(d.Removed, old[i])
			i++
		case i == len(old) || cur[j].Less(old[i]):
			d.Added = append(d.Added, cur[j])
			j++
		default:
			i, j = i+1, j+1
		}
	}
	return d
}

// cuts returns the old policy's untracked classes that the new policy does
// not keep untracked with the same ports: their flows may have lost the rule
// that let them pass.
func cuts(old, cur *Policy) []UntrackedClass {
	still := map[UntrackedClass]bool{}
	for _, u := range cur.Untracked() {
		still[u] = true
	}
	var out []UntrackedClass
	for _, u := range old.Untracked() {
		if !still[u] {
			out = append(out, u)
		}
	}
	return out
}

// DiffCompiled compares every interface of two compilations (old may be
// nil) and returns the non-empty diffs, ordered by interface ID.
func DiffCompiled(old, cur *Compiled) []Diff {
	var out []Diff
	seen := map[model.ENIID]bool{}
	for _, p := range cur.Policies() {
		seen[p.ENI] = true
		var was *Policy
		if old != nil {
			was = old.policies[p.ENI]
		}
		if d := DiffPolicies(was, p); !d.Empty() {
			out = append(out, d)
		}
	}
	if old != nil {
		for _, p := range old.Policies() {
			if !seen[p.ENI] {
				out = append(out, DiffPolicies(p, nil))
			}
		}
	}
	slices.SortFunc(out, func(a, b Diff) int { return strings.Compare(string(a.ENI), string(b.ENI)) })
	return out
}

// Cut is the untracked flow classes that one interface lost between two
// compilations (Diff.Cuts).
type Cut struct {
	ENI     model.ENIID
	Classes []UntrackedClass
}

// CutsCompiled returns, ordered by interface ID, the interfaces of old whose
// untracked classes cur does not keep, without the rest of DiffCompiled's
// work: the agent needs only these on every change. Untracked classes
// depend only on an interface's sides, so interfaces that share their sides
// share the work.
func CutsCompiled(old, cur *Compiled) []Cut {
	if old == nil {
		return nil
	}
	type pair struct{ oi, oe, ci, ce *Side }
	memo := map[pair][]UntrackedClass{}
	var out []Cut
	for id, was := range old.policies {
		now := cur.policies[id]
		if now == was {
			continue // the same object: nothing it was made from changed
		}
		k := pair{oi: was.Ingress, oe: was.Egress}
		if now != nil {
			k.ci, k.ce = now.Ingress, now.Egress
		}
		cs, ok := memo[k]
		if !ok {
			if now == nil {
				cs = was.Untracked()
			} else {
				cs = cuts(was, now)
			}
			memo[k] = cs
		}
		if len(cs) > 0 {
			out = append(out, Cut{ENI: id, Classes: cs})
		}
	}
	slices.SortFunc(out, func(a, b Cut) int { return strings.Compare(string(a.ENI), string(b.ENI)) })
	return out
}
