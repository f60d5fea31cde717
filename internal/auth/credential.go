package auth

import (
	"strings"
	"time"
)

// Terminator ends every SigV4 credential scope.
const Terminator = "aws4_request"

// dateLayout is the YYYYMMDD date of a credential scope.
const dateLayout = "20060102"

// Credential is the Credential component of a SigV4 signature:
// "AKID/20261125/us-east-1/ec2/aws4_request". Its parts are kept as sent.
type Credential struct {
	AccessKeyID string
	Date        string // YYYYMMDD, the UTC day of the signing time
	Region      string // e.g. "us-east-1"
	Service     string // e.g. "ec2"
}

// ParseCredential parses "AKID/YYYYMMDD/region/service/aws4_request". It
// checks syntax only; whether the service, region and date are acceptable is
// for the verifier to decide. Failures are IncompleteSignature errors.
func ParseCredential(s string) (Credential, error) {
	parts := strings.SplitN(s, "/", 6)
	if len(parts) != 5 {
		return Credential{}, incomplete("Credential must have exactly 5 slash-delimited elements, "+
			"e.g. keyid/date/region/service/term, got '%s'", clip(s))
	}
	for _, p := range parts {
		if p == "" || !scopeChars(p) {
			return Credential{}, incomplete("Credential has an empty or malformed element: '%s'", clip(s))
		}
	}
	c := Credential{AccessKeyID: parts[0], Date: parts[1], Region: parts[2], Service: parts[3]}
	if _, err := time.Parse(dateLayout, c.Date); err != nil || len(c.Date) != len(dateLayout) {
		return Credential{}, incomplete("Credential date '%s' is not a date in the form YYYYMMDD", clip(c.Date))
	}
	if parts[4] != Terminator {
		return Credential{}, incomplete("Credential should be scoped with a valid terminator: '%s', not '%s'",
			Terminator, clip(parts[4]))
	}
	return c, nil
}

// Scope returns the credential scope: "YYYYMMDD/region/service/aws4_request".
func (c Credential) Scope() string {
	return c.Date + "/" + c.Region + "/" + c.Service + "/" + Terminator
}

// String renders the credential as it appears in a signature.
func (c Credential) String() string {
	return c.AccessKeyID + "/" + c.Scope()
}

// scopeChars reports whether s holds only printable ASCII other than the
// delimiters of a signature (space, comma, slash, semicolon), so that a
// parsed credential always renders back to the same text.
func scopeChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == ',' || c == '/' || c == ';' {
			return false
		}
	}
	return true
}

// validRegion reports whether s looks like an AWS region name:
// lower-case letters, digits and inner hyphens.
func validRegion(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
