package auth

import (
	"fmt"
	"io"
	"unicode"
	"unicode/utf8"

	"palisade.dev/palisade/internal/model"
)

// Shapes of generated credentials, as AWS issues them: an access key ID is
// "AKIA" and 16 upper-case letters and digits, a secret 40 characters of
// the base64 alphabet (240 random bits).
const (
	akidPrefix   = "AKIA"
	akidRandLen  = 16
	akidAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	secretLen    = 40
	secretChars  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
)

// Limits of given values.
const (
	maxAccountName = 64  // characters
	maxKeyLen      = 128 // bytes of an access key ID or secret, as IAM
)

// check validates a request to create an account.
func (in NewAccount) check() error {
	if err := checkAccountName(in.Name); err != nil {
		return err
	}
	if in.ID != "" {
		if _, err := model.ParseAccountID(string(in.ID)); err != nil {
			return err
		}
	}
	switch {
	case in.AccessKeyID == "" && in.Secret == "":
		return nil
	case in.AccessKeyID == "":
		return model.Errorf(model.CodeMissingParameter, "The request must contain the parameter AccessKeyId when it contains SecretAccessKey")
	case in.Secret == "":
		return model.Errorf(model.CodeMissingParameter, "The request must contain the parameter SecretAccessKey when it contains AccessKeyId")
	}
	if err := checkAccessKeyID(in.AccessKeyID); err != nil {
		return err
	}
	return checkSecret(in.Secret)
}

func checkAccountName(name string) error {
	if name == "" {
		return model.Errorf(model.CodeMissingParameter, "The request must contain the parameter Name")
	}
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxAccountName {
		return invalidValue(name, "Name", fmt.Sprintf("a name is 1 to %d characters", maxAccountName))
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return invalidValue(name, "Name", "a name has no control characters")
		}
	}
	return nil
}

// checkAccessKeyID accepts 1 to 128 letters, digits and underscores: IAM's
// character set, without IAM's minimum length of 16, so that the fixed keys
// of test suites ("FOOBARKEY" in moto, "test" in LocalStack) can be
// registered.
func checkAccessKeyID(id string) error {
	if len(id) > maxKeyLen {
		return invalidValue(id, "AccessKeyId", fmt.Sprintf("an access key ID is at most %d characters", maxKeyLen))
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return invalidValue(id, "AccessKeyId", "an access key ID holds only letters, digits and underscores")
		}
	}
	return nil
}

// checkSecret accepts 1 to 128 printable ASCII characters other than space,
// which every credentials file and environment variable can carry.
func checkSecret(s string) error {
	if len(s) > maxKeyLen {
		return model.Errorf(model.CodeInvalidParameterValue,
			"Invalid value for parameter SecretAccessKey: a secret is at most %d characters", maxKeyLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			// The secret itself is not repeated in the message.
			return model.Errorf(model.CodeInvalidParameterValue,
				"Invalid value for parameter SecretAccessKey: a secret holds only printable ASCII characters other than space")
		}
	}
	return nil
}

func invalidValue(v, param, why string) error {
	return model.Errorf(model.CodeInvalidParameterValue, "Value (%s) for parameter %s is invalid: %s", clip(v), param, why)
}

// randomAccountID draws 12 uniformly random decimal digits.
func randomAccountID(r io.Reader) (model.AccountID, error) {
	s, err := randomString(r, "0123456789", 12)
	return model.AccountID(s), err
}

// randomAccessKey draws a new access key ID and secret.
func randomAccessKey(r io.Reader) (AccessKey, error) {
	id, err := randomString(r, akidAlphabet, akidRandLen)
	if err != nil {
		return AccessKey{}, err
	}
	secret, err := randomString(r, secretChars, secretLen)
	if err != nil {
		return AccessKey{}, err
	}
	return AccessKey{ID: akidPrefix + id, Secret: secret}, nil
}

// randomString draws n characters uniformly from alphabet (at most 256
// characters), rejecting the bytes that would bias the draw.
func randomString(r io.Reader, alphabet string, n int) (string, error) {
	limit := 256 - 256%len(alphabet) // bytes below limit map uniformly
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", fmt.Errorf("random: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out), nil
}
