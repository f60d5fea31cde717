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

// WiredRoot holds what the agents report: each host's agent writes, under
// its own prefix and nowhere else, one key per instance it has wired (its
// namespace, interfaces, routes and firewall in place), whose value is a
// WiredReport. The service, which reads them, keeps a launched or started
// instance pending until its report names the instance record it wired.
//
//	w/<host>/<account>/<region>/<instance id>
const WiredRoot = "w/"

// WiredReport is the value of a wired key: Rev is the store revision of the
// instance record that was wired (its ModRevision). A report of an older
// record (before the instance was stopped and started again) promotes
// nothing.
type WiredReport struct {
	Rev int64 `json:"rev"`
}

// WiredPrefix is the key prefix of one host's reports.
func WiredPrefix(host string) string { return WiredRoot + host + "/" }

// WiredKey is the key of host's report on an instance.
func WiredKey(host string, s Scope, id InstanceID) string {
	return WiredPrefix(host) + string(s.Account) + "/" + s.Region + "/" + string(id)
}

// ParseWiredKey splits a wired key into its host, scope and instance ID.
func ParseWiredKey(key string) (host string, scope Scope, id InstanceID, ok bool) {
	rest, ok := strings.CutPrefix(key, WiredRoot)
	if !ok {
		return "", scope, "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 4 || slices.Contains(parts, "") {
		return "", scope, "", false
	}
	return parts[0], Scope{Account: AccountID(parts[1]), Region: parts[2]}, InstanceID(parts[3]), true
}
