package rules

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/segmentflow/segmentflow/event"
)

// batchExprs read the same paths in different ways (value, presence test,
// optional selection, inside and outside comprehensions, shadowed names),
// fail at run time on some inputs, and pin event names or not, so one
// batch mixes everything memoization and residuals must get right.
var batchExprs = []string{
	`event.properties.level > 3.0`,
	`has(event.properties.level) && event.properties.level > 3.0`,
	`has(event.properties.level)`,
	`!has(event.properties.level) || event.properties.level <= 3.0`,
	`event.properties.?level.orValue(0.0) > 3.0`,
	`"level" in event.properties`,
	`event.properties.size() > 1`,
	`event.properties.label`,
	`event.properties.tags.exists(t, t == "cards")`,
	`event.properties.tags.exists(event, event == "cards")`,
	`user.traits.tags.all(user, user != "banned")`,
	`has_any(event.properties.tags, user.traits.tags)`,
	`user.stats.daily.ads_watched >= 3`,
	`user.stats.daily.ads_watched >= 3 && user.stats.monthly.ads_skipped < 5`,
	`has(user.stats.first_seen) && days_since(user.stats.first_seen) > 2`,
	`has(user.stats.daily.ads_watched)`,
	`user.stats.regular_player || user.stats.daily.cards_played > 4`,
	`age(user.traits.birthDate) >= 18`,
	`"birthDate" in user.traits && age(user.traits.birthDate) < 30`,
	`user.traits.country != "XX"`,
	`within(user.stats.last_engagement, duration("48h"))`,
	`event.context.?os.?name.orValue("").lowerAscii() == "ios"`,
	`has(event.context.os) && event.context.os.name == "Android"`,
	`event.name == "user-watched-ad"`,
	`event.name == "user-watched-ad" && event.properties.level > 1.0`,
	`event.name in ["user-watched-ad", "user-played-card"] && user.stats.daily.ads_watched > 1 && event.name != "x"`,
	`"user-played-card" == event.name && (event.properties.stake >= 100.0 || user.traits.vip == true)`,
	`event.name == "user-played-card" && event.name == "user-watched-ad"`, // never matches; kept by events below
	`event.type == "identify" && has(user.traits.birthDate)`,
	`now > event.event_time - duration("1h") && event.timestamp <= now`,
	`event.name == "user-opened-app" // a trailing comment
	&& user.stats.daily.app_opens > 0`,
}

func batchRuleSet() *RuleSet {
	rs := &RuleSet{}
	for i, x := range batchExprs {
		rs.Segments = append(rs.Segments, Segment{ID: fmt.Sprintf("s%02d", i)})
		rs.Rules = append(rs.Rules, Rule{ID: fmt.Sprintf("r%02d", i), Segment: fmt.Sprintf("s%02d", i), When: x})
		// The same expression pinned by name, and behind a pre-filter.
		rs.Rules = append(rs.Rules, Rule{ID: fmt.Sprintf("p%02d", i), Segment: fmt.Sprintf("s%02d", i), When: `event.name == "user-played-card" && (` + x + `)`})
		if !strings.Contains(x, "event.name") {
			rs.Rules = append(rs.Rules, Rule{ID: fmt.Sprintf("f%02d", i), Segment: fmt.Sprintf("s%02d", i), When: x, Events: []string{"user-watched-ad", "identify"}})
		}
	}
	// A rule with a runtime cost limit runs on its own, between batched ones.
	rs.Rules = append(rs.Rules, Rule{ID: "costly", Segment: "s00", When: `user.traits.tags.all(a, a.size() < 10)`})
	return rs
}

func matchedRules(ms []Match) string {
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.Rule
	}
	sort.Strings(ids)
	return strings.Join(ids, ",")
}

