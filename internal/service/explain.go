package service

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/policy"
)

// ExplainInput is PalisadeExplain's request as sent: each end an instance
// ID, a network interface ID or an IP address.
type ExplainInput struct {
	From, To string
	Protocol string // tcp (default), udp, icmp, icmpv6 or a number 0-255
	// Port is the destination port (tcp, udp: required) or the ICMP type
	// (icmp, icmpv6: default echo request); other protocols take none.
	Port     *int32
	ICMPCode *int32 // icmp, icmpv6: default 0
}

// ExplainEnd is one end of an explained flow as it was resolved: the
// address the flow uses and, for an interface of the caller's, where it is.
type ExplainEnd struct {
	Addr     netip.Addr
	ENI      model.ENIID // "" for an outside end
	VPC      model.VpcID
	Instance model.InstanceID // the instance the interface is attached to, if any
	State    model.InstanceState
	Device   int    // the attachment's device index
	LabHost  string // an outside end that is one of the VPC's lab hosts
	// LabHostNamespace is that lab host's network namespace.
	LabHostNamespace string
}

// SideExplanation is one side of an Explanation (for the API layer, which
// does not import policy).
type SideExplanation = policy.SideExplanation

// Explanation is what PalisadeExplain answers.
type Explanation struct {
	policy.Explanation
	From, To ExplainEnd
	Proto    model.Proto
	Port     uint16 // tcp/udp destination port, or model.ICMPKey(type, code)
}

// explainView is what explain reads from the store: the caller's groups,
// interfaces, prefix lists and lab hosts of the region.
type explainView struct {
	snap  policy.Snapshot
	hosts []model.LabHost
}

// snapshot reads the caller's groups, interfaces and prefix lists: what
// the agent compiles for the caller's VPCs (rules reference groups and
// prefix lists of the caller's account only).
func (t *tx) snapshot() (policy.Snapshot, error) {
	var s policy.Snapshot
	var err error
	if s.Groups, err = list[model.SecurityGroup](t, kindGroup); err != nil {
		return s, err
	}
	if s.ENIs, err = list[model.ENI](t, kindENI); err != nil {
		return s, err
	}
	s.PrefixLists, err = list[model.PrefixList](t, kindPL)
	return s, err
}

// Explain answers, from the same compiled policy the data plane renders,
// what happens to the first packet of a new flow between two ends, and why.
func (s *Service) Explain(ctx context.Context, c Caller, in ExplainInput) (*Explanation, error) {
	proto, port, err := explainFlow(in)
	if err != nil {
		return nil, err
	}
	var out *Explanation
	err = s.read(ctx, c, "Explain", func(t *tx) error {
		var v explainView
		var err error
		if v.snap, err = t.snapshot(); err != nil {
			return err
		}
		if v.hosts, err = list[model.LabHost](t, model.KeyLabHost); err != nil {
			return err
		}
		from, to, err := t.resolveEnds(&v, in.From, in.To, proto)
		if err != nil {
			return err
		}
		c := policy.Compile(v.snap)
		out = &Explanation{
			Explanation: c.Explain(policy.Endpoint{ENI: from.ENI, Addr: from.Addr}, policy.Endpoint{ENI: to.ENI, Addr: to.Addr}, proto, port),
			From:        from, To: to, Proto: proto, Port: port,
		}
		return nil
	})
	return out, err
}

