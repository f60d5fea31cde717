package main

import (
	"slices"
	"strings"
	"testing"
)

func TestStoreSelection(t *testing.T) {
	cfg, err := parseServe(t, nil)
	if err != nil || cfg.Store.Kind != storeBolt || cfg.Store.EtcdPrefix != "/palisade/" {
		t.Fatalf("default store: %+v, %v", cfg.Store, err)
	}
	env := map[string]string{
		"PALISADE_STORE":          "etcd",
		"PALISADE_ETCD_ENDPOINTS": "http://10.0.0.1:2379,http://10.0.0.2:2379",
		"PALISADE_ETCD_PASSWORD":  "s3cret",
	}
	cfg, err = parseServe(t, env, "--etcd-user", "palisade")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store.Kind != storeEtcd || !slices.Equal(cfg.Store.EtcdEndpoints, []string{"http://10.0.0.1:2379", "http://10.0.0.2:2379"}) ||
		cfg.Store.EtcdUser != "palisade" || cfg.Store.EtcdPassword != "s3cret" {
		t.Fatalf("%+v", cfg.Store)
	}
	cfg, err = parseServe(t, env, "--etcd-endpoints", "https://etcd:2379")
	if err != nil || !slices.Equal(cfg.Store.EtcdEndpoints, []string{"https://etcd:2379"}) { // flags win
		t.Fatalf("%+v %v", cfg.Store, err)
	}
}

func TestStoreRejectsBadSettings(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--store", "sqlite"}, `--store "sqlite": must be bolt or etcd`},
		{[]string{"--store", "etcd"}, "--store etcd: give the members with --etcd-endpoints"},
		{[]string{"--etcd-endpoints", "http://a:2379"}, "--etcd-endpoints: only with --store etcd"},
		{[]string{"--store", "etcd", "--etcd-endpoints", "a:2379"}, `--etcd-endpoints "a:2379": a URL`},
		{[]string{"--store", "etcd", "--etcd-endpoints", "http://a:2379", "--etcd-cert", "c.pem"}, "--etcd-cert and --etcd-key"},
		{[]string{"--store", "etcd", "--etcd-endpoints", "http://a:2379", "--etcd-prefix", "palisade"}, "--etcd-prefix"},
	}
	for _, c := range cases {
		_, err := parseServe(t, nil, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want %q", c.args, err, c.want)
		}
	}
}
