package model

import "strings"

// AccountID is a 12-digit AWS account number, kept as text because leading
// zeros matter.
type AccountID string

// ParseAccountID checks that s is exactly 12 decimal digits.
func ParseAccountID(s string) (AccountID, error) {
	if len(s) != 12 || strings.Trim(s, "0123456789") != "" {
		return "", Errorf(CodeInvalidParameterValue, "Invalid account ID '%s': an account ID is 12 digits", s)
	}
	return AccountID(s), nil
}

// Account is a tenant: it sees, references and modifies only its own
// resources. The admin account may also manage other accounts.
type Account struct {
	ID    AccountID `json:"id"`
	Name  string    `json:"name"`
	Admin bool      `json:"admin,omitempty"`
}

// ValidRegion reports whether s is shaped like an AWS region name
// ("us-east-1", "eu-central-2", "us-gov-west-1"). Which regions are served
// is the service's configuration (service.Config.Regions).
func ValidRegion(s string) bool {
	parts := strings.Split(s, "-")
	if len(parts) < 3 || len(s) > 32 {
		return false
	}
	last := parts[len(parts)-1]
	if last == "" || strings.Trim(last, "0123456789") != "" {
		return false
	}
	for _, p := range parts[:len(parts)-1] {
		if p == "" || strings.Trim(p, "abcdefghijklmnopqrstuvwxyz") != "" {
			return false
		}
	}
	return true
}
