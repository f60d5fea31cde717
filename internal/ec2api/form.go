package ec2api

import (
	"net/url"
	"strings"

	"palisade.dev/palisade/internal/model"
)

// ParseForm decodes an application/x-www-form-urlencoded string (a POST body
// or a URL query) into Params. A name given twice, more than MaxParams
// names, or a malformed %-escape is InvalidParameterValue.
func ParseForm(raw string) (*Params, error) {
	f := &form{}
	if err := f.addEncoded(raw, nil); err != nil {
		return nil, err
	}
	return &Params{form: f, at: &f.root}, nil
}

// addEncoded adds the pairs of one encoded string, skipping names for which
// skip returns true.
func (f *form) addEncoded(raw string, skip func(name string) bool) error {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			return malformed(k, err)
		}
		value, err := url.QueryUnescape(v)
		if err != nil {
			return malformed(k, err)
		}
		if skip != nil && skip(name) {
			continue
		}
		if err := f.add(name, value); err != nil {
			return err
		}
	}
	return nil
}

func malformed(name string, err error) *model.Error {
	return model.Errorf(model.CodeInvalidParameterValue, "The request has a malformed parameter near '%s': %v",
		clipValue(name), err)
}
