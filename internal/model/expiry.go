package model

import "time"

// ExpiresAtTag is the tag that makes a rule end on its own: its value is
// an RFC 3339 time, at which the rule is revoked as by
// RevokeSecurityGroupRules (the data plane's elements of the rule carry the
// same deadline as a kernel timeout, so the kernel stops admitting new
// flows then even when the control plane is down). On other resources the
// tag means nothing.
const ExpiresAtTag = "palisade:expires-at"

// ParseExpiry parses the value of an ExpiresAtTag. A value that is not RFC
// 3339, or that is not after now, is InvalidParameterValue: an expiry in
// the past is refused rather than revoking the rule at once, as AWS
// refuses a value it cannot honour; the caller learns of the mistake and
// nothing changes.
func ParseExpiry(v string, now time.Time) (time.Time, error) {
	at, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, Errorf(CodeInvalidParameterValue,
			"Value (%s) for tag %s is invalid. The value must be a time in RFC 3339 format, such as 2026-01-02T15:04:05Z.", v, ExpiresAtTag)
	}
	if !at.After(now) {
		return time.Time{}, Errorf(CodeInvalidParameterValue,
			"Value (%s) for tag %s is invalid. The time must be in the future (it is now %s).", v, ExpiresAtTag, now.UTC().Format(time.RFC3339))
	}
	return at, nil
}

// CheckExpiryTags validates the ExpiresAtTag among tags to be set on a
// rule, if there is one.
func CheckExpiryTags(tags Tags, now time.Time) error {
	if v, ok := tags.Get(ExpiresAtTag); ok {
		_, err := ParseExpiry(v, now)
		return err
	}
	return nil
}

// ExpiresAt returns when the rule ends on its own, if it does. A value
// that does not parse (only a store written before validation could hold
// one) makes no expiry.
func (r Rule) ExpiresAt() (time.Time, bool) {
	v, ok := r.Tags.Get(ExpiresAtTag)
	if !ok {
		return time.Time{}, false
	}
	at, err := time.Parse(time.RFC3339, v)
	return at, err == nil
}

// Expired reports whether the rule has an expiry at or before now.
func (r Rule) Expired(now time.Time) bool {
	at, ok := r.ExpiresAt()
	return ok && !at.After(now)
}
