package auth

import (
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxExpires is the longest validity of a presigned URL: 7 days, as in AWS.
const maxExpires = 7 * 24 * time.Hour

// fromQuery reads the presigned (query string) form of SigV4.
func fromQuery(q url.Values) (signedRequest, error) {
	for name, vs := range q {
		if strings.HasPrefix(name, "X-Amz-") && len(vs) > 1 {
			return signedRequest{}, incomplete("The query-string parameter '%s' appears more than once", clip(name))
		}
	}
	var missing []string
	for _, name := range [...]string{ // what a presigned request must carry
		"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date", "X-Amz-SignedHeaders",
	} {
		if q.Get(name) == "" {
			missing = append(missing, "'"+name+"'")
		}
	}
	if missing != nil {
		return signedRequest{}, incomplete("AWS query-string parameters must include %s. "+
			"Re-examine the query-string parameters.", strings.Join(missing, ", "))
	}
	if algo := q.Get("X-Amz-Algorithm"); algo != Algorithm {
		return signedRequest{}, incomplete("Unsupported AWS 'algorithm': '%s'", clip(algo))
	}
	a, err := parseComponents(q.Get("X-Amz-Credential"), q.Get("X-Amz-SignedHeaders"), q.Get("X-Amz-Signature"))
	if err != nil {
		return signedRequest{}, err
	}
	s := signedRequest{auth: a, dateFrom: "X-Amz-Date", presigned: true}
	if s.amzDate, s.at, err = parseAmzDate(q.Get("X-Amz-Date")); err != nil {
		return signedRequest{}, err
	}
	if s.expires, err = parseExpires(q); err != nil {
		return signedRequest{}, err
	}
	return s, nil
}

// parseExpires reads the optional X-Amz-Expires: whole seconds, 1 to 604800.
// Without it, a presigned request is held to the clock skew like any other.
func parseExpires(q url.Values) (time.Duration, error) {
	if !q.Has("X-Amz-Expires") {
		return 0, nil
	}
	v := q.Get("X-Amz-Expires")
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 || n > int64(maxExpires/time.Second) {
		return 0, incomplete("X-Amz-Expires must be a whole number of seconds from 1 to %d, got '%s'",
			int64(maxExpires/time.Second), clip(v))
	}
	return time.Duration(n) * time.Second, nil
}