// Batches, residuals and memoized paths are optimisations only: an event
// matches exactly the rules it matches when each rule runs on its own, and
// fails exactly the same ones.
func TestBatchesAgreeWithRulesOnTheirOwn(t *testing.T) {
	eng, err := Compile(batchRuleSet(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if b := eng.batches["user-played-card"]; b == nil || b.prog == nil || b.memoSlots == 0 {
		t.Fatalf("no memoized batch for user-played-card: %+v", b)
	}
	names := []string{"user-watched-ad", "user-played-card", "user-opened-app", "other"}
	rapid.Check(t, func(rt *rapid.T) {
		ev := &event.Event{Type: event.Track, UserID: "u", MessageID: "m", EventTime: t0, ReceivedAt: t0,
			Timestamp: t0.Add(-time.Duration(rapid.IntRange(0, 7200).Draw(rt, "skew")) * time.Second)}
		if rapid.IntRange(0, 5).Draw(rt, "identify") == 0 {
			ev.Type = event.Identify
		} else {
			ev.Event = rapid.SampledFrom(names).Draw(rt, "name")
		}
		if rapid.Bool().Draw(rt, "props") {
			ev.Properties = map[string]any{}
			if rapid.Bool().Draw(rt, "level") {
				ev.Properties["level"] = float64(rapid.IntRange(0, 6).Draw(rt, "lv"))
			}
			if rapid.Bool().Draw(rt, "stake") {
				ev.Properties["stake"] = float64(rapid.IntRange(0, 200).Draw(rt, "st"))
			}
			if rapid.Bool().Draw(rt, "label") {
				ev.Properties["label"] = rapid.SampledFrom([]any{true, false, "yes"}).Draw(rt, "lb")
			}
			if rapid.Bool().Draw(rt, "tags") {
				ev.Properties["tags"] = []any{rapid.SampledFrom([]string{"cards", "chess"}).Draw(rt, "tg")}
			}
		}
		if rapid.Bool().Draw(rt, "ctx") {
			ev.Context = map[string]any{"os": map[string]any{"name": rapid.SampledFrom([]string{"iOS", "Android"}).Draw(rt, "os")}}
		}
		var u *User
		if rapid.IntRange(0, 4).Draw(rt, "nil user") > 0 {
			u = &User{Traits: map[string]any{}, Stats: Stats{
				Daily:   Counters{AdsWatched: rapid.Int64Range(0, 5).Draw(rt, "aw"), CardsPlayed: rapid.Int64Range(0, 6).Draw(rt, "cp"), AppOpens: rapid.Int64Range(0, 1).Draw(rt, "ao")},
				Monthly: Counters{AdsSkipped: rapid.Int64Range(0, 9).Draw(rt, "as")},
			}}
			if rapid.Bool().Draw(rt, "seen") {
				u.Stats.FirstSeen = t0.Add(-time.Duration(rapid.IntRange(0, 5).Draw(rt, "fs")) * 24 * time.Hour)
				u.Stats.LastEngagement = t0.Add(-time.Duration(rapid.IntRange(0, 100).Draw(rt, "le")) * time.Hour)
			}
			if rapid.Bool().Draw(rt, "born") {
				u.Traits["birthDate"] = fmt.Sprintf("%d-01-02", rapid.IntRange(1980, 2015).Draw(rt, "by"))
			}
			if rapid.Bool().Draw(rt, "country") {
				u.Traits["country"] = rapid.SampledFrom([]string{"FR", "XX"}).Draw(rt, "cc")
			}
			if rapid.Bool().Draw(rt, "utags") {
				u.Traits["tags"] = []any{rapid.SampledFrom([]string{"cards", "banned", "vip"}).Draw(rt, "ut")}
			}
			if rapid.Bool().Draw(rt, "vip") {
				u.Traits["vip"] = rapid.Bool().Draw(rt, "vv")
			}
		}
		a, sa := eng.Evaluate(ev, u, t0)
		b, sb := eng.EvaluateAll(ev, u, t0)
		if matchedRules(a) != matchedRules(b) || sa.Errors != sb.Errors || sa.Matched != sb.Matched {
			rt.Fatalf("batched %s (%+v), on their own %s (%+v)", matchedRules(a), sa, matchedRules(b), sb)
		}
		// Matches come in rule-set order, as they always did.
		if !slices.IsSortedFunc(a, func(x, y Match) int { return ruleIndex(eng, x.Rule) - ruleIndex(eng, y.Rule) }) {
			rt.Fatalf("matches out of rule order: %s", matchedRules(a))
		}
	})
}

func ruleIndex(e *Engine, id string) int {
	return slices.IndexFunc(e.rules, func(r *compiledRule) bool { return r.ID == id })
}

func TestResidualDropsOnlyTheEventNameTests(t *testing.T) {
	for expr, want := range map[string]string{
		`event.name == "a" && user.stats.daily.ads_watched > 1`:                      `(user.stats.daily.ads_watched > 1)`,
		`user.stats.regular_player && "a" == event.name`:                             `(user.stats.regular_player)`,
		`event.name in ["a", "b"] && (has(event.properties.x) && event.name == "a")`: `(has(event.properties.x))`,
		`event.name == "a"`: `true`,
		`event.name == "a" && event.properties.tags.exists(t, t == "x")`:                   `(event.properties.tags.exists(t, t == "x"))`,
		`event.name == "a" && (user.stats.regular_player || event.name == "b")`:            `(user.stats.regular_player || event.name == "b")`,
		`event.name == "a" && age(user.traits.birthDate) >= 18 && event.properties.k == 1`: `(age(user.traits.birthDate) >= 18) && (event.properties.k == 1)`,
	} {
		eng := oneRule(t, expr)
		if got := eng.rules[0].residual; got != want {
			t.Errorf("residual of %s = %s, want %s", expr, got, want)
		}
	}
	// Nothing pins the name: the rule runs as written.
	if r := oneRule(t, `user.stats.regular_player || event.name == "a"`).rules[0]; r.residual != r.When {
		t.Errorf("unpinned rule got residual %q", r.residual)
	}
}

// The object types must expose every field of User, Stats and Counters by
// its json name, since rule authors read the json documents.
func TestObjectTypesCoverTheGoStructs(t *testing.T) {
	env, rt, err := newEnv()
	if err != nil {
		t.Fatal(err)
	}
	_ = env
	for _, c := range []struct {
		t  reflect.Type
		ot *objectType
	}{{reflect.TypeFor[User](), rt.user}, {reflect.TypeFor[Stats](), rt.stats}, {reflect.TypeFor[Counters](), rt.counters}} {
		var want []string
		for i := range c.t.NumField() {
			name, _, _ := strings.Cut(c.t.Field(i).Tag.Get("json"), ",")
			want = append(want, name)
		}
		got := slices.Clone(c.ot.names)
		sort.Strings(got)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: CEL fields %v, json fields %v", c.t.Name(), got, want)
		}
	}
}

// Every batched rule's outcome comes from the batch program itself, not
// from the fallback that runs a rule on its own.
func TestBatchRecordsEveryOutcome(t *testing.T) {
	eng, err := Compile(batchRuleSet(), 1)
	if err != nil {
		t.Fatal(err)
	}
	ev, u := benchInput()
	for name, b := range eng.batches {
		if b.prog == nil {
			continue
		}
		st := eng.types.getEvalState(ev, u, t0)
		st.prepare(b.memoSlots, b.batched, len(b.rules))
		if _, _, err := b.prog.Eval(&st.act); err != nil {
			t.Fatalf("%s: batch failed: %v", name, err)
		}
		for k, o := range st.act.outcomes {
			if o == outcomeUnset {
				t.Errorf("%s: rule %d of %d has no outcome", name, k, b.batched)
			}
		}
		eng.types.putEvalState(st)
	}
}

// Only rules whose cost can grow faster than their input keep a run-time
// cost limit and run outside the batches.
func TestOnlySuperlinearRulesAreCostTracked(t *testing.T) {
	for expr, want := range map[string]bool{
		`event.context.?os.?name.orValue("").lowerAscii() in ["ios", "ipados"]`:        false, // estimated high, but linear
		`user.traits.bio.lowerAscii().contains("cards") && size(user.traits.bio) > 10`: false,
		`user.stats.daily.ads_watched > 3`:                                             false,
		`user.traits.tags.exists(t, t.startsWith("vip"))`:                              true,
		`user.traits.tags.map(t, t + "!").size() > 2`:                                  true,
	} {
		if got := oneRule(t, expr).rules[0].costly; got != want {
			t.Errorf("%s: cost-tracked %v, want %v", expr, got, want)
		}
	}
	for _, r := range loadGame(t).rules {
		if r.costly {
			t.Errorf("game rule %s is cost-tracked", r.ID)
		}
	}
}
