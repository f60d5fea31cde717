package main

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"palisade.dev/palisade/internal/store"
)

// metricsPath is where serve answers Prometheus's scrapes (no signature).
const metricsPath = "/metrics"

// newRegistry returns a registry of this process's metrics (no global
// state): the Go runtime's and the process's, and the store's revision.
// Components add their own collectors.
func newRegistry(st store.Store) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		storeRevision(st))
	return reg
}

// storeRevision is palisade_store_revision, read from the store at each
// scrape (the last value read when the store does not answer in time).
func storeRevision(st store.Store) prometheus.Collector {
	var last atomic.Int64
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "palisade_store_revision",
		Help: "Revision of the store's last committed transaction.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if rev, err := st.Revision(ctx); err == nil {
			last.Store(rev)
		}
		return float64(last.Load())
	})
}

// metricsHandler serves reg in Prometheus's text format.
func metricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// registerAll registers every collector of cs with reg.
func registerAll(reg prometheus.Registerer, cs []prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
