package bench

import (
	"context"
	"log/slog"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"palisade.dev/palisade/internal/lab"
	"palisade.dev/palisade/internal/labtest"
	"palisade.dev/palisade/internal/testutil"
)

// TestDifferential sends a CI-sized number of random flows through the
// kernel and compares each verdict with policy's (the full count runs as
// `palisade bench differential`).
func TestDifferential(t *testing.T) {
	testutil.RequireRoot(t)
	flows := 5000
	if testing.Short() {
		flows = 1000
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := RunDifferential(ctx, DifferentialConfig{
		Flows: flows, RoundFlows: 1000, RouterPrefix: "ptd" + labtest.RandHex(6) + "-", Progress: testutil.LogWriter(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s\n%s", res.Summary(), res.Coverage())
	for _, m := range res.Mismatches {
		t.Error(m)
	}
	if res.MismatchCount != 0 {
		t.Errorf("%d mismatches", res.MismatchCount)
	}
	if res.Flows != flows || res.Allowed == 0 || res.Allowed == res.Flows {
		t.Errorf("%d flows judged, %d allowed: want %d, some allowed and some dropped", res.Flows, res.Allowed, flows)
	}
	// A transient loss (a packet judged wrong in its batch, right when
	// sent again) is no mismatch; a machine too busy to deliver within the
	// grace window makes a few, so only many fail the test.
	if res.Transient > flows/100 || res.Stray != 0 {
		t.Errorf("%d transient losses, %d stray packets: want (almost) none", res.Transient, res.Stray)
	}
}

// TestDifferentialCatchesAWrongTable: when the kernel enforces another
// policy than the one flows are judged by, the harness reports mismatches
// (so that zero mismatches means something).
func TestDifferentialCatchesAWrongTable(t *testing.T) {
	testutil.RequireRoot(t)
	l, err := lab.New(lab.Config{RouterPrefix: "ptd" + labtest.RandHex(6) + "-"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Error(err)
		}
	})
	rng := mrand.New(mrand.NewPCG(1, 2))
	w, err := newDiffLab(l, rng, defaultLabSize, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DifferentialConfig{Batch: 500}.withDefaults()
	r := newRunner(w, cfg, rng)
	defer r.stop()
	enforced := w.gen.snapshot(w.vpc, w.enis)
	if err := r.use(w.gen.snapshot(w.vpc, w.enis)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.apply(enforced); err != nil {
		t.Fatal(err)
	}
	var res DifferentialResult
	if err := r.batch(500, &res); err != nil {
		t.Fatal(err)
	}
	if res.MismatchCount == 0 {
		t.Fatalf("no mismatch found with a table that enforces another policy (%d flows, %d allowed)", res.Flows, res.Allowed)
	}
	t.Logf("%d of %d flows mismatch; the first:\n%s", res.MismatchCount, res.Flows, res.Mismatches[0])
	if m := res.Mismatches[0]; m.Flow == "" || m.Policy == "" || !strings.Contains(m.Rules, "groups") {
		t.Errorf("mismatch without details: %+v", m)
	}
}
