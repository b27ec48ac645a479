package localstack

import (
	"fmt"
	"maps"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Status is one reading of the stack's counters (since start).
type Status struct {
	At time.Time
	// Accepted events (collector: held by Pub/Sub or the failover store);
	// Refused ones were invalid and went to the bad-rows sink.
	Accepted, Refused int64
	// InLake events are in raw lake objects rolled during this run.
	InLake int64
	// Classified events went through classify (-1 while it is not wired).
	Classified int64
	// ProfilesChanged counts profile versions written.
	ProfilesChanged int64
	// Deliveries are changes each partner accepted.
	Deliveries map[string]int64
	// DeadLetters: refused collector messages plus partner dead letters.
	DeadLetters int64
	// Latencies from collector receipt to the profile write and to a
	// partner receiver, over the last minute.
	ToProfile, ToPartner Quantiles
	// HeapBytes is the Go heap in use; PeakRSS the process's peak resident
	// memory (Linux; 0 elsewhere).
	HeapBytes, PeakRSS uint64
}

// Status reads the counters now.
func (s *Stack) Status() Status {
	st := Status{At: time.Now(), Deliveries: map[string]int64{}, Classified: -1}
	cm := gather(s.colReg)
	for _, out := range []string{"primary", "standby", "failover"} {
		st.Accepted += int64(cm.sum("segmentflow_collector_messages_total", "outcome", out))
	}
	st.Refused = int64(cm.sum("segmentflow_collector_messages_total", "outcome", "rejected"))
	st.DeadLetters = int64(cm.sum("segmentflow_collector_bad_rows_total", "", ""))
	am := gather(s.actReg)
	st.DeadLetters += int64(am.sum("segmentflow_activate_dead_lettered_total", "", ""))
	for _, p := range s.Partners {
		st.Deliveries[p.ID] = int64(am.sum("segmentflow_activate_delivered_total", "partner", p.ID))
	}
	if s.lake != nil {
		st.InLake = s.lake.events.Load()
	}
	if s.profiles != nil {
		st.ProfilesChanged = s.profiles.changed.Load()
	}
	if s.classifyOn {
		st.Classified = s.classified.Load()
		st.DeadLetters += s.classifyDead.Load()
	}
	st.ToProfile, st.ToPartner = s.toProfile.quantiles(), s.toPartner.quantiles()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st.HeapBytes, st.PeakRSS = ms.HeapInuse, peakRSS()
	return st
}

// Line is the one-line rendering printed every second.
func (st Status) Line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s accepted %d refused %d | lake %d | classified %s | profiles %d | delivered",
		st.At.Format("15:04:05"), st.Accepted, st.Refused, st.InLake, count(st.Classified), st.ProfilesChanged)
	for _, id := range slices.Sorted(maps.Keys(st.Deliveries)) {
		fmt.Fprintf(&b, " %s %d", id, st.Deliveries[id])
	}
	fmt.Fprintf(&b, " | dead %d | ->profile p50 %s p99 %s | ->partner p50 %s p99 %s | heap %d MB",
		st.DeadLetters, ms(st.ToProfile.P50), ms(st.ToProfile.P99), ms(st.ToPartner.P50), ms(st.ToPartner.P99), st.HeapBytes>>20)
	return b.String()
}

func count(n int64) string {
	if n < 0 {
		return "-"
	}
	return strconv.FormatInt(n, 10)
}

func ms(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return d.Round(time.Millisecond).String()
}

// families is a gathered registry by metric name.
type families map[string]*dto.MetricFamily

func gather(r *prometheus.Registry) families {
	fs, err := r.Gather()
	if err != nil && len(fs) == 0 {
		return nil
	}
	out := make(families, len(fs))
	for _, f := range fs {
		out[f.GetName()] = f
	}
	return out
}

// sum adds the counters (or gauges) of name whose label has value (every
// series when label is empty).
func (f families) sum(name, label, value string) float64 {
	mf, ok := f[name]
	if !ok {
		return 0
	}
	var total float64
	for _, m := range mf.Metric {
		if label != "" && !hasLabel(m, label, value) {
			continue
		}
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		}
	}
	return total
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.Label {
		if l.GetName() == name {
			return l.GetValue() == value
		}
	}
	return false
}

// peakRSS is VmHWM of /proc/self/status in bytes.
func peakRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
