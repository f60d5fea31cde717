package dataplane

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"palisade.dev/palisade/internal/labtest"
	"palisade.dev/palisade/internal/model"
)

// expiringAt gives r the expiry tag for at (RFC 3339: whole seconds).
func expiringAt(r model.Rule, at time.Time) model.Rule {
	r.Tags = model.Tags{{Key: model.ExpiresAtTag, Value: at.UTC().Format(time.RFC3339)}}
	return r
}

// An expiring rule that overlaps a permanent one must not take the
// permanent one's coverage with it: the cells are cut where the expiry
// changes, and a part that a permanent rule covers never expires.
func TestCellsCutAtExpiry(t *testing.T) {
	const soon, later = expiry(1_000), expiry(2_000)
	cs := cells([]box{
		{pfx("0.0.0.0/0"), 22, 22, soon},
		{pfx("203.0.113.0/24"), 22, 22, 0},
		{pfx("203.0.113.128/25"), 22, 22, later},
		{pfx("10.0.0.0/8"), 20, 30, later},
	})
	a := addr
	want := []cell{
		{20, 21, []addrRange{{a("10.0.0.0"), a("10.255.255.255"), later}}},
		{22, 22, []addrRange{
			{a("0.0.0.0"), a("9.255.255.255"), soon},
			{a("10.0.0.0"), a("10.255.255.255"), later},
			{a("11.0.0.0"), a("203.0.112.255"), soon},
			{a("203.0.113.0"), a("203.0.113.255"), 0},
			{a("203.0.114.0"), a("255.255.255.255"), soon},
		}},
		{23, 30, []addrRange{{a("10.0.0.0"), a("10.255.255.255"), later}}},
	}
	if !slices.EqualFunc(cs, want, func(x, y cell) bool { return x.lo == y.lo && x.hi == y.hi && slices.Equal(x.addrs, y.addrs) }) {
		t.Fatalf("cells:\n got %v\nwant %v", cs, want)
	}
	if got := mergeSpans([]span{{22, 22, soon}, {20, 25, 0}, {24, 30, later}}); !slices.Equal(got, []span{{20, 25, 0}, {26, 30, later}}) {
		t.Fatalf("spans: %v", got)
	}
}

// TestExpiringRules: the kernel stops admitting a rule's new flows at its
// expiry with nobody applying anything (the control plane down), while an
// established flow lives on and an overlapping permanent rule keeps its
// coverage; Check sees no drift, a rebuild from the stale store does not
// bring the rule back, and the revoke that follows applies.
func TestExpiringRules(t *testing.T) {
	t.Parallel()
	w := newTestVPC(t)
	web, client := gid(1), gid(2)
	a := w.instance("10.0.1.10/24", "", web)
	b := w.instance("10.0.1.11/24", "", client)
	h := w.host("203.0.113.7", "")
	h2 := w.host("198.51.100.7", "")
	tcpEcho(t, a, 22)
	tcpEcho(t, a, 80)
	at := time.Now().Add(4 * time.Second).Truncate(time.Second)
	permanent := []model.Rule{in("tcp", "203.0.113.0/24", 22, 22)}
	clientOut := group(client, allOut()...)
	stale := []model.SecurityGroup{group(web, append(slices.Clone(permanent),
		expiringAt(in("tcp", "0.0.0.0/0", 22, 22), at),
		expiringAt(in("tcp", "198.51.100.0/24", 80, 80), at),
		expiringAt(in("tcp", string(client), 80, 80), at))...), clientOut}
	w.apply(stale...)
	mustNoDrift(t, w.tbl)
	expectTCP(t, h2, a, false, 22, connected)
	expectTCP(t, h2, a, false, 80, connected)
	expectTCP(t, b, a, false, 80, connected)
	est, err := labtest.Dial(h2.ns, netip.AddrPortFrom(a.v4, 22), okWait)
	if err != nil {
		t.Fatal(err)
	}
	defer est.Close()
	if err := est.RoundTrip(okWait); err != nil {
		t.Fatal(err)
	}

	time.Sleep(time.Until(at) + 100*time.Millisecond)
	t.Run("at expiry, with nothing applied", func(t *testing.T) {
		expectTCP(t, h2, a, false, 22, timedOut)
		expectTCP(t, h2, a, false, 80, timedOut)
		expectTCP(t, b, a, false, 80, timedOut)
		expectTCP(t, h, a, false, 22, connected) // the permanent rule's part
		if err := est.RoundTrip(okWait); err != nil {
			t.Errorf("established flow cut at expiry: %v", err)
		}
		w.tbl.genKnown = false // compare with the kernel, not the generation
		mustNoDrift(t, w.tbl)
	})
	t.Run("a rebuild from a store that still holds the rules", func(t *testing.T) {
		w.tbl.last = nil // as after drift or a restart
		w.apply(stale...)
		expectTCP(t, h2, a, false, 22, timedOut)
		expectTCP(t, h, a, false, 22, connected)
		w.tbl.genKnown = false
		mustNoDrift(t, w.tbl)
	})
	t.Run("the revoke applies", func(t *testing.T) {
		w.apply(group(web, permanent...), clientOut)
		mustNoDrift(t, w.tbl)
		expectTCP(t, h, a, false, 22, connected)
		expectTCP(t, h2, a, false, 22, timedOut)
	})
}

