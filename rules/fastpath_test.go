package rules

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"pgregory.net/rapid"

	"github.com/segmentflow/segmentflow/event"
)

// fastExprs compare every kind of value the fast paths read (ints,
// doubles, strings, bools, timestamps, nulls, lists, nested maps) with
// literals of the same and of other types, on paths that exist, paths that
// do not and paths through values that are not maps.
var fastExprs = []string{
	`event.properties.level > 3.0`,
	`event.properties.level >= 3`,
	`event.properties.level < 3`,
	`3 <= event.properties.level`,
	`event.properties.level == 3.0`,
	`event.properties.level != 3.0`,
	`event.properties.level == 3`,
	`event.properties.level != 3`,
	`event.properties.level > 9.3e18`,
	`event.properties.level < -9.3e18`,
	`event.properties.level > user.stats.daily.ads_watched`,
	`user.stats.daily.ads_watched <= event.properties.level`,
	`event.properties.level == event.properties.level`,
	`event.properties.label == "yes"`,
	`event.properties.label != true`,
	`event.properties.label > "a"`,
	`event.properties.label < false`,
	`event.properties.label == null`,
	`event.properties.tags == ["cards"]`,
	`event.properties.nested.deep.k >= 2`,
	`event.properties.nested.deep == {"k": 2.0}`,
	`event.context.os.name == "iOS"`,
	`event.context.os.name >= "B"`,
	`event.context.os.version > 16`,
	`user.traits.country != "XX"`,
	`user.traits.country < "G"`,
	`user.traits.vip == true`,
	`user.traits.vip > false`,
	`user.traits.score >= 10`,
	`user.traits.score < 10.5`,
	`user.stats.daily.ads_watched >= 3`,
	`user.stats.daily.ads_watched == 2`,
	`user.stats.monthly.ads_skipped != user.stats.daily.ads_watched`,
	`user.stats.regular_player == true`,
	`user.stats.regular_player >= user.traits.vip`,
	`user.stats.first_seen < timestamp("2026-11-28T00:00:00Z")`,
	`user.stats.last_engagement >= user.stats.first_seen`,
	`user.stats.first_seen == timestamp("0001-01-01T00:00:00Z")`,
	`event.event_time > now - duration("1h")`,
	`event.timestamp <= now`,
	`event.received_at == event.event_time`,
	`event.name == "user-played-card" && event.properties.stake >= 1000`,
	`event.type != "track" || event.user_id == "u"`,
	`event.anonymous_id == "" && event.source < "z"`,
	`event.message_id > "m"`,
	`has(event.properties.level) && event.properties.level >= 2`,
	`event.properties.?level.orValue(0.0) > 2.0`,
	`event.properties.tags.exists(t, t >= "c")`,
	`size(event.properties) > 2`,
	// Conjunctions of fast terms, with terms that fail, are not bools or
	// cannot be decided, in every position.
	`event.properties.level > 3.0 && user.traits.country != "XX" && user.stats.daily.ads_watched >= 2`,
	`event.properties.missing == 1 && user.stats.daily.ads_watched > 100`,
	`user.stats.daily.ads_watched > 100 && event.properties.missing == 1`,
	`user.stats.daily.ads_watched > 1 && event.properties.label`,
	`event.properties.label && event.properties.level > 1.0`,
	`true && event.properties.level >= 0`,
	`false && event.properties.level >= 0`,
	`3 < event.properties.level && event.properties.level < 8 && event.context.os.name == "iOS"`,
	`user.stats.regular_player && user.traits.vip`,
	`user.traits.vip && user.traits.score > 1 && user.traits.country == "FR"`,
	`event.properties.nested.deep.k == 2.0 && event.properties.tags == ["cards"]`,
}

