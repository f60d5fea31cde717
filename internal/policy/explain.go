package policy

import (
	"net/netip"

	"palisade.dev/palisade/internal/model"
)

// Explanation is the whole answer to "why does (or doesn't) this new flow
// get through": both sides, with the rules that allow it or the groups
// that were evaluated and none of which allows it. It is what `palisade
// explain` prints and what the differential test checks against the
// kernel, so both read the same function: Compiled.Explain.
type Explanation struct {
	// Allowed: the first packet reaches the receiver (both sides allow it
	// and the source address is the sender's own).
	Allowed bool
	Outcome Outcome
	// Egress is the sender's outbound side, Ingress the receiver's inbound
	// side. Both are evaluated even when one of them already drops the
	// flow, so that a person sees everything that would have to change.
	Egress, Ingress SideExplanation
	// Tracked: connection tracking follows the flow at both ends (see
	// Policy.Tracked); an untracked flow is cut as soon as its rule goes.
	Tracked bool
	// Reason is PathResult.String(): the verdict in a sentence.
	Reason string
}

// UserSees is what a client observes: "timeout" when the packet is
// dropped, "connected or refused" when it reaches the instance (which of
// the two depends on whether anything listens there, not on the groups).
func (e Explanation) UserSees() string {
	if e.Allowed {
		return "connected or refused"
	}
	return "timeout"
}

// SideExplanation is one side of an Explanation.
type SideExplanation struct {
	// Outside: the end is not an interface of the snapshot (an outside
	// host, which no security group governs); the side allows everything.
	Outside bool
	ENI     model.ENIID
	Allowed bool
	// Rules are every rule of the side that allows the flow, in group and
	// rule order; empty when the side drops it.
	Rules []RuleRef
	// Groups are the groups the side evaluated (the interface's groups).
	Groups  []model.GroupID
	Tracked bool
	// Reason is Verdict.Reason(), or "outside" for an outside end.
	Reason string
}

// RuleRef names one rule and the group that holds it, with the rule as a
// person reads it ("tcp 22 from 203.0.113.5/32").
type RuleRef struct {
	Rule  model.RuleID
	Group model.GroupID
	Text  string
}

// Explain decides a new flow of protocol proto to port (as Path takes
// them) from src to dst, and explains both sides. Its verdict is Path's.
func (c *Compiled) Explain(src, dst Endpoint, proto model.Proto, port uint16) Explanation {
	path := c.Path(src, dst, proto, port)
	e := Explanation{
		Allowed: path.Outcome == Reaches,
		Outcome: path.Outcome,
		Reason:  path.String(),
		Egress:  c.explainSide(src.ENI, model.Egress, Flow{proto, dst.Addr, port}),
		Ingress: c.explainSide(dst.ENI, model.Ingress, Flow{proto, src.Addr, port}),
	}
	e.Tracked = e.Egress.Tracked && e.Ingress.Tracked
	return e
}

func (c *Compiled) explainSide(id model.ENIID, d model.Direction, f Flow) SideExplanation {
	if id == "" {
		return SideExplanation{Outside: true, Allowed: true, Tracked: true, Reason: "outside: no security group applies"}
	}
	p := c.policies[id]
	if p == nil {
		return SideExplanation{ENI: id, Reason: NoSuchInterface.String()}
	}
	v := p.Decide(d, f)
	s := SideExplanation{ENI: id, Allowed: v.Allowed, Groups: p.Groups, Tracked: p.Tracked(d, f), Reason: v.Reason()}
	prep := "from"
	if d == model.Egress {
		prep = "to"
	}
	members := func(g model.GroupID) []netip.Addr { return c.Members(g) }
	for _, en := range p.Side(d).Explain(f, members) {
		s.Rules = append(s.Rules, RuleRef{Rule: en.Rule.ID, Group: en.Group, Text: describeEntry(en, prep)})
	}
	return s
}
