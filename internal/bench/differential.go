package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"time"

	"palisade.dev/palisade/internal/lab"
	"palisade.dev/palisade/internal/policy"
)

// DifferentialConfig configures RunDifferential. Zero fields take
// DefaultDifferentialConfig's values.
type DifferentialConfig struct {
	// Flows is how many flows (first packets) to send and judge.
	Flows int
	// Seed seeds the random policies and flows; 0 draws one (reported in
	// the result, so that a failing run can be replayed).
	Seed uint64
	// RoundFlows is how many flows each random policy gets; every round
	// draws new rules, prefix lists and group memberships, and applies
	// them as an update of the table.
	RoundFlows int
	// Batch is how many probes are in flight at once.
	Batch int
	// Grace is how long after its last packet a batch is judged: a probe
	// not seen at its receiver by then was dropped.
	Grace time.Duration
	// RouterPrefix names the run's lab (lab.Config.RouterPrefix); whatever
	// an interrupted earlier run left under it is removed first.
	RouterPrefix string
	// Progress receives one line per round; nil discards.
	Progress io.Writer
	// Logger receives the lab's and the table's messages; nil discards.
	Logger *slog.Logger
}

// DefaultDifferentialConfig returns the settings of `palisade bench
// differential`.
func DefaultDifferentialConfig() DifferentialConfig {
	return DifferentialConfig{
		Flows: 100_000, RoundFlows: 2_000, Batch: 1_000, Grace: 200 * time.Millisecond,
		RouterPrefix: "palbench-",
	}
}

