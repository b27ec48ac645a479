package activate

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the per-partner delivery metrics; every series has a
// "partner" label so one partner's trouble shows on its own lines.
type metrics struct {
	delivered    *prometheus.CounterVec
	retried      *prometheus.CounterVec
	deadLettered *prometheus.CounterVec
	stale        *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	queueAge     *prometheus.HistogramVec
	pending      *prometheus.GaugeVec
	breaker      *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segmentflow_activate_delivered_total",
			Help: "Changes the partner accepted.",
		}, []string{"partner"}),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segmentflow_activate_retried_total",
			Help: "Changes sent again after a retryable failure (one per change per retry).",
		}, []string{"partner"}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segmentflow_activate_dead_lettered_total",
			Help: "Changes (or malformed messages) written to the dead-letter store, by reason.",
		}, []string{"partner", "reason"}),
		stale: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segmentflow_activate_superseded_total",
			Help: "Changes not sent because a newer version of the user was sent instead.",
		}, []string{"partner"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "segmentflow_activate_request_seconds",
			Help:    "Duration of delivery attempts (request to response).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"partner"}),
		queueAge: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "segmentflow_activate_queue_age_seconds",
			Help:    "Time from publication on the activation topic to the partner accepting the change.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 18),
		}, []string{"partner"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "segmentflow_activate_pending_messages",
			Help: "Messages received and not yet acked or nacked.",
		}, []string{"partner"}),
		breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "segmentflow_activate_breaker_state",
			Help: "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
		}, []string{"partner"}),
	}
	for _, c := range []prometheus.Collector{m.delivered, m.retried, m.deadLettered, m.stale, m.latency, m.queueAge, m.pending, m.breaker} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
