package policy

import (
	"fmt"
	"net/netip"

	"palisade.dev/palisade/internal/model"
)

// Endpoint is one end of a path: a network interface with one of its
// addresses, or (ENI empty) a host outside the VPC, which no security group
// governs.
type Endpoint struct {
	ENI  model.ENIID
	Addr netip.Addr
}

// Outcome is what happens to the first packet of a new flow.
type Outcome uint8

// Outcomes of Path.
const (
	// Reaches: both sides allow it and it reaches the instance. Whether the
	// client then connects or is refused is up to the instance (is anything
	// listening?), not the security groups.
	Reaches Outcome = iota + 1
	// DroppedByEgress: the sender's outbound rules drop it; the client times out.
	DroppedByEgress
	// DroppedByIngress: the receiver's inbound rules drop it; the client times out.
	DroppedByIngress
	// DroppedSpoofed: the source is not an address of the sending interface.
	DroppedSpoofed
	// NoSuchInterface: an endpoint names an interface the snapshot lacks.
	NoSuchInterface
)

func (o Outcome) String() string {
	switch o {
	case Reaches:
		return "reaches the instance"
	case DroppedByEgress:
		return "timeout (dropped by the sender's outbound rules)"
	case DroppedByIngress:
		return "timeout (dropped by the receiver's inbound rules)"
	case DroppedSpoofed:
		return "timeout (dropped: source address is not the sender's own)"
	case NoSuchInterface:
		return "unknown interface"
	}
	return "unknown"
}

// UserSees is what a client observes: "connected" or "refused" when the
// packet reaches the instance (depending on listening), else "timeout".
func (o Outcome) UserSees(listening bool) string {
	switch {
	case o == Reaches && listening:
		return "connected"
	case o == Reaches:
		return "refused"
	}
	return "timeout"
}

// PathResult is the decision for a new flow from src to dst: the sender's
// egress AND the receiver's ingress. The replies of a flow that reaches the
// instance pass both ways (connection tracking), whatever the rules of the
// reverse direction say.
type PathResult struct {
	Outcome Outcome
	Egress  Verdict // the sender's outbound verdict; zero for an outside sender
	Ingress Verdict // the receiver's inbound verdict; zero for an outside receiver
	// Tracked reports, for each interface end, whether AWS tracks the flow
	// there (see Policy.Tracked); an outside end is reported as tracked.
	TrackedAtSender, TrackedAtReceiver bool
}

// String explains the result in a sentence.
func (r PathResult) String() string {
	switch r.Outcome {
	case DroppedByEgress:
		return fmt.Sprintf("%s: %s", r.Outcome, r.Egress.Reason())
	case DroppedByIngress:
		return fmt.Sprintf("%s: %s", r.Outcome, r.Ingress.Reason())
	case Reaches:
		s := r.Outcome.String()
		if r.Egress.side != nil {
			s += "; outbound " + r.Egress.Reason()
		}
		if r.Ingress.side != nil {
			s += "; inbound " + r.Ingress.Reason()
		}
		return s
	}
	return r.Outcome.String()
}

// Path decides a new flow of protocol proto to port (tcp/udp port, ICMP
// model.ICMPKey, else 0) from src to dst.
func (c *Compiled) Path(src, dst Endpoint, proto model.Proto, port uint16) PathResult {
	r := PathResult{Outcome: Reaches, TrackedAtSender: true, TrackedAtReceiver: true}
	if src.ENI != "" {
		p := c.policies[src.ENI]
		if p == nil {
			return PathResult{Outcome: NoSuchInterface}
		}
		if !ownsAddr(p, src.Addr) {
			r.Outcome = DroppedSpoofed
			return r
		}
		f := Flow{proto, dst.Addr, port}
		r.Egress = p.Decide(model.Egress, f)
		r.TrackedAtSender = p.Tracked(model.Egress, f)
		if !r.Egress.Allowed {
			r.Outcome = DroppedByEgress
			return r
		}
	}
	if dst.ENI != "" {
		p := c.policies[dst.ENI]
		if p == nil {
			return PathResult{Outcome: NoSuchInterface}
		}
		f := Flow{proto, src.Addr, port}
		r.Ingress = p.Decide(model.Ingress, f)
		r.TrackedAtReceiver = p.Tracked(model.Ingress, f)
		if !r.Ingress.Allowed {
			r.Outcome = DroppedByIngress
		}
	}
	return r
}

func ownsAddr(p *Policy, a netip.Addr) bool {
	for _, x := range p.Addrs {
		if x == a {
			return true
		}
	}
	return false
}
