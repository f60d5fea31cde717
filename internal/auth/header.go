package auth

import (
	"strings"
)

// Algorithm is the only signing algorithm Palisade accepts.
const Algorithm = "AWS4-HMAC-SHA256"

// Authorization is a parsed SigV4 signature, from the Authorization header or
// from the X-Amz-* query parameters of a presigned URL.
type Authorization struct {
	Credential    Credential
	SignedHeaders []string // lower-case header names, in the order signed
	Signature     string   // 64 lower-case hex digits
}

// ParseAuthorization parses an Authorization header value:
//
//	AWS4-HMAC-SHA256 Credential=AKID/20261125/us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=<64 hex>
//
// Components may come in any order, with or without spaces after the commas.
// Each must appear exactly once; anything else is an IncompleteSignature
// error.
func ParseAuthorization(h string) (Authorization, error) {
	algo, rest, _ := strings.Cut(h, " ")
	if algo != Algorithm {
		return Authorization{}, incomplete("Unsupported AWS 'algorithm': '%s'", clip(algo))
	}
	parts := strings.SplitN(rest, ",", 4)
	if len(parts) > 3 {
		return Authorization{}, incomplete("Authorization header has more than three components: " +
			"expected Credential, SignedHeaders and Signature")
	}
	var cred, signed, sig string
	seen := map[string]bool{}
	for _, p := range parts {
		p = strings.Trim(p, " \t")
		if p == "" {
			continue // reported below as a missing component
		}
		name, value, _ := strings.Cut(p, "=")
		var dst *string
		switch name {
		case "Credential":
			dst = &cred
		case "SignedHeaders":
			dst = &signed
		case "Signature":
			dst = &sig
		default:
			return Authorization{}, incomplete("Authorization header has an unknown component '%s'", clip(name))
		}
		if seen[name] {
			return Authorization{}, incomplete("Authorization header repeats the '%s' component", name)
		}
		seen[name] = true
		*dst = value
	}
	if err := requireComponents(cred, signed, sig); err != nil {
		return Authorization{}, err
	}
	return parseComponents(cred, signed, sig)
}

// requireComponents names every missing component, the way AWS does.
func requireComponents(cred, signed, sig string) error {
	var missing []string
	for _, c := range []struct{ name, value string }{
		{"Credential", cred}, {"Signature", sig}, {"SignedHeaders", signed},
	} {
		if c.value == "" {
			missing = append(missing, "Authorization header requires '"+c.name+"' parameter.")
		}
	}
	if missing != nil {
		return incomplete("%s", strings.Join(missing, " "))
	}
	return nil
}

// parseComponents validates the three values shared by both SigV4 forms.
func parseComponents(cred, signed, sig string) (Authorization, error) {
	c, err := ParseCredential(cred)
	if err != nil {
		return Authorization{}, err
	}
	names, err := ParseSignedHeaders(signed)
	if err != nil {
		return Authorization{}, err
	}
	if !isSignature(sig) {
		return Authorization{}, incomplete("Signature must be 64 lower-case hexadecimal digits, got '%s'", clip(sig))
	}
	return Authorization{Credential: c, SignedHeaders: names, Signature: sig}, nil
}

// ParseSignedHeaders parses "host;x-amz-date": lower-case header names
// separated by semicolons, none empty or repeated.
func ParseSignedHeaders(s string) ([]string, error) {
	names := strings.Split(s, ";")
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if !isHeaderName(n) {
			return nil, incomplete("SignedHeaders has a malformed header name '%s': "+
				"names are lower-case and separated by ';'", clip(n))
		}
		if seen[n] {
			return nil, incomplete("SignedHeaders repeats the header '%s'", clip(n))
		}
		seen[n] = true
	}
	return names, nil
}

// String renders the signature as an Authorization header value, in the
// order and spacing aws-sdk-go-v2 uses.
func (a Authorization) String() string {
	return Algorithm + " Credential=" + a.Credential.String() +
		", SignedHeaders=" + strings.Join(a.SignedHeaders, ";") +
		", Signature=" + a.Signature
}

// isHeaderName reports whether s is a non-empty lower-case HTTP token.
func isHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// isSignature reports whether s is 64 lower-case hex digits.
func isSignature(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
