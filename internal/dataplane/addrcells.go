package dataplane

import (
	"cmp"
	"net/netip"
	"slices"
)

// The CIDR and prefix-list rules of a group become elements of interval
// sets keyed peer . l4proto (. port). The kernel refuses elements of such a
// set that overlap (EEXIST), while rules overlap all the time (0.0.0.0/0
// tcp 443 and 10.0.0.0/8 tcp 0-65535), so the union of the rules' boxes is
// cut into disjoint cells first: a sweep over one axis (protocols, or ports
// of one protocol) into elementary intervals, the addresses of each merged
// into disjoint ranges, and neighbouring intervals with the same addresses
// joined. This is geometry, not policy: the cells cover exactly the union
// of the boxes (a test checks it against policy.Decide).

// box is what one prefix of a rule allows: addresses × span, where the span
// is a range of protocols (for the peer . l4proto set) or of ports or ICMP
// type<<8|code of one protocol (for the peer . l4proto . port set).
type box struct {
	addr   netip.Prefix
	lo, hi uint32
	exp    expiry // the rule's (expiring.go)
}

// cell is one disjoint piece of a union of boxes.
type cell struct {
	lo, hi uint32
	addrs  []addrRange
}

// cells cuts the union of boxes (all of one address family) into disjoint
// cells, ordered by span.
func cells(boxes []box) []cell {
	type event struct {
		at    uint32
		start bool
		i     int
	}
	evs := make([]event, 0, 2*len(boxes))
	for i, b := range boxes {
		evs = append(evs, event{b.lo, true, i}, event{b.hi + 1, false, i})
	}
	slices.SortFunc(evs, func(a, b event) int { return cmp.Compare(a.at, b.at) })
	active := map[int]bool{}
	var out []cell
	for i := 0; i < len(evs); {
		at := evs[i].at
		for ; i < len(evs) && evs[i].at == at; i++ {
			if evs[i].start {
				active[evs[i].i] = true
			} else {
				delete(active, evs[i].i)
			}
		}
		if len(active) == 0 || i == len(evs) {
			continue
		}
		c := cell{lo: at, hi: evs[i].at - 1, addrs: mergeActive(boxes, active)}
		if n := len(out); n > 0 && out[n-1].hi+1 == c.lo && slices.Equal(out[n-1].addrs, c.addrs) {
			out[n-1].hi = c.hi
			continue
		}
		out = append(out, c)
	}
	return out
}

// mergeActive returns the address ranges of the active boxes, cut where
// their expiry changes when some expire.
func mergeActive(boxes []box, active map[int]bool) []addrRange {
	ps := make([]netip.Prefix, 0, len(active))
	expiring := false
	for i := range active {
		ps = append(ps, boxes[i].addr)
		expiring = expiring || boxes[i].exp != 0
	}
	if !expiring {
		return mergePrefixes(ps)
	}
	pieces := make([]piece[netip.Addr], 0, len(active))
	for i := range active {
		b := boxes[i]
		pieces = append(pieces, piece[netip.Addr]{b.addr.Masked().Addr(), lastAddr(b.addr), b.exp})
	}
	var out []addrRange
	for _, p := range cover(pieces, addrAxis, lastOf(pieces[0].lo)) {
		out = append(out, addrRange{p.lo, p.hi, p.exp})
	}
	return out
}

// mergePrefixes returns the disjoint, sorted, maximal address ranges that
// the prefixes (of one family) cover.
func mergePrefixes(ps []netip.Prefix) []addrRange {
	rs := make([]addrRange, len(ps))
	for i, p := range ps {
		rs[i] = addrRange{lo: p.Masked().Addr(), hi: lastAddr(p)}
	}
	slices.SortFunc(rs, func(a, b addrRange) int { return a.lo.Compare(b.lo) })
	var out []addrRange
	for _, r := range rs {
		if n := len(out); n > 0 && touches(out[n-1], r) {
			if out[n-1].hi.Less(r.hi) {
				out[n-1].hi = r.hi
			}
			continue
		}
		out = append(out, r)
	}
	return out
}

// touches reports whether r starts inside or right after a (a.lo <= r.lo).
func touches(a, r addrRange) bool {
	next := a.hi.Next()
	return !next.IsValid() || r.lo.Compare(next) <= 0
}
