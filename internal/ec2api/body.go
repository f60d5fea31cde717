package ec2api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"time"

	"golang.org/x/sync/semaphore"

	"palisade.dev/palisade/internal/model"
)

// Bounds on the request bodies a server holds in memory. A body is read
// only once its access key is known (see Server.serve), but a key ID is no
// secret, so a client that names one may still send bodies it cannot sign.
const (
	// DefaultBodyBudget is how many bytes of request bodies, beyond each
	// request's freeBody, all requests together may hold at once.
	DefaultBodyBudget = 8 << 20
	// freeBody is what each request reads without drawing on the budget:
	// every ordinary EC2 call fits, so a client exhausting the budget with
	// large bodies does not slow ordinary calls down. Its total is bounded
	// by the number of connections (serve caps them).
	freeBody = 8 << 10
	// budgetWait is how long a request waits for budget before it is
	// answered RequestLimitExceeded (HTTP 503), which SDKs retry with
	// backoff: a burst is absorbed, a flood is pushed back on its senders.
	budgetWait = time.Second
)

// bodyBudget is the server-wide budget of body bytes in memory.
type bodyBudget struct {
	sem  *semaphore.Weighted
	wait time.Duration
}

func newBodyBudget(bytes int64) *bodyBudget {
	return &bodyBudget{sem: semaphore.NewWeighted(bytes), wait: budgetWait}
}

// read reads r's body, up to limit bytes, hashing it as it streams in, and
// returns it with its hex SHA-256. The buffer grows with what arrives (a
// claimed Content-Length reserves nothing), and its growth beyond freeBody
// is drawn from the budget; release gives it back and must be called once
// the body is no longer used, error or not. A body over limit is
// InvalidParameterValue, a budget that stays exhausted RequestLimitExceeded.
func (b *bodyBudget) read(r *http.Request, limit int64) (body []byte, hash string, release func(), err error) {
	var held int64
	release = func() {
		b.sem.Release(held)
		held = 0
	}
	h := sha256.New()
	if r.Body == nil || r.Body == http.NoBody {
		return nil, hex.EncodeToString(h.Sum(nil)), release, nil
	}
	if r.ContentLength > limit {
		return nil, "", release, bodyTooLarge(limit)
	}
	buf := make([]byte, 0, firstCap(r.ContentLength))
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > limit {
				return nil, "", release, bodyTooLarge(limit)
			}
			next := min(2*cap(buf), int(limit)+1)
			charge := max(int64(next-freeBody), 0)
			if err := b.draw(r.Context(), charge-held); err != nil {
				return nil, "", release, err
			}
			held = max(held, charge)
			buf = append(make([]byte, 0, next), buf...)
		}
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		h.Write(buf[len(buf) : len(buf)+n])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, "", release, err
		}
	}
	if int64(len(buf)) > limit {
		return nil, "", release, bodyTooLarge(limit)
	}
	return buf, hex.EncodeToString(h.Sum(nil)), release, nil
}

// firstCap is the first buffer size: the claimed length and one byte to
// see the end, within freeBody.
func firstCap(contentLength int64) int {
	if contentLength < 0 || contentLength >= freeBody {
		return freeBody
	}
	return max(int(contentLength)+1, 512)
}

// draw takes n bytes of budget, waiting up to b.wait.
func (b *bodyBudget) draw(ctx context.Context, n int64) error {
	if n <= 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, b.wait)
	defer cancel()
	if err := b.sem.Acquire(ctx, n); err != nil {
		return model.Errorf(model.CodeRequestLimitExceeded, "Request limit exceeded.")
	}
	return nil
}

func bodyTooLarge(limit int64) *model.Error {
	return model.Errorf(model.CodeInvalidParameterValue, "The request body exceeds %d bytes.", limit)
}
