package etcd_test

import (
	"context"
	"sync"
	"testing"

	"palisade.dev/palisade/internal/auth"
	"palisade.dev/palisade/internal/store/etcd"
	"palisade.dev/palisade/internal/testutil"
)

// Replicas starting at once on an empty cluster agree on one admin: the
// check and the creation are one transaction, and etcd lets only one of
// the racing commits through.
func TestReplicasBootstrapOneAdmin(t *testing.T) {
	c := testutil.StartEtcd(t, 3)
	const replicas = 6
	type result struct {
		key     auth.AccessKey
		created bool
	}
	results := make([]result, replicas)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range replicas {
		wg.Go(func() {
			ctx := context.Background()
			s, err := etcd.Open(ctx, etcd.Options{Endpoints: c.Endpoints, Prefix: "/bootstrap/"})
			if err != nil {
				t.Error(err)
				return
			}
			defer s.Close()
			a, err := auth.OpenAccounts(ctx, s)
			if err != nil {
				t.Error(err)
				return
			}
			defer a.Close()
			<-start
			_, key, created, err := a.Bootstrap(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			results[i] = result{key, created}
		})
	}
	close(start)
	wg.Wait()
	created := 0
	for i, r := range results {
		if r.created {
			created++
		}
		if r.key != results[0].key {
			t.Errorf("replica %d has admin key %s, replica 0 %s", i, r.key.ID, results[0].key.ID)
		}
	}
	if created != 1 {
		t.Fatalf("%d replicas created an admin, want 1", created)
	}
}
