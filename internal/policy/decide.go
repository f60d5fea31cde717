package policy

import (
	"fmt"
	"net/netip"
	"strings"

	"palisade.dev/palisade/internal/model"
)

// Flow is the first packet of a connection as one side of an interface sees
// it. Peer is the remote address: the source for ingress, the destination
// for egress. Port is the destination port for tcp and udp, model.ICMPKey
// (type<<8|code) for icmp and icmpv6, and 0 for other protocols.
type Flow struct {
	Proto model.Proto
	Peer  netip.Addr
	Port  uint16
}

// TCP returns a TCP flow to port with peer as the remote address.
func TCP(peer netip.Addr, port uint16) Flow { return Flow{model.ProtoTCP, peer, port} }

// UDP returns a UDP flow to port.
func UDP(peer netip.Addr, port uint16) Flow { return Flow{model.ProtoUDP, peer, port} }

// ICMP returns an ICMP message of type t and code c: ICMPv6 when peer is an
// IPv6 address.
func ICMP(peer netip.Addr, t, c uint8) Flow {
	p := model.ProtoICMP
	if peer.Is6() && !peer.Is4In6() {
		p = model.ProtoICMPv6
	}
	return Flow{p, peer, model.ICMPKey(t, c)}
}

// String renders the flow's protocol and port: "tcp/22", "icmp type 8 code 0",
// "protocol 50".
func (f Flow) String() string {
	switch {
	case f.Proto.HasPorts():
		return fmt.Sprintf("%s/%d", f.Proto, f.Port)
	case f.Proto.IsICMP():
		return fmt.Sprintf("%s type %d code %d", f.Proto, f.Port>>8, f.Port&0xff)
	}
	return fmt.Sprintf("protocol %d", f.Proto)
}

// Verdict is the decision for one flow on one side of an interface.
type Verdict struct {
	Allowed bool
	// Rules are the IDs of rules that allow the flow (all those of the first
	// matching port class, computed at compile time); Explain finds every
	// one. Nil when the flow is denied.
	Rules []model.RuleID
	side  *Side
	flow  Flow
}

// Decide returns whether direction d of the interface allows the first
// packet of flow f. Its first call on a side builds the side's index;
// after that it allocates nothing, and its cost grows with the logarithm
// of the number of rules and addresses, not with their number.
func (p *Policy) Decide(d model.Direction, f Flow) Verdict {
	s, ms := p.Side(d).indexed(), p.sets(d)
	v := Verdict{side: s, flow: f}
	if x := s.byProto[f.Proto]; x != nil {
		v.Rules = x.lookup(f.Port, f.Peer, ms)
	}
	if v.Rules == nil && s.all != nil {
		v.Rules = s.all.lookup(f.Port, f.Peer, ms)
	}
	v.Allowed = v.Rules != nil
	return v
}

// Explain returns every entry of the side that allows f, in rule order: the
// complete answer for a person, at a cost linear in the rules.
func (s *Side) Explain(f Flow, members func(model.GroupID) []netip.Addr) []*Entry {
	var out []*Entry
	for _, e := range s.Entries {
		if e.Rule.Protocol.Matches(f.Proto) && e.Span.Contains(f.Port) && e.allows(f.Peer, members) {
			out = append(out, e)
		}
	}
	return out
}

func (e *Entry) allows(a netip.Addr, members func(model.GroupID) []netip.Addr) bool {
	for _, p := range e.Prefixes {
		if p.Contains(a) {
			return true
		}
	}
	if e.Rule.Peer.Kind == model.PeerGroup {
		for _, m := range members(e.Rule.Peer.Group) {
			if m == a {
				return true
			}
		}
	}
	return false
}

// Reason says in a sentence why the verdict is what it is, e.g. "no inbound
// rule of sg-0a…, sg-0b… matches tcp/22 from 198.51.100.7" or "allowed by
// sgr-0c… of sg-0a… (tcp 22 from 203.0.113.5/32)". It is rendered on
// demand, off the hot path.
func (v Verdict) Reason() string {
	if v.side == nil {
		return "no policy"
	}
	dir, prep := "inbound", "from"
	if v.side.Direction == model.Egress {
		dir, prep = "outbound", "to"
	}
	if !v.Allowed {
		if len(v.side.Groups) == 0 {
			return fmt.Sprintf("no security group on the interface allows %s (default deny)", v.flow)
		}
		return fmt.Sprintf("no %s rule of %s matches %s %s %s", dir, joinGroups(v.side.Groups), v.flow, prep, v.flow.Peer)
	}
	for _, e := range v.side.Entries {
		if e.Rule.ID == v.Rules[0] {
			return fmt.Sprintf("allowed by %s of %s (%s)", e.Rule.ID, e.Group, describeEntry(e, prep))
		}
	}
	return "allowed by " + string(v.Rules[0])
}

func joinGroups(gs []model.GroupID) string {
	s := make([]string, len(gs))
	for i, g := range gs {
		s[i] = string(g)
	}
	return strings.Join(s, ", ")
}

// describeEntry renders a rule for a person: "tcp 22 from 203.0.113.5/32",
// and "until 2026-12-02T16:00:00Z" for a rule that expires.
func describeEntry(e *Entry, prep string) string {
	r := e.Rule
	what := r.TrafficText()
	s := fmt.Sprintf("%s %s %s", what, prep, r.Peer)
	if at, ok := r.Tags.Get(model.ExpiresAtTag); ok {
		s += " until " + at
	}
	return s
}