func (c DifferentialConfig) withDefaults() DifferentialConfig {
	d := DefaultDifferentialConfig()
	if c.Flows <= 0 {
		c.Flows = d.Flows
	}
	if c.Seed == 0 {
		c.Seed = mrand.Uint64()
	}
	if c.RoundFlows <= 0 {
		c.RoundFlows = d.RoundFlows
	}
	if c.Batch <= 0 {
		c.Batch = d.Batch
	}
	if c.Grace <= 0 {
		c.Grace = d.Grace
	}
	if c.RouterPrefix == "" {
		c.RouterPrefix = d.RouterPrefix
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// DifferentialResult is what a run found.
type DifferentialResult struct {
	Seed    uint64
	Rounds  int
	Flows   int // flows judged
	Allowed int // of which policy lets reach the receiver
	// MismatchCount is the number of flows whose fate in the kernel
	// differs from policy's verdict, confirmed by sending each again;
	// Mismatches describes the first few.
	MismatchCount int
	Mismatches    []Mismatch
	// Transient counts flows judged wrong in their batch but right when
	// sent again alone (a packet lost or late for a reason other than the
	// rules); they are not mismatches, but they should be zero.
	Transient int
	// Kinds counts the flows and allowed flows of each kind (protocol and
	// family, "tcp4", "icmpv6", "other6", …) and of each policy outcome
	// ("outcome: dropped by ingress", …): what the run covered.
	Kinds map[string]*KindCount
	// Stray counts packets of the run that arrived at an interface other
	// than their destination's (there should be none).
	Stray   int
	Elapsed time.Duration
}

// Summary is the one-line result: "N flows, M allowed, K mismatches".
func (r DifferentialResult) Summary() string {
	return fmt.Sprintf("%d flows, %d allowed, %d mismatches (seed %d, %d rounds of random policy, %d transient losses re-probed, %d stray packets, %s)",
		r.Flows, r.Allowed, r.MismatchCount, r.Seed, r.Rounds, r.Transient, r.Stray, r.Elapsed.Round(100*time.Millisecond))
}

// KindCount is the number of flows of one kind, and how many policy
// allowed.
type KindCount struct{ Flows, Allowed int }

// count adds a judged flight to the totals.
func (r *DifferentialResult) count(f *flight) {
	r.Flows++
	if f.want {
		r.Allowed++
	}
	if r.Kinds == nil {
		r.Kinds = map[string]*KindCount{}
	}
	for _, k := range []string{f.kind(), "outcome: " + outcomeName(f.explained.Outcome)} {
		c := r.Kinds[k]
		if c == nil {
			c = &KindCount{}
			r.Kinds[k] = c
		}
		c.Flows++
		if f.want {
			c.Allowed++
		}
	}
}

func outcomeName(o policy.Outcome) string {
	switch o {
	case policy.Reaches:
		return "reaches"
	case policy.DroppedByEgress:
		return "dropped by egress"
	case policy.DroppedByIngress:
		return "dropped by ingress"
	case policy.DroppedSpoofed:
		return "dropped, spoofed"
	}
	return o.String()
}

// Coverage renders Kinds as lines "kind: flows (allowed)", sorted.
func (r DifferentialResult) Coverage() string {
	keys := make([]string, 0, len(r.Kinds))
	for k := range r.Kinds {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, "  %-28s %7d flows, %7d allowed\n", k, r.Kinds[k].Flows, r.Kinds[k].Allowed)
	}
	return sb.String()
}

// Mismatch is one flow whose kernel verdict differs from policy's.
type Mismatch struct {
	Flow    string // protocol, port and endpoints
	Reached bool   // the packet reached the receiver (in its batch and when sent again)
	Policy  string // policy.PathResult.String(): the verdict and its reason
	Rules   string // the groups of both interfaces, their rules and the members they reference
}

func (m Mismatch) String() string {
	kernel := "dropped"
	if m.Reached {
		kernel = "reached the receiver"
	}
	return fmt.Sprintf("MISMATCH %s\n  kernel: %s\n  policy: %s\n%s", m.Flow, kernel, m.Policy, m.Rules)
}

// RunDifferential builds a lab (one VPC router with Palisade's table,
// instances with several interfaces, lab hosts), then, round after round,
// draws random groups, rules, prefix lists and memberships, applies them,
// and sends random first packets between the lab's interfaces from packet
// sockets with their real source addresses (a few spoofed), many at once.
// A packet seen arriving at its receiver was allowed; one not seen within
// the grace window was dropped. Each is compared with explain's verdict
// (policy.Compiled.Explain, the answer `palisade explain` gives; its
// verdict is Path's). Everything the run made is removed when it returns,
// whatever happened (a cancelled ctx ends it early).
func RunDifferential(ctx context.Context, cfg DifferentialConfig) (res DifferentialResult, err error) {
	cfg = cfg.withDefaults()
	start := time.Now()
	res.Seed = cfg.Seed
	l, err := lab.New(lab.Config{RouterPrefix: cfg.RouterPrefix, Logger: cfg.Logger})
	if err != nil {
		return res, err
	}
	if err := l.Down(); err != nil {
		return res, fmt.Errorf("remove what an earlier run left: %w", err)
	}
	defer func() {
		if derr := l.Down(); derr != nil {
			err = errors.Join(err, fmt.Errorf("clean up: %w", derr))
		}
	}()
	rng := mrand.New(mrand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	w, err := newDiffLab(l, rng, defaultLabSize, cfg.Logger)
	if err != nil {
		return res, fmt.Errorf("build the lab: %w", err)
	}
	defer w.Close()
	r := newRunner(w, cfg, rng)
	defer r.stop()
	fmt.Fprintf(cfg.Progress, "lab: %d interfaces of %d instances and %d lab hosts, %d interfaces in groups only; seed %d\n",
		len(w.ends)-len(w.hosts), countInstances(w), len(w.hosts), len(w.enis)-len(w.ends)+len(w.hosts), cfg.Seed)
	for res.Flows < cfg.Flows {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		n := min(cfg.RoundFlows, cfg.Flows-res.Flows)
		if err := r.round(ctx, n, &res); err != nil {
			return res, fmt.Errorf("round %d: %w", res.Rounds+1, err)
		}
		res.Rounds++
		fmt.Fprintf(cfg.Progress, "round %d: %d flows so far, %d allowed, %d mismatches, %d transient (%s)\n",
			res.Rounds, res.Flows, res.Allowed, res.MismatchCount, res.Transient, time.Since(start).Round(100*time.Millisecond))
	}
	res.Stray = r.strays()
	res.Elapsed = time.Since(start)
	return res, nil
}

func countInstances(w *diffLab) int {
	seen := map[string]bool{}
	for _, e := range w.ends {
		if e.eni != "" {
			seen[e.tap.ns] = true
		}
	}
	return len(seen)
}
