package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"palisade.dev/palisade/internal/agent"
)

// observeConfig is serve's part of flow logs and hit counters (lab data
// plane only).
type observeConfig struct {
	// HitCounters observes every VPC to count each rule's packets, bytes
	// and last hit.
	HitCounters bool
	// FlowWindow is the aggregation window of flow log records (at most
	// every flow log's MaxAggregationInterval, 60 s).
	FlowWindow time.Duration
	// FlowLogMaxMB bounds the flow log files under the data directory.
	FlowLogMaxMB int
}

func defaultObserveConfig() observeConfig {
	d := agent.DefaultObserveConfig()
	return observeConfig{HitCounters: false, FlowWindow: d.Window, FlowLogMaxMB: int(d.MaxDiskBytes >> 20)}
}

func (c *observeConfig) flags(fs *pflag.FlagSet) {
	fs.BoolVar(&c.HitCounters, "hit-counters", c.HitCounters,
		"count each rule's packets, bytes and last hit (palisade rules; observes every VPC: see README for the cost)")
	fs.DurationVar(&c.FlowWindow, "flow-window", c.FlowWindow, "aggregation window of flow log records, 1s to 60s")
	fs.IntVar(&c.FlowLogMaxMB, "flow-log-max-mb", c.FlowLogMaxMB,
		"flow log files kept under DATA_DIR/flowlogs, in MiB; the oldest files go first")
}

func (c observeConfig) check() error {
	switch {
	case c.FlowWindow < time.Second || c.FlowWindow > time.Minute:
		return fmt.Errorf("--flow-window %s: must be 1s to 60s", c.FlowWindow)
	case c.FlowLogMaxMB < 1:
		return fmt.Errorf("--flow-log-max-mb %d: must be at least 1", c.FlowLogMaxMB)
	}
	return nil
}

// agentConfig is the agent's observation config: files under dataDir
// (given to own, the data directory's owner; "" writes none), live records
// into ring (nil keeps none).
func (c observeConfig) agentConfig(dataDir string, own owner, ring *agent.FlowRing) agent.ObserveConfig {
	cfg := agent.DefaultObserveConfig()
	if own.set {
		cfg.Chown = own.chown
	}
	cfg.Hits, cfg.Window, cfg.Ring = c.HitCounters, c.FlowWindow, ring
	if dataDir != "" { // "": no flow log files
		cfg.DataDir = filepath.Clean(dataDir)
	}
	cfg.MaxDiskBytes = int64(c.FlowLogMaxMB) << 20
	return cfg
}
