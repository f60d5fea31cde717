package ec2api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"palisade.dev/palisade/internal/model"
)

// internalMessage is what a client sees for any failure that is not a
// *model.Error, as EC2 words it.
const internalMessage = "An internal error has occurred"

// UnknownAction is the error for an Action the dispatcher does not serve.
func UnknownAction(action string) *model.Error {
	return model.Errorf(model.CodeInvalidAction, "The action %s is not valid for this web service.", action)
}

// Status returns the HTTP status EC2 answers with for an error code (the
// table is model's).
func Status(code string) int { return model.HTTPStatus(code) }

// wireError returns the code and message a client may see for err: those of
// the *model.Error in its chain, or InternalError for anything else.
func wireError(err error) *model.Error {
	var e *model.Error
	if !errors.As(err, &e) || e.Code == "" {
		return &model.Error{Code: model.CodeInternalError, Message: internalMessage}
	}
	return e
}

// EncodeError renders err as the EC2 error document and returns it with its
// HTTP status:
//
//	<?xml version="1.0" encoding="UTF-8"?>
//	<Response><Errors><Error><Code>…</Code><Message>…</Message></Error></Errors><RequestID>…</RequestID></Response>
func EncodeError(err error, requestID string) (status int, body []byte) {
	e := wireError(err)
	var b strings.Builder
	b.WriteString(xmlHeader)
	b.WriteString("<Response><Errors><Error><Code>")
	escapeText(&b, e.Code)
	b.WriteString("</Code><Message>")
	escapeText(&b, e.Message)
	b.WriteString("</Message></Error></Errors><RequestID>")
	escapeText(&b, requestID)
	b.WriteString("</RequestID></Response>")
	return Status(e.Code), []byte(b.String())
}

// WriteError writes err as an EC2 error response and returns the status
// written, for the caller's access log.
func WriteError(w http.ResponseWriter, err error, requestID string) int {
	status, body := EncodeError(err, requestID)
	writeXML(w, status, requestID, body)
	return status
}

// writeXML sends an XML document with the headers EC2 sends.
func writeXML(w http.ResponseWriter, status int, requestID string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/xml;charset=UTF-8")
	h.Set("X-Amzn-Requestid", requestID)
	// A known length: the response goes out unchunked, with its headers,
	// in as few writes to the socket as its size allows.
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body) // the client is gone; nothing left to tell it
}

// escapeText writes s as XML character data: markup characters escaped,
// carriage returns kept as references, and what XML 1.0 cannot carry
// (invalid UTF-8, most control characters) replaced by U+FFFD. Quotes stay
// literal, as in AWS's own error bodies.
func escapeText(b *strings.Builder, s string) {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '\r':
			b.WriteString("&#xD;")
		case r == utf8.RuneError && size == 1, !xmlChar(r):
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteRune(r)
		}
	}
}

// xmlChar reports whether r may appear in an XML 1.0 document.
func xmlChar(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' ||
		r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}
