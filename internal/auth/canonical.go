package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// canonicalRequest builds the SigV4 canonical request of r, whose query
// ParseQuery decoded into query:
//
//	METHOD \n URI \n QUERY \n HEADERS(each "name:value\n") \n SIGNED;HEADERS \n PAYLOAD-HASH
//
// For a presigned request the X-Amz-Signature parameter is left out of the
// query, as the signer had not computed it yet.
func canonicalRequest(r *http.Request, query []QueryPair, signed []string, payloadHash string, presigned bool) string {
	return strings.Join([]string{
		r.Method,
		canonicalURI(r.URL),
		canonicalQuery(query, presigned),
		canonicalHeaders(r, signed),
		strings.Join(signed, ";"),
		payloadHash,
	}, "\n")
}

// canonicalURI escapes the request's escaped path once more, as every AWS
// service but S3 expects ("/a%2Fb" becomes "/a%252Fb"). An empty path is "/".
func canonicalURI(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if c := p[i]; c == '/' || unreserved(c) {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{c})))
		}
	}
	return b.String()
}

// canonicalQuery encodes every name and value with the RFC 3986 unreserved
// set kept (space as %20) and sorts the pairs by name, then value, after
// encoding.
func canonicalQuery(query []QueryPair, presigned bool) string {
	type pair struct{ k, v string }
	pairs := make([]pair, 0, len(query))
	for _, q := range query {
		if presigned && q.Name == "X-Amz-Signature" {
			continue
		}
		pairs = append(pairs, pair{queryEscape(q.Name), queryEscape(q.Value)})
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p.k + "=" + p.v
	}
	return strings.Join(parts, "&")
}

// queryEscape percent-encodes all but the RFC 3986 unreserved characters.
// url.QueryEscape does exactly that, except that it writes a space as "+".
func queryEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// canonicalHeaders renders "name:value\n" for every signed header, in the
// order of the SignedHeaders list.
func canonicalHeaders(r *http.Request, signed []string) string {
	var b strings.Builder
	for _, name := range signed {
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(headerValue(r, name))
		b.WriteByte('\n')
	}
	return b.String()
}

// headerValue returns the canonical value of one signed header: its values
// trimmed, inner runs of spaces folded to one, joined by commas. Go's server
// moves Host out of the header map into r.Host, and some requests (those
// built in process) carry their length only in r.ContentLength.
func headerValue(r *http.Request, name string) string {
	if name == "host" {
		return foldSpaces(r.Host)
	}
	vals := r.Header.Values(name)
	if len(vals) == 0 && name == "content-length" && r.ContentLength > 0 {
		return strconv.FormatInt(r.ContentLength, 10)
	}
	cleaned := make([]string, len(vals))
	for i, v := range vals {
		cleaned[i] = foldSpaces(v)
	}
	return strings.Join(cleaned, ",")
}

// foldSpaces trims s and folds each run of inner spaces into one.
func foldSpaces(s string) string {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "  ") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' && i > 0 && s[i-1] == ' ' {
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func unreserved(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// signature computes the hex SigV4 signature of a canonical request.
func signature(secret string, c Credential, amzDate, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	toSign := Algorithm + "\n" + amzDate + "\n" + c.Scope() + "\n" + hex.EncodeToString(sum[:])
	return hex.EncodeToString(hmacSHA256(signingKey(secret, c), toSign))
}

// signingKey derives the key for one day, region and service: four HMACs,
// remembered (a client signs every request of a day with the same key).
func signingKey(secret string, c Credential) []byte {
	id := derivedID{secret: secret, date: c.Date, region: c.Region, service: c.Service}
	derived.mu.Lock()
	k, ok := derived.keys[id]
	derived.mu.Unlock()
	if ok {
		return k
	}
	k = hmacSHA256([]byte("AWS4"+secret), c.Date)
	k = hmacSHA256(k, c.Region)
	k = hmacSHA256(k, c.Service)
	k = hmacSHA256(k, Terminator)
	derived.mu.Lock()
	if len(derived.keys) >= maxDerivedKeys {
		clear(derived.keys) // rare: a new day, or very many keys; derived again on use
	}
	derived.keys[id] = k
	derived.mu.Unlock()
	return k
}

// derivedID names a derived signing key; the secret is part of it, so a
// rotated or deleted key's derivation is never used for another secret.
type derivedID struct{ secret, date, region, service string }

// maxDerivedKeys bounds the derived keys remembered.
const maxDerivedKeys = 4096

var derived = struct {
	mu   sync.Mutex
	keys map[derivedID][]byte
}{keys: map[derivedID][]byte{}}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