func fastRuleSet() *RuleSet {
	rs := &RuleSet{}
	for i, x := range fastExprs {
		id := fmt.Sprintf("x%02d", i)
		rs.Segments = append(rs.Segments, Segment{ID: id})
		rs.Rules = append(rs.Rules,
			Rule{ID: "any-" + id, Segment: id, When: x},
			Rule{ID: "pinned-" + id, Segment: id, When: `event.name == "user-played-card" && (` + x + `)`})
	}
	return rs
}

// drawValue is a JSON-decoded value of any kind, or one a Go caller may
// put in a map (an int64, NaN, an infinity).
func drawValue(t *rapid.T, label string) any {
	return rapid.OneOf(
		rapid.Just[any](nil),
		rapid.Map(rapid.IntRange(-3, 12), func(i int) any { return float64(i) }),
		rapid.Map(rapid.Float64(), func(f float64) any { return f }),
		rapid.SampledFrom([]any{2.5, -0.0, 9.5e18, -9.5e18, math.NaN(), math.Inf(1), int64(3), int64(-1)}),
		rapid.SampledFrom([]any{"", "a", "yes", "iOS", "FR", "XX", "10"}),
		rapid.SampledFrom([]any{true, false}),
		rapid.Just[any]([]any{"cards"}),
		rapid.Just[any](map[string]any{"deep": map[string]any{"k": 2.0}}),
		rapid.Just[any](map[string]any{"deep": "flat"}),
	).Draw(t, label)
}

func drawMap(t *rapid.T, label string, keys ...string) map[string]any {
	switch rapid.IntRange(0, 5).Draw(t, label) {
	case 0:
		return nil
	case 1:
		return map[string]any{}
	}
	m := map[string]any{}
	for _, k := range keys {
		if rapid.Bool().Draw(t, label+"."+k) {
			m[k] = drawValue(t, label+"="+k)
		}
	}
	return m
}

func drawEvent(t *rapid.T, names []string) *event.Event {
	ev := &event.Event{Type: event.Track, UserID: rapid.SampledFrom([]string{"u", "v"}).Draw(t, "uid"),
		MessageID: rapid.SampledFrom([]string{"m1", "a"}).Draw(t, "mid"), Source: rapid.SampledFrom([]string{"", "dev"}).Draw(t, "src"),
		EventTime: t0, ReceivedAt: t0.Add(-time.Duration(rapid.IntRange(0, 1).Draw(t, "recv")) * time.Second),
		Timestamp: t0.Add(-time.Duration(rapid.IntRange(0, 7200).Draw(t, "skew")) * time.Second)}
	if rapid.IntRange(0, 5).Draw(t, "identify") == 0 {
		ev.Type = event.Identify
	} else {
		ev.Event = rapid.SampledFrom(names).Draw(t, "name")
	}
	ev.Properties = drawMap(t, "props", "level", "label", "tags", "nested", "stake", "watched_seconds", "completed")
	switch rapid.IntRange(0, 2).Draw(t, "ctx") {
	case 1:
		ev.Context = map[string]any{"os": drawMap(t, "os", "name", "version")}
	case 2:
		ev.Context = map[string]any{"os": drawValue(t, "os")}
	}
	return ev
}

func drawUser(t *rapid.T) *User {
	if rapid.IntRange(0, 4).Draw(t, "nil user") == 0 {
		return nil
	}
	u := &User{Traits: drawMap(t, "traits", "country", "vip", "score", "birthDate", "tags"), Stats: Stats{
		Daily:         Counters{AdsWatched: rapid.Int64Range(0, 5).Draw(t, "aw"), CardsPlayed: rapid.Int64Range(0, 9).Draw(t, "cp"), AdsSkipped: rapid.Int64Range(0, 9).Draw(t, "das")},
		Monthly:       Counters{AdsSkipped: rapid.Int64Range(0, 9).Draw(t, "as")},
		RegularPlayer: rapid.Bool().Draw(t, "regular"),
	}}
	if rapid.Bool().Draw(t, "seen") {
		u.Stats.FirstSeen = t0.Add(-time.Duration(rapid.IntRange(0, 100).Draw(t, "fs")) * 24 * time.Hour)
		u.Stats.LastEngagement = t0.Add(-time.Duration(rapid.IntRange(0, 1000).Draw(t, "le")) * time.Hour)
	}
	if u.Traits != nil && rapid.Bool().Draw(t, "born") {
		u.Traits["birthDate"] = fmt.Sprintf("%d-03-04", rapid.IntRange(1950, 2015).Draw(t, "by"))
	}
	return u
}

