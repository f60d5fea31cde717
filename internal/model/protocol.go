package model

import (
	"strconv"
	"strings"
)

// Proto is an IP protocol number (IANA), as in the IPv4 protocol and IPv6
// next-header fields.
type Proto uint8

// The protocols with names on the EC2 API.
const (
	ProtoICMP   Proto = 1
	ProtoTCP    Proto = 6
	ProtoUDP    Proto = 17
	ProtoICMPv6 Proto = 58
)

// String renders a protocol as EC2 shows it: tcp, udp, icmp, icmpv6, or the
// number.
func (p Proto) String() string {
	switch p {
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoICMP:
		return "icmp"
	case ProtoICMPv6:
		return "icmpv6"
	}
	return strconv.Itoa(int(p))
}

// HasPorts reports whether rules of this protocol carry a port range.
func (p Proto) HasPorts() bool { return p == ProtoTCP || p == ProtoUDP }

// IsICMP reports whether rules of this protocol carry an ICMP type and code.
func (p Proto) IsICMP() bool { return p == ProtoICMP || p == ProtoICMPv6 }

// Protocol is what a rule matches: one IP protocol, or all of them ("-1" on
// the wire). The zero value is protocol 0 (HOPOPT); use AllProtocols for -1.
type Protocol struct {
	all bool
	num Proto
}

// AllProtocols matches every IP protocol ("-1").
var AllProtocols = Protocol{all: true}

// ProtocolOf returns the Protocol matching exactly p.
func ProtocolOf(p Proto) Protocol { return Protocol{num: p} }

// IsAll reports whether the protocol is "-1".
func (p Protocol) IsAll() bool { return p.all }

// Number returns the protocol number; ok is false for AllProtocols.
func (p Protocol) Number() (n Proto, ok bool) { return p.num, !p.all }

// Is reports whether p is exactly protocol n (AllProtocols is not).
func (p Protocol) Is(n Proto) bool { return !p.all && p.num == n }

// Matches reports whether a packet of protocol n is matched by p.
func (p Protocol) Matches(n Proto) bool { return p.all || p.num == n }

// String renders the canonical wire form: "-1", "tcp", "udp", "icmp",
// "icmpv6" or a decimal number.
func (p Protocol) String() string {
	if p.all {
		return "-1"
	}
	return p.num.String()
}

// MarshalText implements encoding.TextMarshaler with the canonical form.
func (p Protocol) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseProtocol.
func (p *Protocol) UnmarshalText(b []byte) error {
	v, err := ParseProtocol(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// ParseProtocol reads the IpProtocol of a rule as AWS does
// (docs/aws-semantics.md#protocols): the names tcp, udp, icmp and icmpv6 in any case, a number from 0 to
// 255, or -1 for all. The numbers 1, 6, 17 and 58 become their names (a
// rule authorized as "6" reads back, and is matched for duplicates and
// revokes, as "tcp"). "all" is rejected: only the aws CLI maps it to -1.
func ParseProtocol(s string) (Protocol, error) {
	if s == "" {
		return Protocol{}, Errorf(CodeInvalidParameterValue,
			"Invalid value 'null' for protocol. VPC security group rules must specify protocols explicitly.")
	}
	switch strings.ToLower(s) {
	case "tcp":
		return ProtocolOf(ProtoTCP), nil
	case "udp":
		return ProtocolOf(ProtoUDP), nil
	case "icmp":
		return ProtocolOf(ProtoICMP), nil
	case "icmpv6":
		return ProtocolOf(ProtoICMPv6), nil
	case "-1":
		return AllProtocols, nil
	}
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil || s[0] == '+' {
		return Protocol{}, Errorf(CodeInvalidParameterValue, "Invalid value '%s' for IP protocol. Unknown protocol.", s)
	}
	return ProtocolOf(Proto(n)), nil
}
