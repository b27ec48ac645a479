package localstack

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// latency is a sliding-window p50/p99 of end-to-end delays. A Prometheus
// summary keeps it in bounded memory whatever the rate (its quantile
// streams are compacted), ages samples out after a minute so the status
// line shows the present, and is registered in Stack.Registry.
type latency struct {
	s prometheus.Summary
}

func newLatency(name, help string, reg prometheus.Registerer) *latency {
	s := prometheus.NewSummary(prometheus.SummaryOpts{
		Name:       name,
		Help:       help,
		Objectives: map[float64]float64{0.5: 0.01, 0.99: 0.001},
		MaxAge:     time.Minute,
		AgeBuckets: 6,
	})
	reg.MustRegister(s)
	return &latency{s: s}
}

func (l *latency) observe(d time.Duration) { l.s.Observe(d.Seconds()) }

// Quantiles are the window's p50 and p99 and the number of samples ever taken.
type Quantiles struct {
	P50, P99 time.Duration
	Count    uint64
}

func (l *latency) quantiles() Quantiles {
	var m dto.Metric
	if err := l.s.Write(&m); err != nil || m.Summary == nil {
		return Quantiles{}
	}
	q := Quantiles{Count: m.Summary.GetSampleCount()}
	for _, v := range m.Summary.Quantile {
		d := time.Duration(v.GetValue() * float64(time.Second))
		if v.GetValue() != v.GetValue() { // NaN: no sample in the window
			d = 0
		}
		switch v.GetQuantile() {
		case 0.5:
			q.P50 = d
		case 0.99:
			q.P99 = d
		}
	}
	return q
}