// outcomes are each candidate rule's outcome for an event two ways: from
// its batch (memo, comparisons, fast reads) and from its own plain program.
func outcomes(e *Engine, ev *event.Event, u *User) (batched, own map[string]string) {
	b, ok := e.batches[ev.EventName()]
	if !ok {
		b = e.anyBatch
	}
	name := map[types.Int]string{outcomeMatch: "match", outcomeNoMatch: "no", outcomeError: "error", outcomeUnset: "unset"}
	batched, own = map[string]string{}, map[string]string{}
	st := e.types.getEvalState(ev, u, t0)
	for i, o := range b.eval(st) {
		batched[b.rules[i].ID] = name[o]
	}
	e.types.putEvalState(st)
	for _, r := range b.rules {
		st := e.types.getEvalState(ev, u, t0)
		own[r.ID] = name[r.eval(&st.act)]
		e.types.putEvalState(st)
	}
	return batched, own
}

func diffOutcomes(a, b map[string]string) string {
	var d []string
	for id, o := range a {
		if b[id] != o {
			d = append(d, fmt.Sprintf("%s: batched %s, own program %s", id, o, b[id]))
		}
	}
	return strings.Join(d, "; ")
}

// The fast paths are shortcuts only: every rule of every test rule set, the
// testdata ones included, gives the same outcome (match, no match, error) in
// its batch as in its own plain program, on events and users of every shape.
func TestFastPathsAgree(t *testing.T) {
	sets := map[string]*RuleSet{"fast": fastRuleSet(), "batch": batchRuleSet()}
	files, err := filepath.Glob("../testdata/rulesets/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata rule sets: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := Parse(b)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		sets[filepath.Base(f)] = rs
	}
	names := []string{"user-played-card", "user-opened-app", "user-watched-ad", "user-skipped-ad", "user-clicked-on-ad", "other"}
	for name, rs := range sets {
		eng, err := Compile(rs, 1)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Run(name, func(t *testing.T) {
			rapid.Check(t, func(rt *rapid.T) {
				ev, u := drawEvent(rt, names), drawUser(rt)
				checkFastReads(rt, eng, ev, u)
				batched, own := outcomes(eng, ev, u)
				if d := diffOutcomes(batched, own); d != "" {
					rt.Fatalf("%s\nevent %+v\nuser %+v", d, ev, u)
				}
				a, sa := eng.Evaluate(ev, u, t0)
				b, sb := eng.EvaluateAll(ev, u, t0)
				if matchedRules(a) != matchedRules(b) || sa.Matched != sb.Matched || sa.Errors != sb.Errors {
					rt.Fatalf("Evaluate %s (%+v), EvaluateAll %s (%+v)", matchedRules(a), sa, matchedRules(b), sb)
				}
			})
		})
	}
}

// A fast read gives what the interpreter reads, value and type, whenever
// it answers at all.
func checkFastReads(t *rapid.T, e *Engine, ev *event.Event, u *User) {
	for _, b := range append([]*batch{e.anyBatch}, mapValues(e.batches)...) {
		st := e.types.getEvalState(ev, u, t0)
		st.prepare(b.memoSlots, b.batched, len(b.rules))
		for _, m := range b.fastReads {
			v, ok := m.fast.read(&st.act)
			if !ok {
				continue
			}
			want := m.InterpretableAttribute.Exec(st.frame())
			if !sameVal(v, want) {
				t.Fatalf("fast read %v (%T), interpreter %v (%T)", v, v, want, want)
			}
		}
		e.types.putEvalState(st)
	}
}

