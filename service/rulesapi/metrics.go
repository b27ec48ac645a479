package rulesapi

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type metrics struct {
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	publishes *prometheus.CounterVec
	validates *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segmentflow_rulesapi_requests_total", Help: "Rules API requests by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "segmentflow_rulesapi_request_seconds", Help: "Rules API request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"route"}),
		publishes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segmentflow_rulesapi_publishes_total", Help: "Publish and rollback attempts by outcome (ok, conflict, invalid, error).",
		}, []string{"action", "outcome"}),
		validates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segmentflow_rulesapi_validations_total", Help: "Validations by result (valid, invalid).",
		}, []string{"result"}),
	}
	reg.MustRegister(m.requests, m.latency, m.publishes, m.validates)
	return m
}

func (m *metrics) instrument(route string, h http.Handler) http.Handler {
	l := prometheus.Labels{"route": route}
	return promhttp.InstrumentHandlerDuration(m.latency.MustCurryWith(l),
		promhttp.InstrumentHandlerCounter(m.requests.MustCurryWith(l), h))
}
