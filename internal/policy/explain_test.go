package policy

import (
	"math/rand/v2"
	"slices"
	"testing"

	"palisade.dev/palisade/internal/model"
)

// TestExplainBothSides: explain evaluates both sides even when the first
// drops the flow, names every allowing rule with its group, and says what
// the user sees.
func TestExplainBothSides(t *testing.T) {
	ssh := in("tcp", "10.0.0.0/16", 22, 22)
	wide := in("tcp", "0.0.0.0/0", 0, 65535)
	web := gid(1)
	closedOut := gid(2)
	s := Snapshot{
		Groups: []model.SecurityGroup{group(web, ssh, wide, allOut4()), group(closedOut)},
		ENIs: []model.ENI{
			iface(eniID(1), gs(web), addr("10.0.1.5")),
			iface(eniID(2), gs(closedOut), addr("10.0.1.6")),
		},
	}
	c := Compile(s)
	a, b := Endpoint{eniID(1), addr("10.0.1.5")}, Endpoint{eniID(2), addr("10.0.1.6")}
	outside := Endpoint{Addr: addr("10.0.9.9")}

	e := c.Explain(outside, a, model.ProtoTCP, 22)
	if !e.Allowed || !e.Egress.Outside || !e.Ingress.Allowed || e.UserSees() != "connected or refused" {
		t.Fatalf("outside → a tcp/22: %+v", e)
	}
	if got := []model.RuleID{e.Ingress.Rules[0].Rule, e.Ingress.Rules[1].Rule}; len(e.Ingress.Rules) != 2 ||
		!slices.Equal(got, []model.RuleID{ssh.ID, wide.ID}) || e.Ingress.Rules[0].Group != web {
		t.Fatalf("ingress rules %+v, want %s and %s of %s", e.Ingress.Rules, ssh.ID, wide.ID, web)
	}
	if e.Ingress.Rules[0].Text != "tcp 22 from 10.0.0.0/16" {
		t.Errorf("rule text %q", e.Ingress.Rules[0].Text)
	}

	// b has no egress rule and a no rule for udp: both sides are reported.
	e = c.Explain(b, a, model.ProtoUDP, 53)
	if e.Allowed || e.Outcome != DroppedByEgress || e.Egress.Allowed || e.Ingress.Allowed || e.UserSees() != "timeout" {
		t.Fatalf("b → a udp/53: %+v", e)
	}
	if !slices.Equal(e.Egress.Groups, gs(closedOut)) || !slices.Equal(e.Ingress.Groups, gs(web)) || e.Egress.Rules != nil {
		t.Fatalf("evaluated groups: egress %v, ingress %v", e.Egress.Groups, e.Ingress.Groups)
	}

	// The world-open rule on both sides makes tcp/443 from anywhere untracked.
	if e := c.Explain(Endpoint{Addr: addr("198.51.100.1")}, a, model.ProtoTCP, 443); e.Tracked || e.Ingress.Tracked || !e.Egress.Tracked {
		t.Fatalf("tcp/443 from anywhere: tracked %v (ingress %v)", e.Tracked, e.Ingress.Tracked)
	}
	if e := c.Explain(Endpoint{eniID(1), addr("10.0.1.6")}, b, model.ProtoTCP, 22); e.Allowed || e.Outcome != DroppedSpoofed {
		t.Fatalf("spoofed source: %+v", e)
	}
}

// TestExplainAgreesWithPathAndDecide: on random worlds, Explain's verdict
// is Path's and each side lists rules exactly when the side allows.
func TestExplainAgreesWithPathAndDecide(t *testing.T) {
	for seed := range 100 {
		w := randomPolicy{rng: rand.New(rand.NewPCG(uint64(seed), 9)), ports: []int32{0, 22, 80, 443, 65535}}
		s := w.snapshot()
		c := Compile(s)
		for range 200 {
			from, to := s.ENIs[w.rng.IntN(len(s.ENIs))], s.ENIs[w.rng.IntN(len(s.ENIs))]
			f := w.flow()
			src, dst := Endpoint{from.ID, from.PrivateIPs[0]}, Endpoint{to.ID, to.PrivateIPs[0]}
			if f.Peer.Is6() {
				if len(from.IPv6s) == 0 || len(to.IPv6s) == 0 {
					continue
				}
				src.Addr, dst.Addr = from.IPv6s[0], to.IPv6s[0]
			}
			e := c.Explain(src, dst, f.Proto, f.Port)
			p := c.Path(src, dst, f.Proto, f.Port)
			if e.Allowed != (p.Outcome == Reaches) || e.Outcome != p.Outcome {
				t.Fatalf("seed %d: Explain %v, Path %v", seed, e.Outcome, p.Outcome)
			}
			for _, side := range []SideExplanation{e.Egress, e.Ingress} {
				if side.Allowed != (len(side.Rules) > 0) {
					t.Fatalf("seed %d %s: allowed %v with rules %v", seed, f, side.Allowed, side.Rules)
				}
			}
		}
	}
}

// An expiring rule's text says until when it allows.
func TestExplainSaysUntil(t *testing.T) {
	ssh := in("tcp", "10.0.0.0/16", 22, 22)
	ssh.Tags = model.Tags{{Key: model.ExpiresAtTag, Value: "2026-12-02T16:00:00Z"}}
	web := gid(1)
	c := Compile(Snapshot{Groups: []model.SecurityGroup{group(web, ssh, allOut4())}, ENIs: []model.ENI{iface(eniID(1), gs(web), addr("10.0.1.5"))}})
	e := c.Explain(Endpoint{Addr: addr("10.0.9.9")}, Endpoint{eniID(1), addr("10.0.1.5")}, model.ProtoTCP, 22)
	if len(e.Ingress.Rules) != 1 || e.Ingress.Rules[0].Text != "tcp 22 from 10.0.0.0/16 until 2026-12-02T16:00:00Z" {
		t.Fatalf("ingress rules %+v", e.Ingress.Rules)
	}
}
