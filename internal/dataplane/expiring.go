package dataplane

import (
	"net/netip"
	"slices"
	"time"

	"palisade.dev/palisade/internal/model"
)

// A rule with an expiry (model.ExpiresAtTag) becomes set elements that
// carry it as a kernel timeout, so the kernel stops admitting the rule's
// new flows at that time by itself, whether or not the control plane is
// up to revoke the rule. Elements are cells cut from the union of rules
// (addrcells.go), so one element may stand for several rules: its expiry
// is the latest of the rules that cover it, and a part covered by a rule
// without expiry has none. An expiring rule that overlaps a permanent one
// therefore never cuts the permanent one's coverage; the cells are cut
// along expiry boundaries too (cover).
//
// Only sets holding an expiring element get the timeout flag, so that a
// table without expiring rules is the table it always was. Rules that are
// not set elements (a group reference for every protocol, or for every
// port of a protocol without ports) expire in the store only.

// checkMargin: Check compares only the elements that have at least this
// long left, in the kernel and in the last Apply alike, since the kernel
// drops the others on its own (a difference of a few milliseconds between
// the two clocks then makes at most one needless rebuild).
const checkMargin = 3 * time.Second

// checked reports whether Check compares e at now (kernelElems leaves out
// the kernel's elements with less than checkMargin left alike).
func (e element) checked(now time.Time) bool {
	left, _ := e.exp.timeoutAt(now)
	return e.exp == 0 || left >= checkMargin
}

// expiry is when an element stops matching: Unix milliseconds, 0 never.
type expiry int64

// ruleExpiry returns the expiry of r.
func ruleExpiry(r model.Rule) expiry {
	at, ok := r.ExpiresAt()
	if !ok {
		return 0
	}
	return expiry(max(at.UnixMilli(), 1))
}

// later returns the later of two expiries (never is the latest).
func later(a, b expiry) expiry {
	if a == 0 || b == 0 {
		return 0
	}
	return max(a, b)
}

// timeoutAt returns the kernel timeout of an element with expiry e sent
// at now: 0 for none, and ok false when e has passed (the element must
// not be added: the kernel would keep it forever or refuse it).
func (e expiry) timeoutAt(now time.Time) (time.Duration, bool) {
	if e == 0 {
		return 0, true
	}
	d := time.Duration(int64(e)-now.UnixMilli()) * time.Millisecond
	return d, d >= time.Millisecond
}

// piece is a run [lo, hi] of points of one axis with an expiry.
type piece[T any] struct {
	lo, hi T
	exp    expiry
}

// axis is how cover walks points: compare, the next point (false past
// the last one) and the previous one.
type axis[T any] struct {
	cmp  func(a, b T) int
	next func(T) (T, bool)
	prev func(T) T
}

var addrAxis = axis[netip.Addr]{
	cmp:  func(a, b netip.Addr) int { return a.Compare(b) },
	next: func(a netip.Addr) (netip.Addr, bool) { n := a.Next(); return n, n.IsValid() },
	prev: func(a netip.Addr) netip.Addr { return a.Prev() },
}

var portAxis = axis[uint16]{
	cmp:  func(a, b uint16) int { return int(a) - int(b) },
	next: func(a uint16) (uint16, bool) { return a + 1, a != 0xffff },
	prev: func(a uint16) uint16 { return a - 1 },
}

// cover returns the disjoint, sorted, maximal runs that ps cover, each
// with the latest expiry among the pieces that cover it; last is the last
// point of the axis (for a piece that reaches it).
func cover[T any](ps []piece[T], ax axis[T], last T) []piece[T] {
	type event struct {
		at    T
		start bool
		exp   expiry
	}
	evs := make([]event, 0, 2*len(ps))
	for _, p := range ps {
		evs = append(evs, event{p.lo, true, p.exp})
		if n, ok := ax.next(p.hi); ok {
			evs = append(evs, event{n, false, p.exp})
		}
	}
	slices.SortStableFunc(evs, func(a, b event) int { return ax.cmp(a.at, b.at) })
	active := map[expiry]int{}
	var out []piece[T]
	for i := 0; i < len(evs); {
		at := evs[i].at
		for ; i < len(evs) && ax.cmp(evs[i].at, at) == 0; i++ {
			if evs[i].start {
				active[evs[i].exp]++
			} else if active[evs[i].exp]--; active[evs[i].exp] == 0 {
				delete(active, evs[i].exp)
			}
		}
		if len(active) == 0 {
			continue
		}
		hi := last
		if i < len(evs) {
			hi = ax.prev(evs[i].at)
		}
		exp := expiry(-1)
		for e := range active {
			if exp == -1 {
				exp = e
			} else {
				exp = later(exp, e)
			}
		}
		if n := len(out); n > 0 && out[n-1].exp == exp {
			if nx, ok := ax.next(out[n-1].hi); ok && ax.cmp(nx, at) == 0 {
				out[n-1].hi = hi
				continue
			}
		}
		out = append(out, piece[T]{at, hi, exp})
	}
	return out
}

// lastOf returns the last address of a's family.
func lastOf(a netip.Addr) netip.Addr {
	if a.Is4() {
		return netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	return netip.AddrFrom16([16]byte{255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255})
}
