package model

import (
	"fmt"
	"net/netip"
	"strings"
)

// Direction says which traffic a rule governs, seen from the interface.
type Direction uint8

// The two directions of a security group.
const (
	Ingress Direction = iota + 1 // inbound: the peer is the source
	Egress                       // outbound: the peer is the destination
)

func (d Direction) String() string {
	if d == Egress {
		return "egress"
	}
	return "ingress"
}

// PeerKind is the kind of the one peer a rule has.
type PeerKind uint8

// Peer kinds.
const (
	PeerCIDR       PeerKind = iota + 1 // an IPv4 or IPv6 prefix
	PeerPrefixList                     // a managed prefix list
	PeerGroup                          // the members of a security group
)

// Peer is the source (ingress) or destination (egress) of a rule: exactly
// one prefix, prefix list or group. It is comparable.
type Peer struct {
	Kind       PeerKind     `json:"kind"`
	Prefix     netip.Prefix `json:"prefix,omitzero"`      // PeerCIDR, canonical (host bits clear)
	PrefixList PrefixListID `json:"prefixList,omitempty"` // PeerPrefixList
	Group      GroupID      `json:"group,omitempty"`      // PeerGroup
	GroupOwner AccountID    `json:"groupOwner,omitempty"` // PeerGroup: the referenced group's account
}

// CIDRPeer returns the peer for prefix p (canonicalized).
func CIDRPeer(p netip.Prefix) Peer { return Peer{Kind: PeerCIDR, Prefix: p.Masked()} }

// GroupPeer returns the peer for the members of group g owned by owner.
func GroupPeer(g GroupID, owner AccountID) Peer {
	return Peer{Kind: PeerGroup, Group: g, GroupOwner: owner}
}

// PrefixListPeer returns the peer for prefix list pl.
func PrefixListPeer(pl PrefixListID) Peer { return Peer{Kind: PeerPrefixList, PrefixList: pl} }

// IsIPv6 reports whether the peer is an IPv6 prefix.
func (p Peer) IsIPv6() bool { return p.Kind == PeerCIDR && p.Prefix.Addr().Is6() }

func (p Peer) String() string {
	switch p.Kind {
	case PeerCIDR:
		return p.Prefix.String()
	case PeerPrefixList:
		return string(p.PrefixList)
	case PeerGroup:
		return string(p.Group)
	}
	return "none"
}

// Rule is one security group rule: a direction, a protocol, ports (tcp, udp)
// or an ICMP filter (icmp, icmpv6), and exactly one peer. It is stored in
// canonical form: two rules that AWS treats as the same have equal Keys.
type Rule struct {
	ID          RuleID     `json:"id"`
	Direction   Direction  `json:"direction"`
	Protocol    Protocol   `json:"protocol"`
	Ports       PortRange  `json:"ports,omitzero"` // tcp and udp only
	ICMP        ICMPFilter `json:"icmp,omitzero"`  // icmp and icmpv6 only
	Peer        Peer       `json:"peer"`
	Description string     `json:"description,omitempty"`
	Tags        Tags       `json:"tags,omitempty"`
}

// RuleKey is what makes two rules the same rule: everything but the ID,
// description and tags.
type RuleKey struct {
	Direction Direction
	Protocol  Protocol
	Ports     PortRange
	ICMP      ICMPFilter
	Peer      Peer
}

// Key returns the identity of the rule for duplicate detection and revoke
// by value.
func (r Rule) Key() RuleKey {
	return RuleKey{r.Direction, r.Protocol, r.Ports, r.ICMP, r.Peer}
}

// PermissionKey is what DescribeSecurityGroups merges rules by into one
// IpPermission: protocol and ports.
type PermissionKey struct {
	Protocol Protocol
	Ports    PortRange
	ICMP     ICMPFilter
}

// PermissionKey returns the merge key of the rule.
func (r Rule) PermissionKey() PermissionKey { return PermissionKey{r.Protocol, r.Ports, r.ICMP} }

// Span is the rule's extent on the 16-bit port axis: its port range for tcp
// and udp, its ICMP filter's span for icmp and icmpv6, everything for other
// protocols.
func (r Rule) Span() PortRange {
	n, ok := r.Protocol.Number()
	switch {
	case ok && n.HasPorts():
		return r.Ports
	case ok && n.IsICMP():
		return r.ICMP.Span()
	}
	return AllPorts
}

// WirePorts returns FromPort and ToPort as the API shows them: ports for
// tcp/udp, type and code for icmp/icmpv6, and -1/-1 (has false, so
// DescribeSecurityGroups omits them) for every other protocol.
func (r Rule) WirePorts() (from, to int32, has bool) {
	n, ok := r.Protocol.Number()
	switch {
	case ok && n.HasPorts():
		return int32(r.Ports.From), int32(r.Ports.To), true
	case ok && n.IsICMP():
		return int32(r.ICMP.Type), int32(r.ICMP.Code), true
	}
	return -1, -1, false
}

// Describe renders the rule the way AWS quotes it in InvalidPermission.Duplicate:
// "peer: 10.0.0.0/8, TCP, from port: 22, to port: 22, ALLOW".
func (r Rule) Describe() string {
	peer := "peer: " + r.Peer.String()
	n, ok := r.Protocol.Number()
	switch {
	case !ok:
		return peer + ", ALL, ALLOW"
	case n.HasPorts():
		return fmt.Sprintf("%s, %s, from port: %d, to port: %d, ALLOW", peer, strings.ToUpper(n.String()), r.Ports.From, r.Ports.To)
	case n.IsICMP():
		return fmt.Sprintf("%s, %s, type: %d, code: %d, ALLOW", peer, strings.ToUpper(n.String()), r.ICMP.Type, r.ICMP.Code)
	}
	return fmt.Sprintf("%s, protocol: %d, ALLOW", peer, n)
}

