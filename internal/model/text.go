package model

import (
	"strings"
	"unicode/utf8"
)

// MaxTextLen is the longest group name, group description or rule
// description AWS accepts.
const MaxTextLen = 255

// groupCharset is what AWS allows in VPC security group names and
// descriptions: a-zA-Z0-9, spaces and ._-:/()#,@[]+=&;{}!$*.
const groupCharset = " ._-:/()#,@[]+=&;{}!$*"

// ruleCharset is what AWS allows in rule descriptions. The UserIdGroupPair
// documentation omits '&' where IpRange's has it; Palisade accepts '&' in
// every rule description, because rejecting on one source type and not on
// another would surprise more than it protects.
const ruleCharset = groupCharset

func allowedText(s, extra string) bool {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case r < utf8.RuneSelf && strings.ContainsRune(extra, r):
		default:
			return false
		}
	}
	return true
}

// CanonicalGroupName validates a security group name and returns it with
// trailing spaces trimmed (AWS trims them). Names are at most 255
// characters of the group charset and may not start with "sg-".
func CanonicalGroupName(s string) (string, error) {
	s = strings.TrimRight(s, " ")
	switch {
	case s == "":
		return "", Errorf(CodeMissingParameter, "The request must contain the parameter groupName")
	case len(s) > MaxTextLen:
		return "", Errorf(CodeInvalidParameterValue, "Value (%s) for parameter GroupName is invalid. Length exceeds maximum of %d.", s, MaxTextLen)
	case strings.HasPrefix(strings.ToLower(s), "sg-"):
		return "", Errorf(CodeInvalidParameterValue, "Value (%s) for parameter GroupName is invalid. Group names may not be in the format sg-*.", s)
	case !allowedText(s, groupCharset):
		return "", Errorf(CodeInvalidParameterValue,
			"Value (%s) for parameter GroupName is invalid. Valid names are a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*", s)
	}
	return s, nil
}

// SameGroupName reports whether two group names collide: names are unique
// within a VPC without regard to case (the EC2 API reference says so for
// CreateSecurityGroup's GroupName).
func SameGroupName(a, b string) bool { return strings.EqualFold(a, b) }

// CheckGroupDescription validates a security group description: required,
// at most 255 characters of the group charset.
func CheckGroupDescription(s string) error {
	switch {
	case s == "":
		return Errorf(CodeMissingParameter, "The request must contain the parameter GroupDescription")
	case len(s) > MaxTextLen:
		return Errorf(CodeInvalidParameterValue, "Value for parameter GroupDescription is invalid. Length exceeds maximum of %d.", MaxTextLen)
	case !allowedText(s, groupCharset):
		return Errorf(CodeInvalidParameterValue,
			"Value (%s) for parameter GroupDescription is invalid. Valid descriptions are a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*", s)
	}
	return nil
}

// CheckRuleDescription validates the optional description of one rule.
func CheckRuleDescription(s string) error {
	if len(s) > MaxTextLen || !allowedText(s, ruleCharset) {
		return Errorf(CodeInvalidParameterValue,
			"Invalid rule description. Valid descriptions are strings less than 256 characters from the following set:  a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*")
	}
	return nil
}

// Tag is one key/value label on a resource.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Tag limits of EC2.
const (
	MaxTagKeyLen       = 127
	MaxTagValueLen     = 255
	MaxTagsPerResource = 50
)

// CheckTag validates one tag: a key of 1 to 127 characters that does not
// start with "aws:", a value of at most 255 characters.
func CheckTag(t Tag) error {
	switch {
	case t.Key == "":
		return Errorf(CodeInvalidParameterValue, "Tag key cannot be empty.")
	case utf8.RuneCountInString(t.Key) > MaxTagKeyLen || !utf8.ValidString(t.Key):
		return Errorf(CodeInvalidParameterValue, "Tag key exceeds the maximum length of %d characters.", MaxTagKeyLen)
	case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
		return Errorf(CodeInvalidParameterValue, "Tag keys starting with 'aws:' are reserved for internal use")
	case utf8.RuneCountInString(t.Value) > MaxTagValueLen || !utf8.ValidString(t.Value):
		return Errorf(CodeInvalidParameterValue, "Tag value exceeds the maximum length of %d characters.", MaxTagValueLen)
	}
	return nil
}

// Tags is a resource's tags, at most one per key.
type Tags []Tag

// Get returns the value of key and whether it is set.
func (ts Tags) Get(key string) (string, bool) {
	for _, t := range ts {
		if t.Key == key {
			return t.Value, true
		}
	}
	return "", false
}

// Set returns ts with key set to value (replacing an existing value).
func (ts Tags) Set(key, value string) Tags {
	for i, t := range ts {
		if t.Key == key {
			out := append(Tags(nil), ts...)
			out[i].Value = value
			return out
		}
	}
	return append(append(Tags(nil), ts...), Tag{key, value})
}

// Delete returns ts without key; with value non-nil, only when the value
// matches too (DeleteTags semantics).
func (ts Tags) Delete(key string, value *string) Tags {
	out := make(Tags, 0, len(ts))
	for _, t := range ts {
		if t.Key == key && (value == nil || *value == t.Value) {
			continue
		}
		out = append(out, t)
	}
	return out
}
