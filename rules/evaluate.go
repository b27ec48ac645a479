package rules

import (
	"slices"
	"time"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"

	"github.com/segmentflow/segmentflow/event"
)

// EvalStats counts one Evaluate call: rules evaluated, rules matched, and
// rules that failed at run time (missing key or trait, wrong type, cost
// limit). A failure is a non-match, never fatal.
type EvalStats struct {
	Evaluated int
	Matched   int
	Errors    int
}

// Add sums stats, for callers that aggregate over many events.
func (s *EvalStats) Add(o EvalStats) {
	s.Evaluated += o.Evaluated
	s.Matched += o.Matched
	s.Errors += o.Errors
}

// Evaluate runs the rules that can match ev's name and returns one Match per
// matching rule, stamped with the event's (corrected) time. u may be nil
// for a user the platform has not seen. now is the `now` of the rules,
// normally the event time in pipelines, so replays give the same answer.
func (e *Engine) Evaluate(ev *event.Event, u *User, now time.Time) ([]Match, EvalStats) {
	var st EvalStats
	b, ok := e.batches[ev.EventName()]
	if !ok {
		b = e.anyBatch
	}
	if len(b.rules) == 0 {
		return nil, st
	}
	state := e.types.getEvalState(ev, u, now)
	res := b.eval(state)
	n := 0
	for _, o := range res {
		if o == outcomeMatch {
			n++
		}
	}
	var out []Match
	if n > 0 {
		out = make([]Match, n)
	}
	at := matchTime(state.ev.at, now)
	j := 0
	for i, o := range res {
		st.Evaluated++
		switch o {
		case outcomeMatch:
			// Field by field into the new slice: a Match built and copied
			// in costs a bulk write barrier while the collector marks.
			m, r := &out[j], b.rules[i]
			m.Segment, m.Rule, m.RulesVersion, m.EventTime = r.Segment, r.ID, e.version, at
			j++
			st.Matched++
		case outcomeError:
			st.Errors++
		}
	}
	e.types.putEvalState(state)
	return out, st
}

// matchTime is what a match is stamped with: the event's time, or now for
// an event that carries none.
func matchTime(at, now time.Time) time.Time {
	if at.IsZero() {
		return now
	}
	return at
}

// EvaluateAll runs the expression of every rule whose `events` pre-filter
// lets the event through, one program per rule, ignoring the event-name
// index (and the names it derives from expressions) and the batches. It
// gives the same matches as Evaluate and exists to check it and to measure
// what the index and the batches save.
func (e *Engine) EvaluateAll(ev *event.Event, u *User, now time.Time) ([]Match, EvalStats) {
	return e.run(e.rules, ev, u, now, true)
}

func (e *Engine) run(cands []*compiledRule, ev *event.Event, u *User, now time.Time, prefilter bool) ([]Match, EvalStats) {
	var st EvalStats
	if len(cands) == 0 {
		return nil, st
	}
	state := e.types.getEvalState(ev, u, now)
	defer e.types.putEvalState(state)
	at := matchTime(state.ev.at, now)
	var out []Match
	name := ev.EventName()
	for _, r := range cands {
		if prefilter && len(r.Events) > 0 && !slices.Contains(r.Events, name) {
			continue
		}
		out = e.record(out, &st, r, r.eval(&state.act), at)
	}
	return out, st
}

func (e *Engine) record(out []Match, st *EvalStats, r *compiledRule, o types.Int, at time.Time) []Match {
	st.Evaluated++
	switch o {
	case outcomeMatch:
		st.Matched++
		return append(out, Match{Segment: r.Segment, Rule: r.ID, RulesVersion: e.version, EventTime: at})
	case outcomeError:
		st.Errors++
	}
	return out
}

// activation resolves the three rule variables. The values are adapted to
// CEL once per event, not once per rule.
type activation struct {
	event, user ref.Val
	// now is adapted on first use: most rules never read it.
	now     ref.Val
	nowTime time.Time
	// memo holds the values a batch shares between its rules (memo.go);
	// outcomes what each of its rules gave (batch.go).
	memo     []ref.Val
	outcomes []types.Int
	// raw holds the Go values of the paths fast rules read (fastpath.go).
	raw []any
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case varEvent:
		return a.event, true
	case varUser:
		return a.user, true
	case varNow:
		if a.now == nil {
			a.now = types.Timestamp{Time: a.nowTime}
		}
		return a.now, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }
