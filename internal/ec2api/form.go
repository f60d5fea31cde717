package ec2api

import (
	"palisade.dev/palisade/internal/auth"
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
// skip returns true. It decodes with auth.ParseQuery, the parse the
// signature is checked against.
func (f *form) addEncoded(raw string, skip func(name string) bool) error {
	pairs, err := auth.ParseQuery(raw)
	if err != nil {
		return err
	}
	return f.addPairs(pairs, skip)
}

// addPairs adds decoded pairs, skipping names for which skip returns true.
func (f *form) addPairs(pairs []auth.QueryPair, skip func(name string) bool) error {
	for _, p := range pairs {
		if skip != nil && skip(p.Name) {
			continue
		}
		if err := f.add(p.Name, p.Value); err != nil {
			return err
		}
	}
	return nil
}
