package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"runtime"
	"sync"

	"palisade.dev/palisade/internal/agent"
	"palisade.dev/palisade/internal/lab"
	"palisade.dev/palisade/internal/service"
	"palisade.dev/palisade/internal/store"
)

// checkLabHost says clearly why this machine cannot run the lab.
func checkLabHost() error {
	if runtime.GOOS != "linux" {
		return errors.New("--dataplane lab needs Linux (network namespaces and nftables)")
	}
	if os.Geteuid() != 0 {
		return errors.New("--dataplane lab needs root to create network namespaces and firewall tables: run sudo palisade serve --dataplane lab")
	}
	return nil
}

// agentHost names this machine in the agent's wiring reports.
const agentHost = "local"

// startAgent runs the lab's agent, and the service's promotion of the
// instances it reports wired (svc was made WithWiring), until ctx ends or
// stop is called. When it stops, every namespace and firewall stays as it
// is: the last rules stay in force while the control plane is down, and the
// next start adopts them.
func startAgent(ctx context.Context, st store.Store, svc *service.Service, obs agent.ObserveConfig, log *slog.Logger) (stop func(), err error) {
	l, err := lab.New(lab.Config{Logger: log})
	if err != nil {
		return nil, err
	}
	cfg := agent.DefaultConfig()
	cfg.Host = agentHost
	cfg.Observe = obs
	a := agent.New(st, l, cfg, log)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := a.Run(ctx); err != nil {
			log.Error("agent stopped", "err", err)
		}
	})
	wg.Go(func() { svc.FollowWiring(ctx) })
	log.Info("lab data plane running: VPCs are router namespaces, instances are namespaces named by their IDs")
	return func() { cancel(); wg.Wait() }, nil
}
