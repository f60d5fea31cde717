package model

import "fmt"

// PortRange is an inclusive range of TCP or UDP ports.
type PortRange struct {
	From uint16 `json:"from"`
	To   uint16 `json:"to"`
}

// AllPorts is 0-65535.
var AllPorts = PortRange{0, 65535}

// Contains reports whether port p is in the range.
func (r PortRange) Contains(p uint16) bool { return r.From <= p && p <= r.To }

// IsAll reports whether the range covers every port.
func (r PortRange) IsAll() bool { return r == AllPorts }

func (r PortRange) String() string {
	if r.From == r.To {
		return fmt.Sprint(r.From)
	}
	return fmt.Sprintf("%d-%d", r.From, r.To)
}

// ICMPFilter selects ICMP or ICMPv6 messages by type and code; -1 means any.
// A filter with Type -1 always has Code -1.
type ICMPFilter struct {
	Type int16 `json:"type"`
	Code int16 `json:"code"`
}

// AnyICMP matches every ICMP message.
var AnyICMP = ICMPFilter{-1, -1}

// Matches reports whether a message of type t and code c is selected.
func (f ICMPFilter) Matches(t, c uint8) bool {
	return (f.Type < 0 || f.Type == int16(t)) && (f.Code < 0 || f.Code == int16(c))
}

// Span maps the filter onto the 16-bit space type<<8|code, so that ICMP
// filters and port ranges share one interval index in the policy engine.
func (f ICMPFilter) Span() PortRange {
	switch {
	case f.Type < 0:
		return AllPorts
	case f.Code < 0:
		return PortRange{uint16(f.Type) << 8, uint16(f.Type)<<8 | 0xff}
	}
	v := uint16(f.Type)<<8 | uint16(f.Code)
	return PortRange{v, v}
}

// ICMPKey is the value an ICMP message of type t and code c takes in Span's
// space.
func ICMPKey(t, c uint8) uint16 { return uint16(t)<<8 | uint16(c) }

// ParsePorts validates FromPort and ToPort (nil when absent) for protocol p
// as AWS does (docs/aws-semantics.md#ports):
//   - tcp and udp need both, each 0-65535, From <= To;
//   - icmp needs both: From is the ICMP type and To the code, each -1 to 255,
//     and a type of -1 needs a code of -1;
//   - icmpv6 takes the same, or neither (all types and codes);
//   - every other protocol, and -1, matches all ports: the values given are
//     ignored, unless strict (ModifySecurityGroupRules), where ports on -1
//     are an error.
//
// It returns the port range (tcp/udp) or the ICMP filter (icmp/icmpv6); the
// other is zero.
func ParsePorts(p Protocol, from, to *int32, strict bool) (PortRange, ICMPFilter, error) {
	n, ok := p.Number()
	switch {
	case !ok:
		if strict && (isPort(from) || isPort(to)) {
			return PortRange{}, ICMPFilter{}, Errorf(CodeInvalidParameterValue,
				"You may not specify all protocols and specific ports. Please specify each protocol and port range combination individually, or all protocols and no port range.")
		}
		return PortRange{}, ICMPFilter{}, nil
	case n.HasPorts():
		r, err := parsePortRange(from, to)
		return r, ICMPFilter{}, err
	case n == ProtoICMPv6 && from == nil && to == nil:
		return PortRange{}, AnyICMP, nil
	case n.IsICMP():
		f, err := parseICMP(from, to)
		return PortRange{}, f, err
	}
	return PortRange{}, ICMPFilter{}, nil
}

// isPort reports whether a port parameter was given with a value other than
// the -1 that means "none".
func isPort(v *int32) bool { return v != nil && *v != -1 }

func parsePortRange(from, to *int32) (PortRange, error) {
	if from == nil || to == nil {
		return PortRange{}, Errorf(CodeInvalidParameterValue,
			"Invalid value for portRange. Must specify both from and to ports with TCP/UDP.")
	}
	for _, v := range []int32{*from, *to} {
		if v < 0 || v > 65535 {
			return PortRange{}, Errorf(CodeInvalidPermissionMalformed, "TCP/UDP port (%d) out of range", v)
		}
	}
	if *from > *to {
		return PortRange{}, Errorf(CodeInvalidParameterValue,
			"Invalid TCP/UDP port range (%d-%d): the from port must not be greater than the to port.", *from, *to)
	}
	return PortRange{uint16(*from), uint16(*to)}, nil
}

func parseICMP(typ, code *int32) (ICMPFilter, error) {
	if typ == nil || code == nil {
		return ICMPFilter{}, Errorf(CodeInvalidParameterValue,
			"Invalid value for portRange. Must specify both from and to ports with ICMP.")
	}
	if *typ < -1 || *typ > 255 {
		return ICMPFilter{}, Errorf(CodeInvalidParameterValue, "Invalid ICMP type (%d): must be -1 (all types) or 0 to 255.", *typ)
	}
	if *code < -1 || *code > 255 {
		return ICMPFilter{}, Errorf(CodeInvalidParameterValue, "Invalid ICMP code (%d): must be -1 (all codes) or 0 to 255.", *code)
	}
	if *typ == -1 && *code != -1 {
		return ICMPFilter{}, Errorf(CodeInvalidParameterValue,
			"Invalid ICMP code (%d) for ICMP type -1: all types must be given with all codes (-1).", *code)
	}
	return ICMPFilter{int16(*typ), int16(*code)}, nil
}