// explainFlow reads the protocol and the port (or ICMP type and code).
func explainFlow(in ExplainInput) (model.Proto, uint16, error) {
	text := in.Protocol
	if text == "" {
		text = "tcp"
	}
	p, err := model.ParseProtocol(text)
	if err != nil {
		return 0, 0, err
	}
	proto, ok := p.Number()
	if !ok {
		return 0, 0, model.Errorf(model.CodeInvalidParameterValue, "Invalid value '-1' for Protocol: a flow has one protocol (tcp, udp, icmp, icmpv6 or a number 0-255).")
	}
	between := func(name string, v *int32, lo, hi int32) error {
		if v != nil && (*v < lo || *v > hi) {
			return model.Errorf(model.CodeInvalidParameterValue, "Invalid value '%d' for %s: must be %d to %d.", *v, name, lo, hi)
		}
		return nil
	}
	switch {
	case proto.HasPorts():
		if in.Port == nil {
			return 0, 0, model.Errorf(model.CodeMissingParameter, "The request must contain the parameter Port for protocol %s.", proto)
		}
		if in.ICMPCode != nil {
			return 0, 0, model.Errorf(model.CodeInvalidParameterCombination, "IcmpCode applies to icmp and icmpv6 only.")
		}
		return proto, uint16(*in.Port), between("Port", in.Port, 0, 65535)
	case proto.IsICMP():
		typ, code := int32(8), int32(0) // echo request
		if proto == model.ProtoICMPv6 {
			typ = 128
		}
		if in.Port != nil {
			typ = *in.Port
		}
		if in.ICMPCode != nil {
			code = *in.ICMPCode
		}
		if err := between("Port (the ICMP type)", &typ, 0, 255); err != nil {
			return 0, 0, err
		}
		return proto, model.ICMPKey(uint8(typ), uint8(code)), between("IcmpCode", &code, 0, 255)
	}
	if in.Port != nil || in.ICMPCode != nil {
		return 0, 0, model.Errorf(model.CodeInvalidParameterCombination, "Protocol %d has no ports: leave Port and IcmpCode out.", proto)
	}
	return proto, 0, nil
}

// end is one end as named, before its address family is chosen.
type end struct {
	param string
	eni   *model.ENI // nil: an address outside the caller's interfaces (or not resolved yet)
	addr  netip.Addr // the address named, if one was
	inst  *model.Instance
}

// resolveEnds finds both ends and the addresses the flow uses: the
// family of a named address, else IPv4 (IPv6 for icmpv6); a named address
// is an interface's when one of the caller's interfaces owns it (in the
// other end's VPC, when the other end is an interface).
func (t *tx) resolveEnds(v *explainView, fromText, toText string, proto model.Proto) (ExplainEnd, ExplainEnd, error) {
	from, err := t.parseEnd(v, "From", fromText)
	if err != nil {
		return ExplainEnd{}, ExplainEnd{}, err
	}
	to, err := t.parseEnd(v, "To", toText)
	if err != nil {
		return ExplainEnd{}, ExplainEnd{}, err
	}
	v6 := proto == model.ProtoICMPv6
	switch {
	case from.addr.IsValid() && to.addr.IsValid() && from.addr.Is4() != to.addr.Is4():
		return ExplainEnd{}, ExplainEnd{}, model.Errorf(model.CodeInvalidParameterCombination,
			"From (%s) and To (%s) are of different address families.", from.addr, to.addr)
	case from.addr.IsValid():
		v6 = from.addr.Is6()
	case to.addr.IsValid():
		v6 = to.addr.Is6()
	}
	if proto == model.ProtoICMP && v6 || proto == model.ProtoICMPv6 && !v6 {
		return ExplainEnd{}, ExplainEnd{}, model.Errorf(model.CodeInvalidParameterCombination,
			"Protocol %s does not match the ends' address family: use icmp for IPv4 and icmpv6 for IPv6.", proto)
	}
	if err := ownerOf(v, &from, &to); err != nil {
		return ExplainEnd{}, ExplainEnd{}, err
	}
	if err := ownerOf(v, &to, &from); err != nil {
		return ExplainEnd{}, ExplainEnd{}, err
	}
	switch {
	case from.eni == nil && to.eni == nil:
		return ExplainEnd{}, ExplainEnd{}, model.Errorf(model.CodeInvalidParameterValue,
			"Neither From (%s) nor To (%s) is a network interface of your account: no security group applies.", fromText, toText)
	case from.eni != nil && to.eni != nil && from.eni.VPC != to.eni.VPC:
		return ExplainEnd{}, ExplainEnd{}, model.Errorf(model.CodeInvalidParameterCombination,
			"%s (%s) and %s (%s) are in different VPCs, which Palisade does not connect.", from.eni.ID, from.eni.VPC, to.eni.ID, to.eni.VPC)
	}
	vpc := from.eni
	if vpc == nil {
		vpc = to.eni
	}
	a, err := t.explainEnd(v, &from, v6, vpc.VPC)
	if err != nil {
		return ExplainEnd{}, ExplainEnd{}, err
	}
	b, err := t.explainEnd(v, &to, v6, vpc.VPC)
	return a, b, err
}

