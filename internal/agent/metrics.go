package agent

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"palisade.dev/palisade/internal/dataplane"
	"palisade.dev/palisade/internal/model"
	"palisade.dev/palisade/internal/store"
)

// CommitTimes tells when the changes of store revisions were made, for the
// revisions it knows of (see CommitClock).
type CommitTimes interface {
	CommitTime(rev int64) (time.Time, bool)
}

// commitRing is how many recent revisions a CommitClock remembers: far
// more than an agent ever has waiting to be enforced.
const commitRing = 4096

// CommitClock is a store.Store that notes, for each transaction that wrote
// something, the revision it committed and the time the transaction began
// (within the API call that made the change; retries of the transaction
// included). Give the service this store and the agent this clock
// (Config.CommitTimes): the agent then observes, per revision, the time
// from the change to the kernel's commit of the firewall that enforces it.
// Only revisions committed through this process are known.
type CommitClock struct {
	store.Store
	mu   sync.Mutex
	ring [commitRing]commitStamp
}

type commitStamp struct {
	rev int64
	at  time.Time
}

var (
	_ store.Store = (*CommitClock)(nil)
	_ CommitTimes = (*CommitClock)(nil)
)

// NewCommitClock wraps st.
func NewCommitClock(st store.Store) *CommitClock { return &CommitClock{Store: st} }

// Txn is st's Txn, timed.
func (c *CommitClock) Txn(ctx context.Context, fn func(tx store.Tx) error) (int64, error) {
	start := time.Now()
	var wrote bool
	rev, err := c.Store.Txn(ctx, func(tx store.Tx) error {
		wrote = false // fn may run again
		return fn(&writeSpy{Tx: tx, wrote: &wrote})
	})
	if err == nil && wrote {
		c.note(rev, start)
	}
	return rev, err
}

// note records rev's time unless it has one: a transaction whose writes
// changed nothing returns the current revision, someone else's.
func (c *CommitClock) note(rev int64, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.ring[rev%commitRing]
	if s.rev != rev {
		*s = commitStamp{rev: rev, at: at}
	}
}

// CommitTime returns when rev's transaction began, if it ran through c.
func (c *CommitClock) CommitTime(rev int64) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.ring[rev%commitRing]
	return s.at, s.rev == rev && rev != 0
}

// writeSpy notes whether a transaction writes.
type writeSpy struct {
	store.Tx
	wrote *bool
}

func (w *writeSpy) Put(key string, value []byte) error { *w.wrote = true; return w.Tx.Put(key, value) }
func (w *writeSpy) Delete(key string) error            { *w.wrote = true; return w.Tx.Delete(key) }

// maxPending bounds the revisions the agent remembers while they wait to
// be enforced (the oldest are kept: they say how late enforcement is).
const maxPending = 4096

// metrics are the agent's Prometheus collectors and what they are computed
// from. The agent's goroutine writes; scrapes read under mu.
type metrics struct {
	apply   prometheus.Histogram
	enforce prometheus.Histogram
	dropped *prometheus.CounterVec
	gauges  []prometheus.Collector
	commits CommitTimes // nil: enforce delays are not observed

	mu      sync.Mutex
	seen    int64        // latest revision the watch delivered
	applied int64        // revision of the latest reconcile that succeeded
	pending []pendingRev // revisions seen, not yet enforced, oldest first

	// Agent goroutine only: the last drop counts read, per interface.
	lastDrops map[model.ENIID]dataplane.Drops
	commitAt  time.Time // end of the latest successful Apply of this reconcile
}

type pendingRev struct {
	rev  int64
	seen time.Time
}

// Buckets of the data plane's durations: 0.1 ms to about 3 s.
var durationBuckets = prometheus.ExponentialBuckets(0.0001, 2, 16)

