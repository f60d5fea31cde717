package auth

// KeyLookup resolves an access key ID to its secret and the account that owns
// it. ok is false when the key does not exist or is disabled.
type KeyLookup interface {
	LookupKey(accessKeyID string) (secret, accountID string, ok bool)
}

// KeyLookupFunc adapts a function to KeyLookup.
type KeyLookupFunc func(accessKeyID string) (secret, accountID string, ok bool)

// LookupKey calls f.
func (f KeyLookupFunc) LookupKey(accessKeyID string) (string, string, bool) {
	return f(accessKeyID)
}

// Key is one access key's secret and owning account.
type Key struct {
	Secret    string
	AccountID string // 12 digits, e.g. "123456789012"
}

// StaticKeys is a fixed set of access keys by access key ID, for
// configuration files and tests.
type StaticKeys map[string]Key

// LookupKey returns the key with the given ID.
func (s StaticKeys) LookupKey(accessKeyID string) (string, string, bool) {
	k, ok := s[accessKeyID]
	return k.Secret, k.AccountID, ok
}

var (
	_ KeyLookup = KeyLookupFunc(nil)
	_ KeyLookup = StaticKeys(nil)
)
