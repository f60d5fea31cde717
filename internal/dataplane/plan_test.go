package dataplane

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/nftables/expr"
)

// TestDiffElemsMergeMatchesByID: the sorted merge finds exactly the
// additions and deletions of the map-based diff, on random member sets,
// interval sets and verdict maps whose verdicts change.
func TestDiffElemsMergeMatchesByID(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	ids := func(es []element) []string {
		out := make([]string, len(es))
		for i, e := range es {
			out[i] = e.hexID()
		}
		slices.Sort(out)
		return out
	}
	draw := func(kind int) *set {
		s := &set{name: "s"}
		for range rng.IntN(40) {
			switch kind {
			case 0:
				s.elems = append(s.elems, plainElem(false, addrVal(netip.AddrFrom4([4]byte{10, 0, 0, byte(rng.IntN(64))}))))
			case 1:
				lo := uint16(rng.IntN(50))
				s.elems = append(s.elems, rangeElem([]value{portVal(lo)}, []value{portVal(lo + uint16(rng.IntN(3)))}, nil))
			default:
				v := &expr.Verdict{Kind: expr.VerdictGoto, Chain: fmt.Sprintf("c%d", rng.IntN(2))}
				s.elems = append(s.elems, mapElem(plainElem(false, ifaceVal(fmt.Sprintf("e%d", rng.IntN(20)))), v))
			}
		}
		sortElems(s)
		if kind == 2 { // one verdict per key, as the kernel holds it
			s.elems = slices.CompactFunc(s.elems, func(a, b element) bool { return compareElems(a, b) == 0 })
		}
		return s
	}
	changed := 0
	for i := range 3000 {
		old, cur := draw(i%3), draw(i%3)
		got, want := diffElems(old, cur), diffElemsByID(old, cur)
		if !slices.Equal(ids(got.add), ids(want.add)) || !slices.Equal(ids(got.del), ids(want.del)) {
			t.Fatalf("case %d: merge add %v del %v, by id add %v del %v", i, ids(got.add), ids(got.del), ids(want.add), ids(want.del))
		}
		changed += len(got.add) + len(got.del)
	}
	if changed == 0 {
		t.Fatal("no random pair differed")
	}
	s := draw(0)
	if d := diffElems(s, s); len(d.add)+len(d.del) != 0 {
		t.Error("a set differs from itself")
	}
}