// parseEnd reads one end: an instance (its primary interface), an
// interface, or an address.
func (t *tx) parseEnd(v *explainView, param, text string) (end, error) {
	e := end{param: param}
	switch {
	case text == "":
		return e, model.Errorf(model.CodeMissingParameter, "The request must contain the parameter %s.", param)
	case strings.HasPrefix(text, "i-"):
		id, err := model.ParseInstanceID(text)
		if err != nil {
			return e, err
		}
		if e.inst, err = t.instance(id); err != nil {
			return e, err
		}
		if len(e.inst.ENIs) == 0 || e.inst.State == model.StateTerminated {
			return e, model.Errorf(model.CodeInvalidParameterValue, "The instance %s has no network interface (it is %s).", id, e.inst.State)
		}
		return e, findENI(v, e.inst.ENIs[0], &e)
	case strings.HasPrefix(text, "eni-"):
		id, err := model.ParseENIID(text)
		if err != nil {
			return e, err
		}
		return e, findENI(v, id, &e)
	}
	a, err := netip.ParseAddr(text)
	if err != nil || a.Zone() != "" {
		return e, model.Errorf(model.CodeInvalidParameterValue,
			"Value (%s) for parameter %s is invalid. Expected an instance ID, a network interface ID or an IP address.", text, param)
	}
	e.addr = a.Unmap()
	return e, nil
}

func findENI(v *explainView, id model.ENIID, e *end) error {
	for i := range v.snap.ENIs {
		if v.snap.ENIs[i].ID == id {
			e.eni = &v.snap.ENIs[i]
			return nil
		}
	}
	return model.KindENI.NotFound(string(id))
}

// ownerOf finds the interface that owns e's address, if any: in other's
// VPC when other is an interface, else among all of the caller's, where
// it must be unambiguous.
func ownerOf(v *explainView, e, other *end) error {
	if e.eni != nil || !e.addr.IsValid() {
		return nil
	}
	var found []*model.ENI
	for i := range v.snap.ENIs {
		n := &v.snap.ENIs[i]
		if n.HasAddr(e.addr) && (other.eni == nil || other.eni.VPC == n.VPC) {
			found = append(found, n)
		}
	}
	switch len(found) {
	case 0:
		return nil
	case 1:
		e.eni = found[0]
		return nil
	}
	return model.Errorf(model.CodeInvalidParameterValue,
		"The address %s of %s belongs to interfaces in several VPCs (%s, %s): name the instance or the interface instead.",
		e.addr, e.param, found[0].ID, found[1].ID)
}

// explainEnd fills in the address of family v6 and where the end is.
func (t *tx) explainEnd(v *explainView, e *end, v6 bool, vpc model.VpcID) (ExplainEnd, error) {
	out := ExplainEnd{Addr: e.addr, VPC: vpc}
	if e.eni == nil {
		for _, h := range v.hosts {
			if h.VPC == vpc && (h.IPv4 == e.addr || h.IPv6 == e.addr) {
				out.LabHost, out.LabHostNamespace = h.Name, h.Namespace()
			}
		}
		return out, nil
	}
	out.ENI = e.eni.ID
	if !out.Addr.IsValid() {
		addrs := e.eni.PrivateIPs
		if v6 {
			addrs = e.eni.IPv6s
		}
		if len(addrs) == 0 {
			return out, model.Errorf(model.CodeInvalidParameterValue, "The network interface %s has no %s address.", e.eni.ID, family(v6))
		}
		out.Addr = addrs[0]
	}
	if a := e.eni.Attachment; a != nil {
		out.Instance, out.Device = a.Instance, a.DeviceIndex
		inst := e.inst
		if inst == nil {
			var err error
			if inst, err = t.instance(a.Instance); err != nil {
				return out, fmt.Errorf("instance of %s: %w", e.eni.ID, err)
			}
		}
		out.State = inst.State
	}
	return out, nil
}

func family(v6 bool) string {
	if v6 {
		return "IPv6"
	}
	return "IPv4"
}
