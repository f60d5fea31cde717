package auth

import (
	"net/url"
	"strings"

	"palisade.dev/palisade/internal/model"
)

// QueryPair is one decoded name=value pair of a URL query or a form body.
type QueryPair struct {
	Name, Value string
}

// ParseQuery decodes an application/x-www-form-urlencoded string into its
// pairs, in order. It is the one parse of a request's query: the canonical
// query that the signature covers and the parameters the API acts on are
// both built from its result, so no parameter can be acted on without being
// signed.
//
// Pairs are separated by '&' only; ';' is an ordinary character, as in
// AWS's canonicalization (Go's url.ParseQuery instead drops a pair holding
// a ';', which let such a pair escape the signature). Empty pairs are
// skipped; '+' is a space. A malformed %-escape cannot be canonicalized and
// is an InvalidParameterValue error.
func ParseQuery(raw string) ([]QueryPair, error) {
	pairs, err := parseQuery(raw)
	if err != nil {
		return nil, err
	}
	return pairs, nil
}

// parseQuery is ParseQuery with its error typed.
func parseQuery(raw string) ([]QueryPair, *model.Error) {
	var pairs []QueryPair
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			return nil, malformedQuery(k, err)
		}
		value, err := url.QueryUnescape(v)
		if err != nil {
			return nil, malformedQuery(k, err)
		}
		pairs = append(pairs, QueryPair{name, value})
	}
	return pairs, nil
}

func malformedQuery(name string, err error) *model.Error {
	return model.Errorf(model.CodeInvalidParameterValue, "The request has a malformed parameter near '%s': %v",
		clip(name), err)
}

// queryValues collects pairs by name, as url.Values.
func queryValues(pairs []QueryPair) url.Values {
	vals := make(url.Values, len(pairs))
	for _, p := range pairs {
		vals[p.Name] = append(vals[p.Name], p.Value)
	}
	return vals
}
