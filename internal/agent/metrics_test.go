package agent

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"palisade.dev/palisade/internal/dataplane"
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/store"
	"palisade.dev/palisade/internal/store/mem"
)

// TestCommitClockTimesWrites: a transaction that writes is timed under the
// revision it committed; one that only reads (and returns the current
// revision, someone else's) is not.
func TestCommitClockTimesWrites(t *testing.T) {
	st := mem.New(mem.Options{})
	t.Cleanup(func() { st.Close() })
	c := NewCommitClock(st)
	before := time.Now()
	rev, err := c.Txn(t.Context(), func(tx store.Tx) error { return tx.Put("r/k", []byte("v")) })
	if err != nil {
		t.Fatal(err)
	}
	if at, ok := c.CommitTime(rev); !ok || at.Before(before) || at.After(time.Now()) {
		t.Errorf("CommitTime(%d) = %v %v, want the write's start", rev, at, ok)
	}
	other, err := st.Txn(t.Context(), func(tx store.Tx) error { return tx.Put("r/k", []byte("w")) })
	if err != nil {
		t.Fatal(err)
	}
	read, err := c.Txn(t.Context(), func(tx store.Tx) error { _, err := tx.Get("r/k"); return err })
	if err != nil || read != other {
		t.Fatalf("read-only Txn: %d %v, want revision %d", read, err, other)
	}
	if at, ok := c.CommitTime(other); ok {
		t.Errorf("a revision committed elsewhere has a time: %v", at)
	}
}

// TestDropCountsSurviveChainRewrites: a counter that goes down (its chain
// was rewritten) adds its new value; an interface that is gone loses its
// series.
func TestDropCountsSurviveChainRewrites(t *testing.T) {
	m := newMetrics(nil)
	e1, e2 := model.ENIID("eni-00000000000000001"), model.ENIID("eni-00000000000000002")
	m.countDrops(map[model.ENIID]dataplane.Drops{e1: {Ingress: 5, Egress: 1}, e2: {Ingress: 1}})
	m.countDrops(map[model.ENIID]dataplane.Drops{e1: {Ingress: 7, Egress: 1}, e2: {Ingress: 1}})
	m.countDrops(map[model.ENIID]dataplane.Drops{e1: {Ingress: 2, Egress: 1}}) // e1's chains rewritten, e2 gone
	if got := counter(t, m.dropped.WithLabelValues(string(e1), "ingress")); got != 9 {
		t.Errorf("ingress drops of %s: %v, want 5+2+2", e1, got)
	}
	if got := counter(t, m.dropped.WithLabelValues(string(e1), "egress")); got != 1 {
		t.Errorf("egress drops of %s: %v, want 1", e1, got)
	}
	ch := make(chan prometheus.Metric, 10)
	m.dropped.Collect(ch)
	close(ch)
	if len(ch) != 2 {
		t.Errorf("%d drop series, want 2 (e1's only)", len(ch))
	}
}

func counter(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var d dto.Metric
	if err := c.Write(&d); err != nil {
		t.Fatal(err)
	}
	return d.GetCounter().GetValue()
}
