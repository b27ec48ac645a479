package rules

import (
	"fmt"
	"testing"
	"time"

	"github.com/segmentflow/segmentflow/event"
)

// benchEngine is the benchmark rule set: 100 rules over 10 event
// types, each pinning its event by name in the expression (so the index is
// derived, not given) and reading the event, the stats and the traits.
func benchEngine(b testing.TB) *Engine {
	b.Helper()
	rs := &RuleSet{}
	for i := range 20 {
		rs.Segments = append(rs.Segments, Segment{ID: fmt.Sprintf("seg-%02d", i)})
	}
	for i := range 100 {
		rs.Rules = append(rs.Rules, Rule{
			ID:      fmt.Sprintf("rule-%03d", i),
			Segment: fmt.Sprintf("seg-%02d", i%20),
			When: fmt.Sprintf(`event.name == "event-%d" && user.stats.daily.ads_watched >= %d && event.properties.level > %d.0 && user.traits.country != "XX"`,
				i%10, i/10%4, i/10),
		})
	}
	eng, err := Compile(rs, 1)
	if err != nil {
		b.Fatal(err)
	}
	return eng
}

// BenchmarkCompile100Rules is what a hot reload pays per rule-set version:
// checking, cost estimation and planning every rule and every batch.
func BenchmarkCompile100Rules(b *testing.B) {
	for b.Loop() {
		benchEngine(b)
	}
}

func benchInput() (*event.Event, *User) {
	ev := &event.Event{Type: event.Track, Event: "event-3", UserID: "u1", MessageID: "m1",
		Properties: map[string]any{"level": 5.0, "card": "ace"},
		Context:    map[string]any{"os": map[string]any{"name": "iOS"}},
		EventTime:  t0, ReceivedAt: t0}
	u := &User{Traits: map[string]any{"country": "FR"}, Stats: Stats{Daily: Counters{AdsWatched: 2}}}
	return ev, u
}

func BenchmarkEvaluate100Rules(b *testing.B) {
	eng := benchEngine(b)
	ev, u := benchInput()
	for _, c := range []struct {
		name string
		eval func(*event.Event, *User, time.Time) ([]Match, EvalStats)
	}{{"indexed", eng.Evaluate}, {"all", eng.EvaluateAll}} {
		b.Run(c.name, func(b *testing.B) {
			m, st := c.eval(ev, u, t0)
			if len(m) == 0 || st.Errors != 0 {
				b.Fatalf("benchmark event matches nothing: %+v %+v", m, st)
			}
			b.ReportAllocs()
			cpu0, ok := processCPU()
			for b.Loop() {
				c.eval(ev, u, t0)
			}
			if cpu1, ok1 := processCPU(); ok && ok1 {
				b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/event")
			}
			b.ReportMetric(float64(st.Evaluated), "rules/event")
		})
	}
}

func BenchmarkEvaluateGame(b *testing.B) {
	eng := loadGame(b)
	ev := &event.Event{Type: event.Track, Event: "user-played-card", UserID: "u1", MessageID: "m1",
		Properties: map[string]any{"stake": 1500.0}, Context: map[string]any{"os": map[string]any{"name": "Android"}},
		EventTime: t0, ReceivedAt: t0}
	u := &User{Traits: map[string]any{"birthDate": "1990-01-02"}, Stats: Stats{Daily: Counters{CardsPlayed: 9}}}
	b.ReportAllocs()
	cpu0, ok := processCPU()
	for b.Loop() {
		eng.Evaluate(ev, u, t0)
	}
	if cpu1, ok1 := processCPU(); ok && ok1 {
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/event")
	}
}

// BenchmarkMerge50 folds one event's matches into a profile of 50 segments
// (groups, hierarchy, ttls) and computes the view before and after, which is
// the classifier's per-event work besides evaluation.
func BenchmarkMerge50(b *testing.B) {
	rs := &RuleSet{Rules: []Rule{{ID: "r", Segment: "s-00", When: "true"}}}
	for i := range 50 {
		s := Segment{ID: fmt.Sprintf("s-%02d", i)}
		switch {
		case i < 10:
			s.Group = fmt.Sprintf("g%d", i%3)
		case i < 30:
			s.Parent = fmt.Sprintf("s-%02d", i-10)
			s.TTL = "720h"
		}
		rs.Segments = append(rs.Segments, s)
	}
	eng, err := Compile(rs, 1)
	if err != nil {
		b.Fatal(err)
	}
	var st State
	for i := range 50 {
		eng.Merge(&st, []Match{{Segment: fmt.Sprintf("s-%02d", i), Rule: "r", RulesVersion: 1, EventTime: t0.Add(time.Duration(i) * time.Minute)}}, t0)
	}
	matches := []Match{
		{Segment: "s-25", Rule: "r", RulesVersion: 1, EventTime: t0.Add(time.Hour)},
		{Segment: "s-03", Rule: "r", RulesVersion: 1, EventTime: t0.Add(time.Hour)},
		{Segment: "s-40", Rule: "r", RulesVersion: 1, EventTime: t0.Add(time.Hour)},
	}
	b.Run("merge", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c := State{Segments: make(map[string]Membership, len(st.Segments))}
			for k, v := range st.Segments {
				c.Segments[k] = v
			}
			eng.Merge(&c, matches, t0)
		}
	})
	b.Run("view", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			eng.View(st, t0.Add(2*time.Hour))
		}
	})
}
