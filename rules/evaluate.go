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
	cands, ok := e.byName[ev.EventName()]
	if !ok {
		cands = e.anyName
	}
	return e.run(cands, ev, u, now, false)
}

// EvaluateAll runs the expression of every rule whose `events` pre-filter
// lets the event through, ignoring the event-name index (and the names it
// derives from expressions). It gives the same matches as Evaluate and
// exists to measure what the index saves.
func (e *Engine) EvaluateAll(ev *event.Event, u *User, now time.Time) ([]Match, EvalStats) {
	return e.run(e.rules, ev, u, now, true)
}

func (e *Engine) run(cands []*compiledRule, ev *event.Event, u *User, now time.Time, prefilter bool) ([]Match, EvalStats) {
	var st EvalStats
	if len(cands) == 0 {
		return nil, st
	}
	act := e.activation(ev, u, now)
	at := eventTime(ev)
	if at.IsZero() {
		at = now
	}
	var out []Match
	name := ev.EventName()
	for _, r := range cands {
		if prefilter && len(r.Events) > 0 && !slices.Contains(r.Events, name) {
			continue
		}
		st.Evaluated++
		v, _, err := r.prog.Eval(act)
		if err != nil {
			st.Errors++
			continue
		}
		switch v {
		case types.True:
			st.Matched++
			out = append(out, Match{Segment: r.Segment, Rule: r.ID, RulesVersion: e.version, EventTime: at})
		case types.False:
		default:
			st.Errors++ // a dyn result that is not a bool
		}
	}
	return out, st
}

// activation resolves the three rule variables. The values are adapted to
// CEL once per event, not once per rule.
type activation struct {
	event, user, now ref.Val
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case varEvent:
		return a.event, true
	case varUser:
		return a.user, true
	case varNow:
		return a.now, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

func (e *Engine) activation(ev *event.Event, u *User, now time.Time) *activation {
	adapter := e.env.CELTypeAdapter()
	cu := &User{}
	if u != nil {
		*cu = *u
	}
	if cu.Traits == nil {
		cu.Traits = map[string]any{}
	}
	return &activation{
		event: adapter.NativeToValue(newCELEvent(ev)),
		user:  adapter.NativeToValue(cu),
		now:   types.Timestamp{Time: now},
	}
}
