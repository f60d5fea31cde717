package model

import (
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Scope places a resource: the account that owns it and its region.
type Scope struct {
	Account AccountID `json:"account"`
	Region  string    `json:"region"`
}

// VPC is an isolated network with an IPv4 CIDR and optionally an IPv6 /56.
type VPC struct {
	Scope
	ID       VpcID        `json:"id"`
	CIDR     netip.Prefix `json:"cidr"`
	IPv6CIDR netip.Prefix `json:"ipv6Cidr,omitzero"`
	// Secondary holds the IPv4 blocks associated after creation
	// (AssociateVpcCidrBlock), oldest first.
	Secondary []CidrBlock `json:"secondary,omitempty"`
	IsDefault bool        `json:"isDefault,omitempty"`
	Tags      Tags        `json:"tags,omitempty"`
}

// CidrBlock is a secondary IPv4 block of a VPC and its association ID
// (vpc-cidr-assoc-…).
type CidrBlock struct {
	AssociationID string       `json:"associationId"`
	CIDR          netip.Prefix `json:"cidr"`
}

// IPv4Blocks returns the VPC's IPv4 blocks: the primary, then the
// secondary ones.
func (v *VPC) IPv4Blocks() []netip.Prefix {
	out := []netip.Prefix{v.CIDR}
	for _, b := range v.Secondary {
		out = append(out, b.CIDR)
	}
	return out
}

// Subnet is a range of a VPC's addresses in one availability zone.
type Subnet struct {
	Scope
	ID           SubnetID     `json:"id"`
	VPC          VpcID        `json:"vpc"`
	Zone         string       `json:"zone"`
	CIDR         netip.Prefix `json:"cidr"`
	IPv6CIDR     netip.Prefix `json:"ipv6Cidr,omitzero"`
	DefaultForAz bool         `json:"defaultForAz,omitempty"`
	// AssignIPv6OnCreation gives every new interface of the subnet an IPv6
	// address when it asks for none (AssignIpv6AddressOnCreation).
	AssignIPv6OnCreation bool `json:"assignIpv6OnCreation,omitempty"`
	// IPv6Native marks an IPv6-only subnet (Ipv6Native): no IPv4 block
	// (CIDR is zero), and its interfaces have IPv6 addresses only.
	IPv6Native bool `json:"ipv6Native,omitempty"`
	Tags       Tags `json:"tags,omitempty"`
}

// SecurityGroup is a named set of allow rules in one VPC. Its rules of both
// directions live in Rules, each with its own sgr- ID.
type SecurityGroup struct {
	Scope
	ID          GroupID `json:"id"`
	VPC         VpcID   `json:"vpc"`
	Name        string  `json:"name"`
	Description string  `json:"description"`
	Rules       []Rule  `json:"rules,omitempty"`
	Tags        Tags    `json:"tags,omitempty"`
}

// DefaultGroupName is the name of the group every VPC gets and nobody may
// delete.
const DefaultGroupName = "default"

// IsDefault reports whether g is its VPC's default group.
func (g *SecurityGroup) IsDefault() bool { return g.Name == DefaultGroupName }

// Clone returns a copy of g that shares no slice with it: the copy's rules
// and tags can be changed without changing g.
func (g SecurityGroup) Clone() SecurityGroup {
	g.Rules = slices.Clone(g.Rules)
	for i := range g.Rules {
		g.Rules[i].Tags = slices.Clone(g.Rules[i].Tags)
	}
	g.Tags = slices.Clone(g.Tags)
	return g
}

// RulesOf returns the group's rules of direction d, in stored order.
func (g *SecurityGroup) RulesOf(d Direction) []Rule {
	n := 0
	for i := range g.Rules {
		if g.Rules[i].Direction == d {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	out := make([]Rule, 0, n) // sized: rules are large, growing by append copies them twice
	for _, r := range g.Rules {
		if r.Direction == d {
			out = append(out, r)
		}
	}
	return out
}

// PrefixList is a customer-managed prefix list: a named, versioned set of
// CIDRs of one address family that rules may use as their peer.
type PrefixList struct {
	Scope
	ID         PrefixListID      `json:"id"`
	Name       string            `json:"name"`
	IPv6       bool              `json:"ipv6,omitempty"` // address family: IPv4 unless set
	MaxEntries int               `json:"maxEntries"`
	Version    int64             `json:"version"`
	Entries    []PrefixListEntry `json:"entries,omitempty"`
	Tags       Tags              `json:"tags,omitempty"`
}

// PrefixListEntry is one CIDR of a prefix list.
type PrefixListEntry struct {
	CIDR        netip.Prefix `json:"cidr"`
	Description string       `json:"description,omitempty"`
}

// InstanceState is an instance's lifecycle state, named as EC2 names it.
type InstanceState string

// Instance states with their EC2 codes (see InstanceState.Code).
const (
	StatePending      InstanceState = "pending"
	StateRunning      InstanceState = "running"
	StateShuttingDown InstanceState = "shutting-down"
	StateTerminated   InstanceState = "terminated"
	StateStopping     InstanceState = "stopping"
	StateStopped      InstanceState = "stopped"
)

// Code is the numeric state code EC2 reports beside the name.
func (s InstanceState) Code() int {
	switch s {
	case StatePending:
		return 0
	case StateRunning:
		return 16
	case StateShuttingDown:
		return 32
	case StateTerminated:
		return 48
	case StateStopping:
		return 64
	case StateStopped:
		return 80
	}
	return -1
}

// Instance is a virtual machine (in the lab, a network namespace). Its
// security groups belong to its network interfaces, not to it.
type Instance struct {
	Scope
	ID           InstanceID    `json:"id"`
	Reservation  ReservationID `json:"reservation"`
	ImageID      string        `json:"imageId"`
	InstanceType string        `json:"instanceType"`
	State        InstanceState `json:"state"`
	VPC          VpcID         `json:"vpc"`
	Subnet       SubnetID      `json:"subnet"`
	Zone         string        `json:"zone"`
	ENIs         []ENIID       `json:"enis"` // device index order; ENIs[0] is the primary (eth0)
	// Host is the host the instance is placed on (Placement.HostId); ""
	// before placement, and for instances launched where no agent wires.
	Host         HostID    `json:"host,omitempty"`
	LaunchTime   time.Time `json:"launchTime"`
	StateChanged time.Time `json:"stateChanged,omitzero"` // when State last changed (terminated instances expire an hour later)
	ClientToken  string    `json:"clientToken,omitempty"`
	Tags         Tags      `json:"tags,omitempty"`
}

// Attachment binds a network interface to an instance at a device index.
type Attachment struct {
	ID          AttachmentID `json:"id"`
	Instance    InstanceID   `json:"instance"`
	DeviceIndex int          `json:"deviceIndex"`
	AttachTime  time.Time    `json:"attachTime"`
	// DeleteOnTermination removes the interface with its instance.
	DeleteOnTermination bool `json:"deleteOnTermination,omitempty"`
}

// ConntrackTimeouts are an interface's idle timeouts in seconds for tracked
// flows; zero means the AWS default (see DefaultConntrackTimeouts).
type ConntrackTimeouts struct {
	TCPEstablished uint32 `json:"tcpEstablished,omitempty"` // 60-432000
	UDPStream      uint32 `json:"udpStream,omitempty"`      // 60-180
	UDP            uint32 `json:"udp,omitempty"`            // 30-60
}

// DefaultConntrackTimeouts are AWS's defaults (docs/aws-semantics.md#connection-tracking).
var DefaultConntrackTimeouts = ConntrackTimeouts{TCPEstablished: 432000, UDPStream: 180, UDP: 30}

// Effective fills zero fields with the defaults.
func (c ConntrackTimeouts) Effective() ConntrackTimeouts {
	d := DefaultConntrackTimeouts
	if c.TCPEstablished != 0 {
		d.TCPEstablished = c.TCPEstablished
	}
	if c.UDPStream != 0 {
		d.UDPStream = c.UDPStream
	}
	if c.UDP != 0 {
		d.UDP = c.UDP
	}
	return d
}

// CheckConntrackTimeouts validates the ranges AWS accepts (zero = unset).
func CheckConntrackTimeouts(c ConntrackTimeouts) error {
	check := func(name string, v, lo, hi uint32) error {
		if v != 0 && (v < lo || v > hi) {
			return Errorf(CodeInvalidParameterValue, "Invalid value '%d' for %s: must be between %d and %d seconds.", v, name, lo, hi)
		}
		return nil
	}
	if err := check("TcpEstablishedTimeout", c.TCPEstablished, 60, 432000); err != nil {
		return err
	}
	if err := check("UdpStreamTimeout", c.UDPStream, 60, 180); err != nil {
		return err
	}
	return check("UdpTimeout", c.UDP, 30, 60)
}

// ENI is a network interface: the thing security groups attach to. Its
// private addresses are what group references resolve to.
type ENI struct {
	Scope
	ID          ENIID             `json:"id"`
	VPC         VpcID             `json:"vpc"`
	Subnet      SubnetID          `json:"subnet"`
	Zone        string            `json:"zone"`
	Description string            `json:"description,omitempty"`
	MAC         string            `json:"mac"`
	PrivateIPs  []netip.Addr      `json:"privateIps"` // IPv4; [0] is the primary
	IPv6s       []netip.Addr      `json:"ipv6s,omitempty"`
	Groups      []GroupID         `json:"groups"`
	Attachment  *Attachment       `json:"attachment,omitempty"`
	Conntrack   ConntrackTimeouts `json:"conntrack,omitzero"`
	ClientToken string            `json:"clientToken,omitempty"`
	Tags        Tags              `json:"tags,omitempty"`
}

// Addrs returns all private addresses of the interface, IPv4 first.
func (e *ENI) Addrs() []netip.Addr {
	out := make([]netip.Addr, 0, len(e.PrivateIPs)+len(e.IPv6s))
	return append(append(out, e.PrivateIPs...), e.IPv6s...)
}

// HasAddr reports whether a is one of the interface's own addresses.
func (e *ENI) HasAddr(a netip.Addr) bool {
	for _, x := range e.PrivateIPs {
		if x == a {
			return true
		}
	}
	for _, x := range e.IPv6s {
		if x == a {
			return true
		}
	}
	return false
}

// LabHost is an "outside computer" of the lab: a network namespace with one
// address outside its VPC's CIDR, from which users try rules ("tcp 22 from
// 203.0.113.5/32") with the right and the wrong source address.
type LabHost struct {
	Scope
	Name string     `json:"name"` // the namespace name; never shaped like an instance ID
	VPC  VpcID      `json:"vpc"`
	IPv4 netip.Addr `json:"ipv4"`
	IPv6 netip.Addr `json:"ipv6,omitzero"`
	// Host is the host whose VPC router the lab host is attached to; ""
	// for the agent that wires unplaced resources (one machine).
	Host HostID `json:"host,omitempty"`
}

// Namespace is the name of the host's network namespace: its name, '.' and
// its account ID (LabHostNamespace).
func (h *LabHost) Namespace() string { return LabHostNamespace(h.Account, h.Name) }

// LabHostNamespace is the network namespace of account's lab host name:
// "<name>.<account>". Host names are unique within an account only, and
// namespace names on the machine must be unique: with the account ID
// (always the last 12 characters) in it, two accounts' hosts of the same
// name get different namespaces, and no account can take, or learn of,
// another's name.
func LabHostNamespace(acct AccountID, name string) string { return name + "." + string(acct) }

// CheckLabHostName validates the name of a lab host: a valid network
// namespace name (1 to 64 characters of a-z, A-Z, 0-9, '.', '_' and '-',
// not starting with '.' or '-') that is not shaped like an instance ID,
// since instance namespaces are named by their IDs.
func CheckLabHostName(name string) error {
	if name == "" || len(name) > 64 || name[0] == '.' || name[0] == '-' || !allowedText(name, "._-") {
		return Errorf(CodeInvalidParameterValue, "Invalid lab host name '%s': use 1 to 64 characters of a-z, A-Z, 0-9, '.', '_' and '-', not starting with '.' or '-'.", name)
	}
	if strings.HasPrefix(name, "i-") {
		return Errorf(CodeInvalidParameterValue, "Invalid lab host name '%s': names starting with 'i-' are reserved for instances.", name)
	}
	return nil
}

// Host is a machine that runs an agent, modelled on an EC2 Dedicated Host.
// Its agent writes the record under its own prefix (HostKey) when it first
// registers and keeps its ID from then on; the host is available while its
// liveness key (HostAliveKey) lives.
type Host struct {
	ID   HostID `json:"id"`
	Name string `json:"name"` // palisade agent --host; the Name tag
	// Underlay is the address the other hosts reach this one's VXLAN
	// overlay at.
	Underlay   netip.Addr `json:"underlay,omitzero"`
	Registered time.Time  `json:"registered"`
}
