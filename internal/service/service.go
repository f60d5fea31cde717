// Package service implements the EC2 operations with AWS semantics: what may
// be stored, and how each request changes the store. Every operation is one
// store transaction; every failure is a *model.Error with the EC2 code.
// The API layer only translates wire formats to these calls; the data plane
// derives everything from the store.
package service

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/store"
)

// Config holds the service's quotas and address pools.
type Config struct {
	// MaxRulesPerGroup caps the rules of one group per direction and per
	// address family (AWS default 60, at most 1000). AWS's extra condition
	// that rules per group × groups per interface stay within 1000 is not
	// enforced.
	MaxRulesPerGroup int
	// MaxGroupsPerInterface caps the groups of one network interface (AWS
	// default 5, at most 16).
	MaxGroupsPerInterface int
	// MaxGroupsPerRegion caps the security groups of one account in one
	// region (AWS: 2500 per VPC-enabled region).
	MaxGroupsPerRegion int
	// IPv6Pool is where CreateVpc's AmazonProvidedIpv6CidrBlock draws /56
	// blocks from.
	IPv6Pool netip.Prefix
	// Regions are the regions served, as DescribeRegions lists them. A
	// request signed for any other region is refused (CheckRegion) before
	// it can touch the store: every account gets its default VPC in each
	// region it uses, so the list bounds what read-only requests can make
	// the store hold.
	Regions []string
}

// DefaultConfig returns AWS's defaults and a private IPv6 pool.
func DefaultConfig() Config {
	return Config{
		MaxRulesPerGroup:      60,
		MaxGroupsPerInterface: 5,
		MaxGroupsPerRegion:    2500,
		IPv6Pool:              netip.MustParsePrefix("fd00::/8"),
		Regions:               AWSRegions(),
	}
}

// Check validates the configuration.
func (c Config) Check() error {
	switch {
	case c.MaxRulesPerGroup < 1 || c.MaxRulesPerGroup > 1000:
		return fmt.Errorf("max rules per group %d: must be 1 to 1000", c.MaxRulesPerGroup)
	case c.MaxGroupsPerInterface < 1 || c.MaxGroupsPerInterface > 16:
		return fmt.Errorf("max groups per interface %d: must be 1 to 16", c.MaxGroupsPerInterface)
	case c.MaxGroupsPerRegion < 1:
		return fmt.Errorf("max groups per region %d: must be positive", c.MaxGroupsPerRegion)
	case !c.IPv6Pool.IsValid() || !c.IPv6Pool.Addr().Is6() || c.IPv6Pool.Bits() > 56:
		return fmt.Errorf("ipv6 pool %s: must be an IPv6 prefix of /56 or shorter", c.IPv6Pool)
	}
	return CheckRegions(c.Regions)
}

// Service runs the EC2 operations against a store.
type Service struct {
	st      store.Store
	cfg     Config
	regions map[string]bool // cfg.Regions
	rand    io.Reader
	now     func() time.Time
	log     *slog.Logger
	ready   sync.Map // scopeKey -> struct{}: default VPC and indexes ensured
	// setup serializes the first requests of each scope (scopeKey ->
	// *sync.Mutex), so that concurrent ones do not all build the same
	// indexes (ensureIndexes).
	setup sync.Map
	// wiring: a data plane wires instances (WithWiring), so they start
	// pending.
	wiring bool
	groups groupCache // decoded groups by key and stored bytes
	flows  FlowSource // the local agent's live flow records (WithFlows); nil: none
}

// Option adjusts a Service.
type Option func(*Service)

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithRand sets the random source for IDs (tests).
func WithRand(r io.Reader) Option { return func(s *Service) { s.rand = r } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// New returns a Service over st.
func New(st store.Store, cfg Config, opts ...Option) (*Service, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	s := &Service{st: st, cfg: cfg, rand: rand.Reader, now: time.Now, log: slog.New(slog.DiscardHandler),
		regions: make(map[string]bool, len(cfg.Regions))}
	for _, r := range cfg.Regions {
		s.regions[r] = true
	}
	for _, o := range opts {
		o(s)
	}
	s.log = s.log.With("component", "service")
	return s, nil
}

// Config returns the service's configuration.
func (s *Service) Config() Config { return s.cfg }

// Store returns the store the service writes to.
func (s *Service) Store() store.Store { return s.st }

// Caller is who makes a request, and in which region.
type Caller struct {
	Account model.AccountID
	Region  string
}

func (c Caller) scope() model.Scope { return model.Scope{Account: c.Account, Region: c.Region} }

// errNoSpace answers a write the store could not commit for want of disk
// space: retryable (HTTP 503), and the operator learns what to do.
var errNoSpace = model.Errorf(model.CodeUnavailable, "The change could not be stored: the disk holding "+
	"Palisade's database is out of space. Nothing was changed; retry once space has been freed.")

// errStoreUnavailable answers a request the store could not serve in time
// (etcd unreachable or without a leader): retryable (HTTP 503). A write may
// or may not have been applied; retrying it is safe where the operation is.
var errStoreUnavailable = model.Errorf(model.CodeServiceUnavailable, "The request has failed due to a temporary "+
	"failure of the server: Palisade's store (etcd) did not answer in time. Retry the request.")

// errInternal hides a store failure from the client while logging it.
func (s *Service) internal(op string, err error) error {
	var me *model.Error
	if errors.As(err, &me) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return model.Errorf(model.CodeRequestCanceled, "The request was canceled.")
	}
	s.log.Error("operation failed", "op", op, "err", err)
	if errors.Is(err, store.ErrNoSpace) {
		return errNoSpace
	}
	if errors.Is(err, store.ErrUnavailable) {
		return errStoreUnavailable
	}
	return model.Errorf(model.CodeInternalError, "An internal error has occurred")
}

// newID draws a new ID of kind k.
func (s *Service) newID(k model.Kind) string {
	id, err := model.NewID(k, s.rand)
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return id
}

// txn runs fn as one transaction in the caller's scope, after making sure
// the region is served and the scope has its default VPC.
func (s *Service) txn(ctx context.Context, c Caller, op string, fn func(t *tx) error) error {
	return s.inScope(ctx, c, op, s.st.Txn, func(t *tx) error {
		if err := fn(t); err != nil {
			return err
		}
		return t.flushIndexes()
	})
}

// read runs fn over a consistent view of the store (Store.View: it waits
// for no writer, and a write in it fails), in the caller's scope as txn.
func (s *Service) read(ctx context.Context, c Caller, op string, fn func(t *tx) error) error {
	return s.inScope(ctx, c, op, s.st.View, fn)
}

// inScope checks the caller's region, makes sure its scope has its
// defaults, then runs fn through run (the store's Txn or View).
func (s *Service) inScope(ctx context.Context, c Caller, op string,
	run func(context.Context, func(store.Tx) error) (int64, error), fn func(t *tx) error) error {
	if err := s.CheckRegion(c.Region); err != nil {
		return err
	}
	if err := s.ensureDefaults(ctx, c); err != nil {
		return s.internal(op, err)
	}
	if _, err := run(ctx, func(stx store.Tx) error { return fn(&tx{Tx: stx, s: s, c: c}) }); err != nil {
		return s.internal(op, err)
	}
	return nil
}
