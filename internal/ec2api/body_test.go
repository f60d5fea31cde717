package ec2api

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"palisade.dev/palisade/internal/auth"
	"palisade.dev/palisade/internal/model"
)

func TestBodyBudgetReadsAndHashes(t *testing.T) {
	b := newBodyBudget(1 << 20)
	for _, n := range []int{0, 1, 511, 512, freeBody - 1, freeBody, freeBody + 1, 300 << 10} {
		form := strings.Repeat("a", n)
		r := httptest.NewRequest("POST", "/", strings.NewReader(form))
		if n%2 == 1 {
			r.ContentLength = -1 // chunked: no length claimed
		}
		body, hash, release, err := b.read(r, DefaultMaxBody)
		if err != nil || string(body) != form || hash != auth.PayloadHash([]byte(form)) {
			t.Fatalf("%d bytes: %d bytes read, hash %s, %v", n, len(body), hash, err)
		}
		release()
	}
	if !b.sem.TryAcquire(1 << 20) {
		t.Fatal("the budget was not given back")
	}
}

func TestBodyBudgetLimit(t *testing.T) {
	b := newBodyBudget(1 << 20)
	r := httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("a", 1001)))
	r.ContentLength = -1 // the size is only learnt by reading
	_, _, release, err := b.read(r, 1000)
	release()
	wantCode(t, err, model.CodeInvalidParameterValue)
	r = httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("a", 1001))) // claimed: refused unread
	_, _, release, err = b.read(r, 1000)
	release()
	wantCode(t, err, model.CodeInvalidParameterValue)
	r.Body = nil
	if body, hash, release, err := b.read(r, 1000); body != nil || hash != auth.PayloadHash(nil) || err != nil {
		t.Fatalf("no body: %q %s %v", body, hash, err)
	} else {
		release()
	}
}

// TestBodyBudgetThrottles: while large bodies hold the budget, another
// large body waits, then gets RequestLimitExceeded (503, retried by SDKs);
// small bodies, which every ordinary call has, are not held up.
func TestBodyBudgetThrottles(t *testing.T) {
	b := newBodyBudget(256 << 10)
	b.wait = 10 * time.Millisecond
	large := func() ([]byte, func(), error) {
		r := httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("a", 200<<10)))
		body, _, release, err := b.read(r, DefaultMaxBody)
		return body, release, err
	}
	_, release, err := large()
	if err != nil {
		t.Fatal(err)
	}
	_, release2, err := large()
	release2()
	wantCode(t, err, model.CodeRequestLimitExceeded)
	if Status(model.CodeRequestLimitExceeded) != 503 {
		t.Fatal("RequestLimitExceeded is not a 503")
	}
	small := httptest.NewRequest("POST", "/", strings.NewReader("Action=DescribeSecurityGroups&Version=2016-11-15"))
	if _, _, r, err := b.read(small, DefaultMaxBody); err != nil {
		t.Fatalf("a small body was held up: %v", err)
	} else {
		r()
	}
	release()
	if _, release, err = large(); err != nil {
		t.Fatalf("after release: %v", err)
	}
	release()
}