// DuplicateError is the InvalidPermission.Duplicate error for r.
func (r Rule) DuplicateError() *Error {
	return Errorf(CodeInvalidPermissionDuplicate, "the specified rule %q already exists", r.Describe())
}

// SourceSpec is one IpRange, Ipv6Range or PrefixListId as a client sent it.
type SourceSpec struct {
	Value       string // the CIDR or prefix list ID
	Description string
}

// GroupSourceSpec is one UserIdGroupPair as a client sent it. GroupName is
// resolved to GroupID by the service before PermissionSpec.Rules is called.
type GroupSourceSpec struct {
	GroupID     string
	GroupName   string
	UserID      string
	Description string
	// VpcID and PeeringID are the referenced group's VPC and the peering
	// connection to it, as a client may send them; they name no part of
	// the rule (the service checks them against the group's VPC).
	VpcID     string
	PeeringID string
}

// PermissionSpec is one IpPermission as a client sent it: unvalidated text
// from the edge, turned into canonical Rules by Rules.
type PermissionSpec struct {
	Protocol    string
	FromPort    *int32
	ToPort      *int32
	IPv4        []SourceSpec
	IPv6        []SourceSpec
	PrefixLists []SourceSpec
	Groups      []GroupSourceSpec
}

// Rules validates the permission and expands it into one canonical rule per
// source, in the order IPv4, IPv6, prefix lists, groups. owner is the
// account of the group being changed: a group pair without UserId refers to
// that account. strict applies ModifySecurityGroupRules' stricter port
// checks. The rules have no IDs yet.
func (p PermissionSpec) Rules(dir Direction, owner AccountID, strict bool) ([]Rule, error) {
	proto, err := ParseProtocol(p.Protocol)
	if err != nil {
		return nil, err
	}
	ports, icmp, err := ParsePorts(proto, p.FromPort, p.ToPort, strict)
	if err != nil {
		return nil, err
	}
	if len(p.IPv4)+len(p.IPv6)+len(p.PrefixLists)+len(p.Groups) == 0 {
		return nil, Errorf(CodeMissingParameter, "Missing source specification: include source security group or CIDR information")
	}
	base := Rule{Direction: dir, Protocol: proto, Ports: ports, ICMP: icmp}
	var out []Rule
	add := func(peer Peer, desc string) error {
		if err := CheckRuleDescription(desc); err != nil {
			return err
		}
		r := base
		r.Peer, r.Description = peer, desc
		out = append(out, r)
		return nil
	}
	for _, s := range p.IPv4 {
		pfx, err := ParseCIDR4(s.Value)
		if err != nil {
			return nil, err
		}
		if err := add(CIDRPeer(pfx), s.Description); err != nil {
			return nil, err
		}
	}
	for _, s := range p.IPv6 {
		pfx, err := ParseCIDR6(s.Value)
		if err != nil {
			return nil, err
		}
		if err := add(CIDRPeer(pfx), s.Description); err != nil {
			return nil, err
		}
	}
	for _, s := range p.PrefixLists {
		pl, err := ParsePrefixListID(s.Value)
		if err != nil {
			return nil, err
		}
		if err := add(PrefixListPeer(pl), s.Description); err != nil {
			return nil, err
		}
	}
	for _, g := range p.Groups {
		peer, err := g.peer(owner)
		if err != nil {
			return nil, err
		}
		if err := add(peer, g.Description); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (g GroupSourceSpec) peer(owner AccountID) (Peer, error) {
	if g.GroupID == "" {
		if g.GroupName != "" {
			return Peer{}, Errorf(CodeInvalidGroupNotFound, "The security group '%s' does not exist", g.GroupName)
		}
		return Peer{}, Errorf(CodeMissingParameter, "Missing source specification: include source security group or CIDR information")
	}
	id, err := ParseGroupID(g.GroupID)
	if err != nil {
		return Peer{}, err
	}
	acct := owner
	if g.UserID != "" {
		if acct, err = ParseAccountID(g.UserID); err != nil {
			return Peer{}, err
		}
	}
	return GroupPeer(id, acct), nil
}

// CheckNoRepeats rejects a request that names the same rule twice.
func CheckNoRepeats(rules []Rule) error {
	seen := make(map[RuleKey]bool, len(rules))
	for _, r := range rules {
		k := r.Key()
		if seen[k] {
			return Errorf(CodeInvalidParameterValue, "The same permission must not appear multiple times")
		}
		seen[k] = true
	}
	return nil
}

// TrafficText names what r lets through, for people: "tcp 22",
// "udp 1000-2000", "icmp type 8 code 0", "protocol gre" or "all traffic".
func (r Rule) TrafficText() string {
	n, ok := r.Protocol.Number()
	if !ok {
		return "all traffic"
	}
	from, to, has := r.WirePorts()
	switch {
	case n.HasPorts() && from == to:
		return fmt.Sprintf("%s %d", n, from)
	case n.HasPorts():
		return fmt.Sprintf("%s %d-%d", n, from, to)
	case has:
		return fmt.Sprintf("%s type %d code %d", n, from, to)
	}
	return "protocol " + n.String()
}
