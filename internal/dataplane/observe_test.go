package dataplane

import (
	"strings"
	"testing"
	"time"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policy"
)

// TestObserveRendersNothingWhenOff: a table without Observe has no trace
// of the observation rules (it costs nothing).
func TestObserveRendersNothingWhenOff(t *testing.T) {
	s := snapshotOf(t)
	off, err := Render(desired(s, nil))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(off, "log ") {
		t.Fatalf("observation rules without Observe:\n%s", off)
	}
	d := desired(s, nil)
	d.Observe = true
	on, err := Render(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"chain fwd_ingress {\n\t\tlog prefix \"N\" group 1 snaplen 128\n",
		`log prefix "E" group 1`, `log prefix "I" group 1`} {
		if !strings.Contains(on, want) {
			t.Errorf("Observe: no %q in\n%s", want, on)
		}
	}
}

func snapshotOf(t *testing.T) policy.Snapshot {
	t.Helper()
	web := gid(1)
	return policy.Snapshot{
		Groups: []model.SecurityGroup{group(web, in("tcp", "0.0.0.0/0", 80, 80))},
		ENIs:   []model.ENI{iface(eniID(1), gs(web), addr("10.0.0.1"))},
	}
}

// TestObserverSeesVerdicts sends real flows through an observed table: an
// accepted one arrives as Accepted (its first packet only), a blocked one
// as DroppedIngress or DroppedEgress, and conntrack counts the accepted
// flow's packets.
func TestObserverSeesVerdicts(t *testing.T) {
	t.Parallel()
	w := newTestVPC(t)
	web, narrow := gid(1), gid(2)
	a := w.instance("10.0.1.10/24", "", web)
	c := w.instance("10.0.1.12/24", "", narrow)
	h := w.host("203.0.113.7", "")
	groups := []model.SecurityGroup{
		group(web, in("tcp", "0.0.0.0/0", 80, 80)),
		group(narrow, out("tcp", "0.0.0.0/0", 80, 80)),
	}
	tcpEcho(t, a, 80)
	w.groups = groups
	d := w.desired()
	d.Observe = true
	mustApply(t, w.tbl, d)
	mustNoDrift(t, w.tbl)
	o, err := w.tbl.Observer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	got := make(chan Observed, 100)
	go func() {
		var d Decider
		for {
			ps, err := o.Read()
			if err != nil && err != ErrLost {
				close(got)
				return
			}
			for _, p := range ps {
				for _, q := range d.Add(p, time.Now()) {
					got <- q
				}
			}
			time.Sleep(2 * decideWait) // no later copy comes: the pending ones were accepted
			for _, q := range d.Flush(time.Now()) {
				got <- q
			}
		}
	}()
	expectTCP(t, h, a, false, 80, connected) // accepted
	expectTCP(t, h, a, false, 81, timedOut)  // a's ingress drops
	expectTCP(t, c, h, false, 443, timedOut) // c's egress drops
	want := map[Verdict]Observed{}
	deadline := time.After(10 * time.Second)
	for len(want) < 3 {
		select {
		case p, ok := <-got:
			if !ok {
				t.Fatal("observer stopped")
			}
			switch {
			case p.Verdict == Accepted && p.Dst == a.v4 && p.DstPort == 80 && p.Src == h.v4:
				if _, dup := want[Accepted]; dup {
					t.Errorf("second Accepted copy of one flow: %+v", p)
				}
				want[Accepted] = p
			case p.Verdict == DroppedIngress && p.Dst == a.v4 && p.DstPort == 81:
				want[DroppedIngress] = p
			case p.Verdict == DroppedEgress && p.Src == c.v4 && p.DstPort == 443:
				want[DroppedEgress] = p
			}
		case <-deadline:
			t.Fatalf("observed only %v", want)
		}
	}
	if p := want[Accepted]; p.Proto != model.ProtoTCP || p.Len == 0 || p.Time.IsZero() {
		t.Errorf("accepted copy: %+v", p)
	}
	counts, err := w.tbl.FlowCounters()
	if err != nil {
		t.Fatal(err)
	}
	var seen bool
	for k, n := range counts {
		if k.Src == h.v4 && k.Dst == a.v4 && k.DstPort == 80 && n.OrigPackets > 0 && n.ReplyPackets > 0 {
			seen = true
		}
	}
	if !seen {
		t.Errorf("conntrack has no counted flow h → a:80: %v", counts)
	}
}

// TestDecider: a first packet that passed the sender's side is accepted
// unless the receiver's drop of the same packet follows.
func TestDecider(t *testing.T) {
	now := time.Unix(1000, 0)
	pkt := func(v Verdict, dport uint16) Observed {
		return Observed{Verdict: v, Src: addr("203.0.113.7"), Dst: addr("10.0.1.10"), Proto: model.ProtoTCP, SrcPort: 40000, DstPort: dport}
	}
	var d Decider
	if got := d.Add(pkt(Passed, 22), now); len(got) != 0 {
		t.Fatalf("a passed copy decided at once: %v", got)
	}
	if got := d.Add(pkt(Passed, 23), now); len(got) != 0 {
		t.Fatalf("a passed copy decided at once: %v", got)
	}
	if got := d.Add(pkt(DroppedIngress, 23), now); len(got) != 1 || got[0].Verdict != DroppedIngress {
		t.Fatalf("the receiver's drop: %v", got)
	}
	if got := d.Flush(now.Add(decideWait / 2)); len(got) != 0 {
		t.Fatalf("decided before decideWait: %v", got)
	}
	got := d.Flush(now.Add(decideWait))
	if len(got) != 1 || got[0].Verdict != Accepted || got[0].DstPort != 22 {
		t.Fatalf("after decideWait: %v, want tcp 22 accepted (23 was dropped)", got)
	}
	d.Add(pkt(Passed, 80), now)
	if got := d.Add(pkt(Passed, 80), now); len(got) != 1 || got[0].Verdict != Accepted {
		t.Fatalf("a retransmitted first packet: the earlier one went through: %v", got)
	}
	if got := d.Add(pkt(DroppedEgress, 9), now); len(got) != 1 || got[0].Verdict != DroppedEgress {
		t.Fatalf("the sender's drop: %v", got)
	}
}