// sameVal: equal values of the same type, where a NaN equals a NaN and a
// map or list is the same Go value (CEL's equality says a NaN inside them
// makes them unequal).
func sameVal(a, b ref.Val) bool {
	if a.Type() != b.Type() {
		return false
	}
	if types.Equal(a, b) == types.True {
		return true
	}
	if x, ok := a.(types.Double); ok {
		return math.IsNaN(float64(x)) && math.IsNaN(float64(b.(types.Double)))
	}
	ra, rb := reflect.ValueOf(a.Value()), reflect.ValueOf(b.Value())
	switch ra.Kind() {
	case reflect.Map, reflect.Slice:
		return ra.Kind() == rb.Kind() && ra.UnsafePointer() == rb.UnsafePointer()
	}
	return false
}

func mapValues[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// The benchmark's rules and the game's take the fast paths: a cel-go
// upgrade that plans attributes, comparisons or the batch differently must
// fail here, not only show as a slower benchmark.
func TestFastPathsAreTaken(t *testing.T) {
	if s := plain(); s.attr == "" || len(s.quals) != 2 {
		t.Fatalf("could not learn cel-go's plain attribute and qualifier nodes: %+v", s)
	}
	for name, eng := range map[string]*Engine{"bench": benchEngine(t), "game": loadGame(t)} {
		for n, b := range eng.batches {
			if b.batched > 0 && len(b.nodes) != b.batched {
				t.Errorf("%s %s: %d of %d rules run node by node", name, n, len(b.nodes), b.batched)
			}
		}
	}
	b := benchEngine(t).batches["event-3"]
	for k, r := range b.fast {
		if r == nil {
			t.Errorf("bench rule %s does not run as a fast rule", b.rules[k].ID)
		}
	}
	// Each rule reads three constant paths and compares each.
	if len(b.fastReads) != 3*len(b.rules) || b.comparisons != 3*len(b.rules) {
		t.Errorf("bench batch: %d fast reads and %d comparisons for %d rules, want 3 each per rule", len(b.fastReads), b.comparisons, len(b.rules))
	}
}

// A rule whose evaluation panics is an error for that rule alone, as when
// the batch ran through Program.Eval: the rules after it still run in the
// batch.
func TestBatchSurvivesAPanickingRule(t *testing.T) {
	env, rt, err := newEnv()
	if err != nil {
		t.Fatal(err)
	}
	env, err = env.Extend(cel.Function("boom", cel.Overload("boom_int", []*cel.Type{cel.IntType}, cel.BoolType,
		cel.UnaryBinding(func(v ref.Val) ref.Val { panic(fmt.Sprintf("boom %v", v)) }))))
	if err != nil {
		t.Fatal(err)
	}
	var rules []*compiledRule
	for i, when := range []string{`user.stats.daily.ads_watched > 1`, `boom(user.stats.daily.ads_watched)`, `user.stats.daily.ads_watched > 1 && event.properties.level > 2.0`} {
		a, iss := env.Compile(when)
		if iss.Err() != nil {
			t.Fatal(iss.Err())
		}
		prog, err := env.Program(a)
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, &compiledRule{Rule: Rule{ID: fmt.Sprint(i), When: when}, prog: prog, residual: when})
	}
	benv, err := batchEnv(env)
	if err != nil {
		t.Fatal(err)
	}
	b, err := newBatch(benv, rt, rules, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.nodes) != 3 {
		t.Fatalf("batch not run node by node: %d nodes", len(b.nodes))
	}
	ev, u := benchInput()
	st := rt.getEvalState(ev, u, t0)
	got := slices.Clone(b.eval(st))
	rt.putEvalState(st)
	if want := []types.Int{outcomeMatch, outcomeError, outcomeMatch}; !slices.Equal(got, want) {
		t.Errorf("outcomes %v, want %v", got, want)
	}
}