// A rule whose expiry has passed (the store still holds it: serve has not
// revoked it yet) sends no element, even in a set large enough for Apply
// to count back from the kernel, and Check agrees.
func TestExpiredRulesSendNothing(t *testing.T) {
	t.Parallel()
	w := newTestVPC(t)
	web := gid(1)
	w.instance("10.0.1.10/24", "", web)
	past := time.Now().Add(-time.Hour)
	rules := []model.Rule{in("tcp", "203.0.113.0/24", 22, 22)}
	for i := range bulkMin + 10 { // addresses not adjacent: one cell each
		a := netip.AddrFrom4([4]byte{10, 9, byte(2 * i >> 8), byte(2 * i)})
		rules = append(rules, expiringAt(in("tcp", a.String()+"/32", 22, 22), past))
	}
	w.apply(group(web, rules...))
	w.tbl.genKnown = false
	mustNoDrift(t, w.tbl)
	raw, err := w.tbl.rawConn()
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	name := groupSetName(web, model.Ingress, "t", false)
	ids, err := kernelElems(raw, name)
	if err != nil || len(ids) != 1 {
		t.Fatalf("set %s holds %d elements (%v), want the permanent rule's 1", name, len(ids), err)
	}
}

// Moving a rule's expiry (create-tags) replaces its elements in one batch
// (destroy, then add with the new timeout): later, the rule outlives its
// old time; sooner, it ends at the new one.
func TestExpiryMoves(t *testing.T) {
	t.Parallel()
	w := newTestVPC(t)
	web := gid(1)
	a := w.instance("10.0.1.10/24", "", web)
	h := w.host("198.51.100.7", "")
	tcpEcho(t, a, 22)
	rule := in("tcp", "198.51.100.0/24", 22, 22)
	first := time.Now().Add(3 * time.Second).Truncate(time.Second)
	w.apply(group(web, expiringAt(rule, first)))
	expectTCP(t, h, a, false, 22, connected)
	if res := w.apply(group(web, expiringAt(rule, first.Add(time.Hour)))); res.Full {
		t.Errorf("moving an expiry rebuilt the table: %+v", res)
	}
	mustNoDrift(t, w.tbl)
	time.Sleep(time.Until(first) + 200*time.Millisecond)
	expectTCP(t, h, a, false, 22, connected)
	sooner := time.Now().Add(2 * time.Second).Truncate(time.Second)
	w.apply(group(web, expiringAt(rule, sooner)))
	expectTCP(t, h, a, false, 22, connected)
	time.Sleep(time.Until(sooner) + 200*time.Millisecond)
	expectTCP(t, h, a, false, 22, timedOut)
	w.tbl.genKnown = false
	mustNoDrift(t, w.tbl)
}
