package service

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/mem"
)

// flakyStore fails every transaction with store.ErrUnavailable while down,
// as the etcd store does when the cluster does not answer.
type flakyStore struct {
	store.Store
	down atomic.Bool
}

func (f *flakyStore) Txn(ctx context.Context, fn func(store.Tx) error) (int64, error) {
	if f.down.Load() {
		return 0, fmt.Errorf("etcd at http://127.0.0.1:1: %w", store.ErrUnavailable)
	}
	return f.Store.Txn(ctx, fn)
}

func (f *flakyStore) View(ctx context.Context, fn func(store.Tx) error) (int64, error) {
	if f.down.Load() {
		return 0, fmt.Errorf("etcd at http://127.0.0.1:1: %w", store.ErrUnavailable)
	}
	return f.Store.View(ctx, fn)
}

// A store that does not answer makes requests fail with AWS's retryable
// ServiceUnavailable (HTTP 503), not InternalError; once it answers again,
// requests succeed.
func TestStoreUnavailableIsServiceUnavailable(t *testing.T) {
	st := &flakyStore{Store: mem.New(mem.Options{})}
	t.Cleanup(func() { st.Close() })
	s := newTestServiceOn(t, st, DefaultConfig())
	ctx := context.Background()
	mustGroup(t, s, alice, "web", "")
	st.down.Store(true)
	_, err := s.CreateSecurityGroup(ctx, alice, CreateSecurityGroupInput{Name: "db", Description: "d"})
	wantCode(t, err, model.CodeServiceUnavailable)
	_, _, err = s.DescribeSecurityGroups(ctx, alice, DescribeSecurityGroupsInput{Names: []string{"web"}})
	wantCode(t, err, model.CodeServiceUnavailable)
	st.down.Store(false)
	mustGroup(t, s, alice, "db", "")
}
