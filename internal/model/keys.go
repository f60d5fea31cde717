package model

import "strings"

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
