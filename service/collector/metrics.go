package collector

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a message (label of messages_total).
const (
	outPrimary     = "primary"
	outStandby     = "standby"
	outFailover    = "failover"
	outRejected    = "rejected"
	outUnavailable = "unavailable"
)

type metrics struct {
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	messages       *prometheus.CounterVec
	batchSize      prometheus.Histogram
	publish        *prometheus.HistogramVec
	failoverWrites *prometheus.CounterVec
	badRows        *prometheus.CounterVec
	replayed       prometheus.Counter
	tierOpen       *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segmentflow_collector_requests_total", Help: "HTTP requests by endpoint and status code.",
		}, []string{"endpoint", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "segmentflow_collector_request_duration_seconds", Help: "Request latency by endpoint.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"endpoint"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segmentflow_collector_messages_total",
			Help: "Messages by outcome: primary, standby, failover (held in GCS), rejected (invalid), unavailable (503).",
		}, []string{"outcome"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "segmentflow_collector_batch_messages", Help: "Messages per request.",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500},
		}),
		publish: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "segmentflow_collector_publish_duration_seconds", Help: "Time to publish one request's messages, by target.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"target"}),
		failoverWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segmentflow_collector_failover_writes_total", Help: "GCS failover object writes by result.",
		}, []string{"result"}),
		badRows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segmentflow_collector_bad_rows_total", Help: "Refused messages by sink (dlq, gcs, lost) and reason code.",
		}, []string{"sink", "reason"}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "segmentflow_collector_replayed_events_total", Help: "Failover events republished to Pub/Sub.",
		}),
		tierOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "segmentflow_collector_target_open", Help: "1 while a Pub/Sub target's circuit breaker skips it.",
		}, []string{"target"}),
	}
	reg.MustRegister(m.requests, m.duration, m.messages, m.batchSize, m.publish, m.failoverWrites, m.badRows, m.replayed, m.tierOpen)
	return m
}
