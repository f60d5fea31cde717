package ec2api

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"palisade.dev/palisade/internal/model"
)

// Label values of the request metrics that are not an action or a code.
const (
	// metricsOtherAction stands for every Action the server does not serve
	// (and requests that failed before their Action was read), so that
	// clients cannot grow the label's values.
	metricsOtherAction = "other"
	// metricsSuccess is the code label of a request answered without error.
	metricsSuccess = "Success"
)

// metrics are the API's Prometheus collectors. Their labels take bounded
// values only: action is one of the server's actions (or "other"), code one
// of the error codes Palisade answers with (or "Success").
type metrics struct {
	requests *prometheus.CounterVec   // palisade_api_requests_total{action,code}
	duration *prometheus.HistogramVec // palisade_api_request_duration_seconds{action}
}

func newMetrics() *metrics {
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "palisade_api_requests_total",
			Help: "EC2 Query API requests answered, by Action and by EC2 error code (Success when none).",
		}, []string{"action", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "palisade_api_request_duration_seconds",
			Help: "Time from a request's arrival to its answer, by Action.",
			// 0.5 ms to about 8 s: reads take a millisecond, writes a few
			// (one durable store commit), whole-account reads more.
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 15),
		}, []string{"action"}),
	}
}

// Collectors returns the server's metrics, for the caller's registry:
// palisade_api_requests_total and palisade_api_request_duration_seconds.
func (s *Server) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.metrics.requests, s.metrics.duration}
}

// observe counts one answered request.
func (s *Server) observe(ex *exchange, took time.Duration) {
	action := s.actionLabel(ex)
	code := model.CodeOf(ex.err)
	switch {
	case ex.err == nil:
		code = metricsSuccess
	case code == "":
		code = model.CodeInternalError // what wireError answers
	}
	s.metrics.requests.WithLabelValues(action, code).Inc()
	s.metrics.duration.WithLabelValues(action).Observe(took.Seconds())
}

// actionLabel is the request's Action when the server serves it, else
// metricsOtherAction.
func (s *Server) actionLabel(ex *exchange) string {
	if ex.service == stsService {
		if ex.action == stsAction {
			return ex.action
		}
		return metricsOtherAction
	}
	if _, ok := s.actions[ex.action]; ok {
		return ex.action
	}
	return metricsOtherAction
}
