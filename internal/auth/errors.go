package auth

import (
	"palisade.dev/palisade/internal/model"
)

// Messages AWS sends verbatim for these failures.
const (
	msgMissingToken      = "Request is missing Authentication Token"
	msgUnknownKey        = "AWS was not able to validate the provided access credentials"
	msgSignatureMismatch = "The request signature we calculated does not match the signature you provided. " +
		"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgExpired = "Request has expired."
)

// maxQuoted bounds how much of a client-supplied value an error message
// repeats.
const maxQuoted = 64

func incomplete(format string, args ...any) *model.Error {
	return model.Errorf(model.CodeIncompleteSignature, format, args...)
}

func mismatch(format string, args ...any) *model.Error {
	return model.Errorf(model.CodeSignatureDoesNotMatch, format, args...)
}

// clip shortens a client-supplied value for an error message.
func clip(s string) string {
	if len(s) <= maxQuoted {
		return s
	}
	return s[:maxQuoted] + "…"
}
