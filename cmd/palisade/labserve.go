package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"palisade.dev/palisade/internal/agent"
	"palisade.dev/palisade/internal/hosts"
	"palisade.dev/palisade/internal/lab"
	"palisade.dev/palisade/internal/service"
	"palisade.dev/palisade/internal/store"
)

// checkLabHost says clearly why this machine cannot run the lab for
// command (e.g. "palisade serve").
func checkLabHost(command string) error {
	if runtime.GOOS != "linux" {
		return errors.New("--dataplane lab needs Linux (network namespaces and nftables)")
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("--dataplane lab needs root to create network namespaces and firewall tables: run sudo %s", command)
	}
	return nil
}

// startAgent runs the lab's agent, and the service's promotion of the
// instances it reports wired (svc was made WithWiring), until ctx ends or
// stop is called. The agent's metrics go to reg, its enforce delays timed
// by commits. When it stops, every namespace and firewall stays as it
// is: the last rules stay in force while the control plane is down, and the
// next start adopts them.
//
// The machine registers as host hostName (describe-hosts) before serve
// listens, so that instances are placed on it from the first request; the
// agent also wires what was launched before hosts existed (unplaced).
func startAgent(ctx context.Context, st store.Store, svc *service.Service, hostName string, obs agent.ObserveConfig,
	log *slog.Logger, commits agent.CommitTimes, reg prometheus.Registerer) (stop func(), err error) {
	l, err := lab.New(lab.Config{Logger: log})
	if err != nil {
		return nil, err
	}
	report := func(err error) { log.Error("keep the host registered; trying again", "host", hostName, "err", err) }
	host, unregister, err := hosts.Keep(ctx, st, hostName, netip.Addr{}, hosts.DefaultTTL, report)
	if err != nil {
		return nil, fmt.Errorf("--host: %w", err)
	}
	log.Info("host registered", "host", hostName, "id", host.ID)
	cfg := agent.DefaultConfig()
	cfg.Host, cfg.HostID = hostName, host.ID
	cfg.CommitTimes = commits
	cfg.Observe = obs
	a := agent.New(st, l, cfg, log)
	if err := registerAll(reg, a.Collectors()); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := a.Run(ctx); err != nil {
			log.Error("agent stopped", "err", err)
		}
	})
	wg.Go(func() { svc.FollowWiring(ctx) })
	log.Info("lab data plane running: VPCs are router namespaces, instances are namespaces named by their IDs")
	return func() { cancel(); wg.Wait(); unregister() }, nil
}

// followWiring runs the service's promotion of the instances the hosts'
// agents report wired (svc was made WithWiring), for a replica on etcd
// whose agents run elsewhere, until ctx ends or stop is called. Every
// replica follows: a promotion is one idempotent transaction.
func followWiring(ctx context.Context, svc *service.Service) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { svc.FollowWiring(ctx) })
	return func() { cancel(); wg.Wait() }
}
