package etcd_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"

	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/etcd"
	"palisade.dev/palisade/internal/store/storetest"
	"palisade.dev/palisade/internal/testutil"
)

// open opens a store on the cluster, under a prefix of its own for dir.
func open(t testing.TB, c *testutil.EtcdCluster, dir string, cfg storetest.Config) (*etcd.Store, error) {
	prefix := fmt.Sprintf("/palisade-test/%x/", sha256.Sum256([]byte(dir+t.Name())))[:48] + "/"
	return etcd.Open(context.Background(), etcd.Options{
		Endpoints:    c.Endpoints,
		Prefix:       prefix,
		LogRetention: cfg.LogRetention,
	})
}

func TestConformance(t *testing.T) {
	c := testutil.StartEtcd(t, 3)
	storetest.Run(t, storetest.Factory{
		Open: func(dir string, cfg storetest.Config) (store.Store, error) {
			return open(t, c, dir, cfg)
		},
		Persistent: true,
	})
}
