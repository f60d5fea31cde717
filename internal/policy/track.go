package policy

import (
	"net/netip"

	"palisade.dev/palisade/internal/model"
)

// Connection tracking as AWS defines it (docs/aws-semantics.md#connection-tracking):
//
//   - Every allowed flow is stateful: its replies pass in both directions
//     whatever the rules of the other direction say.
//   - A tracked flow survives the removal of the rule that allowed it, until
//     it idles out.
//   - A TCP or UDP flow is untracked when the rule that admits it allows the
//     whole address family (0.0.0.0/0 or ::/0) on its port and the other
//     direction allows the whole family on all ports for its protocol. An
//     untracked flow is cut as soon as no rule allows it any more. ICMP and
//     other protocols are always tracked.
//
// Palisade tracks every flow in the kernel; the data plane emulates the
// untracked ones by deleting their conntrack entries when a diff says so
// (Diff.Cuts).

// openSpans records, per family and per tcp/udp, the port spans that a rule
// opens to the whole family.
type openSpans struct {
	spans [2][2][]model.PortRange // [ipv6][udp]
}

func famIdx(v6 bool) int {
	if v6 {
		return 1
	}
	return 0
}

func openWorldOf(entries []*Entry) openSpans {
	var o openSpans
	for _, e := range entries {
		r := e.Rule
		if r.Peer.Kind != model.PeerCIDR || !model.IsOpenWorld(r.Peer.Prefix) {
			continue
		}
		v6 := famIdx(r.Peer.Prefix.Addr().Is6())
		for udp, proto := range []model.Proto{model.ProtoTCP, model.ProtoUDP} {
			if r.Protocol.Matches(proto) {
				span := model.AllPorts
				if !r.Protocol.IsAll() {
					span = r.Ports
				}
				o.spans[v6][udp] = append(o.spans[v6][udp], span)
			}
		}
	}
	return o
}

func (o *openSpans) covers(v6, udp int, port uint16) bool {
	for _, s := range o.spans[v6][udp] {
		if s.Contains(port) {
			return true
		}
	}
	return false
}

// allPorts reports whether one rule opens every port to the whole family.
func (o *openSpans) allPorts(v6, udp int) bool {
	for _, s := range o.spans[v6][udp] {
		if s.IsAll() {
			return true
		}
	}
	return false
}

// Tracked reports whether flow f, opened in direction d (ingress: the peer
// connects to the interface), is tracked by AWS's definition.
func (p *Policy) Tracked(d model.Direction, f Flow) bool {
	if f.Proto != model.ProtoTCP && f.Proto != model.ProtoUDP {
		return true
	}
	v6, udp := famIdx(isV6(f.Peer)), 0
	if f.Proto == model.ProtoUDP {
		udp = 1
	}
	fwd, back := p.Ingress, p.Egress
	if d == model.Egress {
		fwd, back = back, fwd
	}
	return !(fwd.open.covers(v6, udp, f.Port) && back.open.allPorts(v6, udp))
}

func isV6(a netip.Addr) bool { return a.Is6() && !a.Is4In6() }

// UntrackedClass is a class of flows that AWS does not track on one
// interface: tcp or udp, in one direction, one family, on the given ports,
// from or to anywhere.
type UntrackedClass struct {
	Direction model.Direction
	Proto     model.Proto
	IPv6      bool
	Ports     model.PortRange
}

// Untracked lists the interface's untracked flow classes.
func (p *Policy) Untracked() []UntrackedClass {
	var out []UntrackedClass
	for _, d := range []model.Direction{model.Ingress, model.Egress} {
		fwd, back := p.Side(d), p.Side(opposite(d))
		for v6 := range 2 {
			for udp, proto := range []model.Proto{model.ProtoTCP, model.ProtoUDP} {
				if !back.open.allPorts(v6, udp) {
					continue
				}
				for _, s := range fwd.open.spans[v6][udp] {
					out = append(out, UntrackedClass{d, proto, v6 == 1, s})
				}
			}
		}
	}
	return out
}

func opposite(d model.Direction) model.Direction {
	if d == model.Egress {
		return model.Ingress
	}
	return model.Egress
}