func newMetrics(commits CommitTimes) *metrics {
	m := &metrics{commits: commits, lastDrops: map[model.ENIID]dataplane.Drops{}}
	m.apply = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "palisade_dataplane_apply_duration_seconds",
		Help:    "Time of one VPC firewall update (dataplane Apply: diff and one atomic netlink batch).",
		Buckets: durationBuckets,
	})
	m.enforce = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "palisade_policy_enforce_delay_seconds",
		Help: "Per store revision: from the start of the transaction that made the change (in the API call) " +
			"to the end of the kernel commit of the firewall that enforces it. Observed for changes made " +
			"through this process.",
		Buckets: durationBuckets,
	})
	m.dropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "palisade_packets_dropped_total",
		Help: "Packets an interface's security groups refused, by interface and direction (ingress, egress).",
	}, []string{"interface", "direction"})
	m.gauges = []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "palisade_agent_seen_revision",
			Help: "Latest store revision the agent's watch delivered.",
		}, func() float64 { return float64(m.read(func() int64 { return m.seen })) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "palisade_agent_applied_revision",
			Help: "Store revision that the kernel's firewalls reflect (latest successful reconcile).",
		}, func() float64 { return float64(m.read(func() int64 { return m.applied })) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "palisade_agent_reconcile_lag_seconds",
			Help: "Age of the oldest change the watch delivered that is not enforced yet; 0 when caught up.",
		}, m.lag),
	}
	return m
}

func (m *metrics) read(f func() int64) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return f()
}

func (m *metrics) lag() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.pending) == 0 {
		return 0
	}
	return time.Since(m.pending[0].seen).Seconds()
}

// collectors lists them all.
func (m *metrics) collectors() []prometheus.Collector {
	return append([]prometheus.Collector{m.apply, m.enforce, m.dropped}, m.gauges...)
}

// saw notes a revision the watch delivered.
func (m *metrics) saw(rev int64, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seen = rev
	if len(m.pending) < maxPending {
		m.pending = append(m.pending, pendingRev{rev: rev, seen: at})
	}
}

// applied notes one successful firewall update that took took and ended at
// end.
func (m *metrics) appliedVPC(took time.Duration, end time.Time) {
	m.apply.Observe(took.Seconds())
	m.commitAt = end
}

// reconciled notes the end of a reconcile at revision rev: when it
// succeeded, every pending revision is enforced, as of the last firewall
// commit it made (now when it had none to make).
func (m *metrics) reconciled(rev int64, ok bool, now time.Time) {
	at := m.commitAt
	m.commitAt = time.Time{}
	if !ok {
		return
	}
	if at.IsZero() {
		at = now
	}
	m.mu.Lock()
	pending := m.pending
	m.pending, m.applied = nil, rev
	m.mu.Unlock()
	if m.commits == nil {
		return
	}
	for _, p := range pending {
		if t, known := m.commits.CommitTime(p.rev); known {
			m.enforce.Observe(at.Sub(t).Seconds())
		}
	}
}

// countDrops adds the increase of each interface's drop counters since the
// last read (a count below the last one is a rewritten chain, counting
// again from zero), and forgets the interfaces that are gone.
func (m *metrics) countDrops(now map[model.ENIID]dataplane.Drops) {
	for eni, d := range now {
		was := m.lastDrops[eni]
		m.dropped.WithLabelValues(string(eni), "ingress").Add(float64(increase(was.Ingress, d.Ingress)))
		m.dropped.WithLabelValues(string(eni), "egress").Add(float64(increase(was.Egress, d.Egress)))
	}
	for eni := range m.lastDrops {
		if _, ok := now[eni]; !ok {
			m.dropped.DeleteLabelValues(string(eni), "ingress")
			m.dropped.DeleteLabelValues(string(eni), "egress")
		}
	}
	m.lastDrops = now
}

func increase(was, now uint64) uint64 {
	if now < was {
		return now
	}
	return now - was
}

// Collectors returns the agent's metrics, for the caller's registry (the
// agent keeps no global state): palisade_dataplane_apply_duration_seconds,
// palisade_policy_enforce_delay_seconds, palisade_packets_dropped_total,
// palisade_agent_seen_revision, palisade_agent_applied_revision and
// palisade_agent_reconcile_lag_seconds.
func (a *Agent) Collectors() []prometheus.Collector { return a.metrics.collectors() }

// readDrops reads every firewall's drop counters (one rule dump per VPC,
// with the drift check's period).
func (a *Agent) readDrops() {
	all := map[model.ENIID]dataplane.Drops{}
	for id, st := range a.vpcs {
		drops, err := st.table.Drops()
		if err != nil {
			a.log.Error("read drop counters", "vpc", id, "err", err)
			return
		}
		maps.Copy(all, drops)
	}
	a.metrics.countDrops(all)
}
