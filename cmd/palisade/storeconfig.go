package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/etcd"
)

// Stores of --store.
const (
	storeBolt = "bolt"
	storeEtcd = "etcd"
)

// storeConfig selects the store serve keeps its data in: the embedded bolt
// file in the data directory (one machine) or an etcd cluster (any number
// of serve replicas share it).
type storeConfig struct {
	Kind          string   // storeBolt or storeEtcd
	EtcdEndpoints []string // client URLs of the etcd members
	EtcdPrefix    string   // where Palisade's keys live in etcd
	// EtcdCACert, EtcdCert and EtcdKey are PEM files, as etcdctl's
	// --cacert, --cert and --key.
	EtcdCACert, EtcdCert, EtcdKey string
	// EtcdUser and EtcdPassword authenticate to etcd (etcd auth enabled);
	// EtcdUser may also be "name:password", as etcdctl's --user.
	EtcdUser, EtcdPassword string
}

// defaultStoreConfig is bolt; etcd keys go under /palisade/.
func defaultStoreConfig() storeConfig {
	return storeConfig{Kind: storeBolt, EtcdPrefix: etcd.DefaultPrefix}
}

// flags binds c's fields to serve's store flags.
func (c *storeConfig) flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Kind, "store", c.Kind,
		"where the data lives: bolt (a file in --data-dir, one machine) or etcd (a cluster shared by serve replicas)")
	fs.StringSliceVar(&c.EtcdEndpoints, "etcd-endpoints", nil,
		"comma-separated client URLs of the etcd members, with --store etcd (http://10.0.0.1:2379,…)")
	fs.StringVar(&c.EtcdPrefix, "etcd-prefix", c.EtcdPrefix, "etcd key prefix under which Palisade keeps its data")
	fs.StringVar(&c.EtcdCACert, "etcd-cacert", "", "PEM CA bundle that verifies the etcd members' certificates (https endpoints)")
	fs.StringVar(&c.EtcdCert, "etcd-cert", "", "PEM client certificate for etcd (with --etcd-key)")
	fs.StringVar(&c.EtcdKey, "etcd-key", "", "PEM private key of --etcd-cert")
	fs.StringVar(&c.EtcdUser, "etcd-user", "", "etcd user name, or name:password")
	fs.StringVar(&c.EtcdPassword, "etcd-password", "", "password of --etcd-user (prefer the environment variable)")
}

// check validates c, naming the flags.
func (c storeConfig) check() error {
	switch c.Kind {
	case storeBolt:
		if len(c.EtcdEndpoints) > 0 {
			return fmt.Errorf("--etcd-endpoints: only with --store etcd")
		}
		return nil
	case storeEtcd:
	default:
		return fmt.Errorf("--store %q: must be bolt or etcd", c.Kind)
	}
	switch {
	case len(c.EtcdEndpoints) == 0:
		return fmt.Errorf("--store etcd: give the members with --etcd-endpoints")
	case (c.EtcdCert == "") != (c.EtcdKey == ""):
		return fmt.Errorf("--etcd-cert and --etcd-key: give both or neither")
	case !strings.HasPrefix(c.EtcdPrefix, "/") || !strings.HasSuffix(c.EtcdPrefix, "/"):
		return fmt.Errorf("--etcd-prefix %q: must start and end with /", c.EtcdPrefix)
	}
	for _, ep := range c.EtcdEndpoints {
		if !strings.HasPrefix(ep, "http://") && !strings.HasPrefix(ep, "https://") {
			return fmt.Errorf("--etcd-endpoints %q: a URL (http://host:port or https://host:port)", ep)
		}
	}
	return nil
}

// openServeStore opens the store of c: the bolt file of dir, or the etcd
// cluster.
func openServeStore(ctx context.Context, c storeConfig, dir string, own owner, log *slog.Logger) (store.Store, error) {
	if c.Kind != storeEtcd {
		return openStore(dir, own, log)
	}
	opts := etcd.Options{Endpoints: c.EtcdEndpoints, Prefix: c.EtcdPrefix, Username: c.EtcdUser, Password: c.EtcdPassword}
	if name, pass, ok := strings.Cut(c.EtcdUser, ":"); ok && c.EtcdPassword == "" {
		opts.Username, opts.Password = name, pass
	}
	tlsConf, err := etcdTLS(c)
	if err != nil {
		return nil, err
	}
	opts.TLS = tlsConf
	st, err := etcd.Open(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("--store etcd: %w", err)
	}
	log.Info("store", "kind", "etcd", "endpoints", strings.Join(c.EtcdEndpoints, ","), "prefix", c.EtcdPrefix)
	return st, nil
}

// etcdTLS builds the TLS configuration of the etcd client; nil when no
// https endpoint and no TLS file is given.
func etcdTLS(c storeConfig) (*tls.Config, error) {
	https := false
	for _, ep := range c.EtcdEndpoints {
		https = https || strings.HasPrefix(ep, "https://")
	}
	if !https && c.EtcdCACert == "" && c.EtcdCert == "" {
		return nil, nil
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.EtcdCACert != "" {
		pem, err := os.ReadFile(c.EtcdCACert)
		if err != nil {
			return nil, fmt.Errorf("--etcd-cacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--etcd-cacert %s: no PEM certificate in it", c.EtcdCACert)
		}
		conf.RootCAs = pool
	}
	if c.EtcdCert != "" {
		cert, err := tls.LoadX509KeyPair(c.EtcdCert, c.EtcdKey)
		if err != nil {
			return nil, fmt.Errorf("--etcd-cert %s, --etcd-key %s: %w", c.EtcdCert, c.EtcdKey, err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}
