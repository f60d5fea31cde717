package model

import (
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// Kind is the kind of resource an ID names; it fixes the ID's prefix and the
// error codes for a malformed or unknown ID.
type Kind uint8

// The kinds of ID Palisade issues.
const (
	KindGroup Kind = iota + 1
	KindRule
	KindVPC
	KindSubnet
	KindInstance
	KindENI
	KindPrefixList
	KindReservation
	KindAttachment
	KindHost
	KindFlowLog
)

type kindInfo struct {
	prefix    string // "sg-"
	noun      string // used in messages: "security group"
	malformed string // EC2 code for a malformed ID
	notFound  string // EC2 code for a well-formed ID that names nothing
	notFoundF string // message for notFound, one %s
}

var kinds = [...]kindInfo{
	KindGroup:       {"sg-", "security group", CodeInvalidGroupIDMalformed, CodeInvalidGroupNotFound, "The security group '%s' does not exist"},
	KindRule:        {"sgr-", "security group rule", CodeInvalidRuleIDMalformed, CodeInvalidRuleIDNotFound, "The security group rule ID '%s' does not exist"},
	KindVPC:         {"vpc-", "vpc", CodeInvalidVpcIDMalformed, CodeInvalidVpcIDNotFound, "The vpc ID '%s' does not exist"},
	KindSubnet:      {"subnet-", "subnet", CodeInvalidSubnetIDMalformed, CodeInvalidSubnetIDNotFound, "The subnet ID '%s' does not exist"},
	KindInstance:    {"i-", "instance", CodeInvalidInstanceIDMalformed, CodeInvalidInstanceIDNotFound, "The instance ID '%s' does not exist"},
	KindENI:         {"eni-", "network interface", CodeInvalidNetworkInterfaceIDMalformed, CodeInvalidNetworkInterfaceIDNotFound, "The networkInterface ID '%s' does not exist"},
	KindPrefixList:  {"pl-", "prefix list", CodeInvalidPrefixListIDMalformed, CodeInvalidPrefixListIDNotFound, "The prefix list ID '%s' does not exist"},
	KindReservation: {"r-", "reservation", CodeInvalidParameterValue, CodeInvalidParameterValue, "The reservation ID '%s' does not exist"},
	KindAttachment:  {"eni-attach-", "attachment", CodeInvalidParameterValue, "InvalidAttachmentID.NotFound", "The attachment ID '%s' does not exist"},
	// AWS's list of codes has both InvalidHostID and InvalidHostId
	// spellings of each; these are the ones its Dedicated Host calls return.
	KindHost:    {"h-", "host", CodeInvalidHostIDMalformed, CodeInvalidHostIDNotFound, "The host ID '%s' does not exist"},
	KindFlowLog: {"fl-", "flow log", CodeInvalidFlowLogIDMalformed, CodeInvalidFlowLogIDNotFound, "These flow log ids in the input list are not found: [TotalCount: 1] %s"},
}

// Prefix is the text every ID of this kind starts with, e.g. "sg-".
func (k Kind) Prefix() string { return kinds[k].prefix }

func (k Kind) String() string { return kinds[k].noun }

// NotFound is the error for a well-formed ID of this kind that names nothing.
func (k Kind) NotFound(id string) *Error {
	return Errorf(kinds[k].notFound, kinds[k].notFoundF, id)
}

// Malformed is the error for text that cannot be an ID of this kind.
func (k Kind) Malformed(id string) *Error {
	return Errorf(kinds[k].malformed, "The %s ID '%s' is malformed", kinds[k].noun, id)
}

// IDDigits is how many hex digits a newly generated ID has; legacyIDDigits
// is the older form that AWS accounts still carry and Palisade accepts.
const (
	IDDigits       = 17
	legacyIDDigits = 8
)

// NewID generates an ID of kind k: its prefix and 17 lowercase hex digits
// drawn from rand (crypto/rand.Reader in production, a seeded source in
// tests). model reads no randomness of its own.
func NewID(k Kind, rand io.Reader) (string, error) {
	var b [9]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return "", fmt.Errorf("generate %s id: %w", k, err)
	}
	return k.Prefix() + hex.EncodeToString(b[:])[1:], nil
}

// ParseID checks that s can be an ID of kind k.
//
// Following docs/aws-semantics.md#ids, text without the kind's prefix, or whose rest
// is not lowercase hex, is malformed (e.g. InvalidGroupId.Malformed); text
// with the prefix and hex digits of a length Palisade never issues (neither
// 8 nor 17) is well formed but cannot exist, so it is reported as not found
// (InvalidGroup.NotFound for "sg-123abc", as AWS does).
func ParseID(k Kind, s string) (string, error) {
	rest, ok := strings.CutPrefix(s, k.Prefix())
	if !ok || rest == "" || !isLowerHex(rest) {
		return "", k.Malformed(s)
	}
	if len(rest) != IDDigits && len(rest) != legacyIDDigits {
		return "", k.NotFound(s)
	}
	return s, nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Typed IDs. Each is a string in its AWS format; the zero value means "none".
type (
	GroupID       string // sg-…
	RuleID        string // sgr-…
	VpcID         string // vpc-…
	SubnetID      string // subnet-…
	InstanceID    string // i-…
	ENIID         string // eni-…
	PrefixListID  string // pl-…
	ReservationID string // r-…
	AttachmentID  string // eni-attach-…
	HostID        string // h-…: a machine that runs an agent
)

// ParseGroupID parses a security group ID (see ParseID).
func ParseGroupID(s string) (GroupID, error) { v, err := ParseID(KindGroup, s); return GroupID(v), err }

// ParseRuleID parses a security group rule ID.
func ParseRuleID(s string) (RuleID, error) { v, err := ParseID(KindRule, s); return RuleID(v), err }

// ParseVpcID parses a VPC ID.
func ParseVpcID(s string) (VpcID, error) { v, err := ParseID(KindVPC, s); return VpcID(v), err }

// ParseSubnetID parses a subnet ID.
func ParseSubnetID(s string) (SubnetID, error) {
	v, err := ParseID(KindSubnet, s)
	return SubnetID(v), err
}

// ParseInstanceID parses an instance ID.
func ParseInstanceID(s string) (InstanceID, error) {
	v, err := ParseID(KindInstance, s)
	return InstanceID(v), err
}

// ParseENIID parses a network interface ID.
func ParseENIID(s string) (ENIID, error) { v, err := ParseID(KindENI, s); return ENIID(v), err }

// ParsePrefixListID parses a managed prefix list ID.
func ParsePrefixListID(s string) (PrefixListID, error) {
	v, err := ParseID(KindPrefixList, s)
	return PrefixListID(v), err
}

// ParseHostID parses a host ID.
func ParseHostID(s string) (HostID, error) { v, err := ParseID(KindHost, s); return HostID(v), err }

// IsInstanceID reports whether s is shaped like an instance ID, so that lab
// hosts can be kept from taking instance names.
func IsInstanceID(s string) bool {
	_, err := ParseID(KindInstance, s)
	return err == nil
}
