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
// start with "aws:", a value of at most 255 characters. EC2 allows any
// character in tags, but both must be text a response can carry
// (CheckText): a tag that came back altered could never be deleted.
func CheckTag(t Tag) error {
	if t.Key == "" {
		return Errorf(CodeInvalidParameterValue, "Tag key cannot be empty.")
	}
	if err := CheckText("Tag key", t.Key); err != nil {
		return err
	}
	if err := CheckText("Tag value", t.Value); err != nil {
		return err
	}
	switch {
	case utf8.RuneCountInString(t.Key) > MaxTagKeyLen:
		return Errorf(CodeInvalidParameterValue, "Tag key exceeds the maximum length of %d characters.", MaxTagKeyLen)
	case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
		return Errorf(CodeInvalidParameterValue, "Tag keys starting with 'aws:' are reserved for internal use")
	case utf8.RuneCountInString(t.Value) > MaxTagValueLen:
		return Errorf(CodeInvalidParameterValue, "Tag value exceeds the maximum length of %d characters.", MaxTagValueLen)
	}
	return nil
}

// CheckText validates a free-form value of parameter param (a tag key or
// value, a description without a charset): it must be valid UTF-8 and hold
// only characters XML 1.0 can carry, since every response is XML. Those
// are tab, line feed, carriage return and every character from U+0020 on,
// except U+FFFE and U+FFFF (XML 1.0's Char production); Go's XML encoder
// would write anything else as U+FFFD, so the stored value and the one a
// client sees would differ. The value is not repeated in the message: it
// could not be shown faithfully either.
func CheckText(param, s string) error {
	if !utf8.ValidString(s) {
		return Errorf(CodeInvalidParameterValue, "Value for parameter %s is invalid. It is not valid UTF-8.", param)
	}
	for i, r := range s {
		if !xmlChar(r) {
			return Errorf(CodeInvalidParameterValue, "Value for parameter %s is invalid. Character U+%04X at byte %d is not allowed: "+
				"control characters other than tab, line feed and carriage return, U+FFFE and U+FFFF cannot be carried in XML.", param, r, i)
		}
	}
	return nil
}

// xmlChar reports whether r is a Char of XML 1.0 (surrogates never reach
// here: they are not valid UTF-8).
func xmlChar(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r != 0xFFFE && r != 0xFFFF
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
