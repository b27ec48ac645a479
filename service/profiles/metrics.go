package profiles

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type metrics struct {
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	lookups      *prometheus.CounterVec
	rulesVersion prometheus.Gauge
	rulesErrors  prometheus.Counter
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segmentflow_profiles_requests_total", Help: "Profile API requests by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "segmentflow_profiles_request_seconds", Help: "Profile API request latency by route.",
			Buckets: []float64{.0002, .0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segmentflow_profiles_lookups_total", Help: "Profile lookups by result: found, not_found, error.",
		}, []string{"result"}),
		rulesVersion: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "segmentflow_profiles_rules_version", Help: "Rule-set version whose ttls and catalog are in force (0: none).",
		}),
		rulesErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "segmentflow_profiles_rules_load_errors_total", Help: "Published rule sets that failed to compile here.",
		}),
	}
	reg.MustRegister(m.requests, m.latency, m.lookups, m.rulesVersion, m.rulesErrors)
	return m
}

func (m *metrics) instrument(route string, h http.Handler) http.Handler {
	l := prometheus.Labels{"route": route}
	return promhttp.InstrumentHandlerDuration(m.latency.MustCurryWith(l),
		promhttp.InstrumentHandlerCounter(m.requests.MustCurryWith(l), h))
}
