package service

import (
	"encoding/base64"
	"path"
	"slices"
	"strings"

	"palisade.dev/palisade/internal/model"
)

// Filter is one EC2 Filter.N: a name and values. Values of one filter are
// OR'ed, filters are AND'ed, and values may use the wildcards * and ?.
type Filter struct {
	Name   string
	Values []string
}

// fieldsFunc returns the values a resource has for a filter name, and
// whether the name is a filter of that resource type.
type fieldsFunc func(name string) ([]string, bool)

// checkFilters rejects unknown filter names before anything is matched.
// A filter without values is valid: as on AWS it matches nothing, so the
// Describe answers an empty list.
func checkFilters(filters []Filter, known fieldsFunc) error {
	for _, f := range filters {
		if _, ok := known(f.Name); !ok {
			return model.Errorf(model.CodeInvalidParameterValue, "The filter '%s' is invalid", f.Name)
		}
	}
	return nil
}

// matchFilters reports whether a resource with the given fields passes
// every filter (a filter with no values passes none).
func matchFilters(filters []Filter, fields fieldsFunc) bool {
	for _, f := range filters {
		have, _ := fields(f.Name)
		if !slices.ContainsFunc(have, func(v string) bool { return matchAny(f.Values, v) }) {
			return false
		}
	}
	return true
}

// matchAny reports whether value matches one of the patterns (* matches any
// run of characters, ? one character; matching is case-sensitive).
func matchAny(patterns []string, value string) bool {
	for _, p := range patterns {
		if !strings.ContainsAny(p, "*?") {
			if p == value {
				return true
			}
			continue
		}
		if ok, _ := path.Match(escapeForMatch(p), strings.ReplaceAll(value, "/", "\x00")); ok {
			return true
		}
	}
	return false
}

// escapeForMatch makes path.Match treat everything but * and ? literally,
// and lets * cross slashes (CIDRs contain them).
func escapeForMatch(p string) string {
	var b strings.Builder
	for _, r := range p {
		switch r {
		case '\\', '[', ']':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '/':
			b.WriteString("\x00")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// tagFields answers the tag filters shared by every resource type.
func tagFields(tags model.Tags, name string) ([]string, bool) {
	switch {
	case name == "tag-key":
		out := make([]string, len(tags))
		for i, t := range tags {
			out[i] = t.Key
		}
		return out, true
	case name == "tag-value":
		out := make([]string, len(tags))
		for i, t := range tags {
			out[i] = t.Value
		}
		return out, true
	case strings.HasPrefix(name, "tag:"):
		if v, ok := tags.Get(strings.TrimPrefix(name, "tag:")); ok {
			return []string{v}, true
		}
		return nil, true
	}
	return nil, false
}

// Page asks for one page of a Describe call.
type Page struct {
	MaxResults int32  // 0: everything
	NextToken  string // from the previous page
}

// checkPage validates MaxResults (5 to 1000 when given) and decodes the
// token into the ID to resume after.
func (p Page) check() (after string, err error) {
	if p.MaxResults != 0 && (p.MaxResults < 5 || p.MaxResults > 1000) {
		return "", model.Errorf(model.CodeInvalidParameterValue,
			"Value ( %d ) for parameter maxResults is invalid. Parameter must be between 5 and 1000.", p.MaxResults)
	}
	if p.NextToken == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(p.NextToken)
	if err != nil || !strings.HasPrefix(string(b), "v1:") {
		return "", model.Errorf(model.CodeInvalidParameterValue, "Invalid value '%s' for parameter NextToken", p.NextToken)
	}
	return strings.TrimPrefix(string(b), "v1:"), nil
}

// paginate returns the page of items (sorted by id) after the token, and
// the token of the next page. Tokens name the last ID returned, so a page
// stays correct while other writers insert or delete.
func paginate[T any](items []T, id func(T) string, p Page) ([]T, string, error) {
	after, err := p.check()
	if err != nil {
		return nil, "", err
	}
	slices.SortFunc(items, func(a, b T) int { return strings.Compare(id(a), id(b)) })
	start := 0
	if after != "" {
		start, _ = slices.BinarySearchFunc(items, after, func(x T, a string) int { return strings.Compare(id(x), a) })
		if start < len(items) && id(items[start]) == after {
			start++
		}
	}
	items = items[start:]
	if p.MaxResults == 0 || len(items) <= int(p.MaxResults) {
		return items, "", nil
	}
	items = items[:p.MaxResults]
	return items, base64.RawURLEncoding.EncodeToString([]byte("v1:" + id(items[len(items)-1]))), nil
}
