package model

import (
	"slices"
	"strings"
)

// The store's key layout, shared by the service (which writes) and the
// agent (which watches). Every resource of an account in a region is one
// JSON value:
//
//	r/<account>/<region>/<kind>/<id>
const ResourceRoot = "r/"

// Key kinds: the <kind> segment of a resource key.
const (
	KeyVPC        = "vpc"
	KeySubnet     = "subnet"
	KeyGroup      = "sg"
	KeyENI        = "eni"
	KeyInstance   = "i"
	KeyPrefixList = "pl"
	KeyLabHost    = "host"
	KeyFlowLog    = "fl"
)

// IndexRoot holds the service's secondary indexes: values derived from the
// resources (which addresses of a subnet are used, which interface a
// ClientToken made, ...), written in the same transaction as the resources
// they derive from, so that a write path finds what it needs with a few
// point reads instead of listing a whole kind. They live outside
// ResourceRoot on purpose: watchers of ResourceRoot (the agent) decode
// every key there as a resource, and an index entry is none.
//
//	x/<account>/<region>/<index>/<key>
//
// The indexes and their keys are the service's business (service/index.go).
const IndexRoot = "x/"

// ExpiryRoot holds one key per security group with a rule that expires
// (model.ExpiresAtTag): the earliest expiry of its rules, RFC 3339, written
// in the same transaction as the group. The service's expiry loop watches
// it instead of every resource, so that a rule change of an ordinary group
// wakes nothing there.
//
//	e/<account>/<region>/<group id>
const ExpiryRoot = "e/"

// ExpiryKey is the expiry key of a group.
func ExpiryKey(s Scope, group string) string {
	return ExpiryRoot + string(s.Account) + "/" + s.Region + "/" + group
}

// ParseExpiryKey splits an expiry key into its scope and group ID.
func ParseExpiryKey(key string) (scope Scope, group string, ok bool) {
	rest, ok := strings.CutPrefix(key, ExpiryRoot)
	if !ok {
		return scope, "", false
	}
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" || strings.Contains(parts[2], "/") {
		return scope, "", false
	}
	return Scope{Account: AccountID(parts[0]), Region: parts[1]}, parts[2], true
}

// IndexPrefix is the key prefix of every index entry of one account and
// region.
func IndexPrefix(acct AccountID, region string) string {
	return IndexRoot + string(acct) + "/" + region + "/"
}

// ResourcePrefix is the key prefix of everything in one account and region.
func ResourcePrefix(acct AccountID, region string) string {
	return ResourceRoot + string(acct) + "/" + region + "/"
}

// ResourceKey is the key of one resource.
func ResourceKey(s Scope, kind, id string) string {
	return ResourcePrefix(s.Account, s.Region) + kind + "/" + id
}

// ParseResourceKey splits a resource key into its scope, kind and ID.
func ParseResourceKey(key string) (scope Scope, kind, id string, ok bool) {
	rest, ok := strings.CutPrefix(key, ResourceRoot)
	if !ok {
		return scope, "", "", false
	}
	parts := strings.SplitN(rest, "/", 4)
	if len(parts) != 4 || parts[0] == "" || parts[1] == "" || parts[2] == "" || parts[3] == "" {
		return scope, "", "", false
	}
	return Scope{Account: AccountID(parts[0]), Region: parts[1]}, parts[2], parts[3], true
}

// HostRoot holds what the hosts' agents write: each agent writes under its
// own host's prefix and nowhere else (an etcd role can grant exactly that),
// and reads everything else:
//
//	w/<host>/host                                   the host's record (Host): its ID and underlay
//	w/<host>/alive                                  present while the agent's lease lives
//	w/<host>/wired/<account>/<region>/<instance id> a WiredReport: the instance is wired
//	w/<host>/hits/<account>/<region>/<group id>     the host's hit counters of the group's rules
//
// <host> is the host's name (palisade agent --host). The service, which
// reads the wiring reports, keeps a launched or started instance pending
// until its report names the instance record it wired.
const HostRoot = "w/"

// Sections of a host's prefix.
const (
	hostRecordKey = "host"
	hostAliveKey  = "alive"
	hostWiredPart = "wired"
	hostHitsPart  = "hits"
)

// HostPrefix is the key prefix of everything one host's agent writes.
func HostPrefix(host string) string { return HostRoot + host + "/" }

// HostKey is the key of the host's record.
func HostKey(host string) string { return HostPrefix(host) + hostRecordKey }

// HostAliveKey is the key that lives as long as the host agent's lease.
func HostAliveKey(host string) string { return HostPrefix(host) + hostAliveKey }

// ParseHostKey says whether key is a host record's or liveness key, and
// whose.
func ParseHostKey(key string) (host string, alive, ok bool) {
	rest, ok := strings.CutPrefix(key, HostRoot)
	if !ok {
		return "", false, false
	}
	host, what, ok := strings.Cut(rest, "/")
	if !ok || host == "" || (what != hostRecordKey && what != hostAliveKey) {
		return "", false, false
	}
	return host, what == hostAliveKey, true
}

// WiredReport is the value of a wired key: Rev is the store revision of the
// instance record that was wired (its ModRevision). A report of an older
// record (before the instance was stopped and started again) promotes
// nothing.
type WiredReport struct {
	Rev int64 `json:"rev"`
}

// WiredPrefix is the key prefix of one host's wiring reports.
func WiredPrefix(host string) string { return HostPrefix(host) + hostWiredPart + "/" }

// WiredKey is the key of host's report on an instance.
func WiredKey(host string, s Scope, id InstanceID) string {
	return WiredPrefix(host) + string(s.Account) + "/" + s.Region + "/" + string(id)
}

// ParseWiredKey splits a wired key into its host, scope and instance ID.
func ParseWiredKey(key string) (host string, scope Scope, id InstanceID, ok bool) {
	host, parts, ok := parseHostSection(key, hostWiredPart)
	if !ok {
		return "", scope, "", false
	}
	return host, Scope{Account: AccountID(parts[0]), Region: parts[1]}, InstanceID(parts[2]), true
}

// HitsPrefix is the key prefix of one host's hit counters.
func HitsPrefix(host string) string { return HostPrefix(host) + hostHitsPart + "/" }

// HitsKey is the key of host's hit counters of a group's rules.
func HitsKey(host string, s Scope, id GroupID) string {
	return HitsPrefix(host) + string(s.Account) + "/" + s.Region + "/" + string(id)
}

// ParseHitsKey splits a hits key into its host, scope and group ID.
func ParseHitsKey(key string) (host string, scope Scope, id GroupID, ok bool) {
	host, parts, ok := parseHostSection(key, hostHitsPart)
	if !ok {
		return "", scope, "", false
	}
	return host, Scope{Account: AccountID(parts[0]), Region: parts[1]}, GroupID(parts[2]), true
}

// IsWiredKey reports whether key lies in a host's wiring reports
// (w/<host>/wired/…), well-formed or not.
func IsWiredKey(key string) bool {
	tail, ok := strings.CutPrefix(key, HostRoot)
	_, rest, _ := strings.Cut(tail, "/")
	return ok && strings.HasPrefix(rest, hostWiredPart+"/")
}

// parseHostSection splits w/<host>/<section>/<account>/<region>/<id>.
func parseHostSection(key, section string) (host string, rest []string, ok bool) {
	tail, ok := strings.CutPrefix(key, HostRoot)
	if !ok {
		return "", nil, false
	}
	parts := strings.Split(tail, "/")
	if len(parts) != 5 || parts[1] != section || slices.Contains(parts, "") {
		return "", nil, false
	}
	return parts[0], parts[2:], true
}
