package rules

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/segmentflow/segmentflow/event"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func track(name string, props map[string]any) *event.Event {
	return &event.Event{Type: event.Track, Event: name, UserID: "u1", MessageID: "m-" + name, Properties: props, EventTime: t0, ReceivedAt: t0}
}

// oneRule compiles a single rule for segment "s".
func oneRule(t *testing.T, when string) *Engine {
	t.Helper()
	eng, err := Compile(&RuleSet{Segments: []Segment{{ID: "s"}}, Rules: []Rule{{ID: "r", Segment: "s", When: when}}}, 3)
	if err != nil {
		t.Fatalf("compile %q: %v", when, err)
	}
	return eng
}

func TestRuleLanguage(t *testing.T) {
	u := &User{
		Traits: map[string]any{"birthDate": "2000-12-01", "born": "1990-06-15T08:00:00Z", "tags": []any{"vip", "beta"}, "lastPurchase": "2026-11-29T12:00:00Z"},
		Stats: Stats{
			Daily:          Counters{AdsWatched: 4, CardsPlayed: 2},
			Monthly:        Counters{AdsSkipped: 9},
			LastEngagement: t0.Add(-30 * time.Hour),
			RegularPlayer:  true,
		},
	}
	ev := track("user-watched-ad", map[string]any{"ad_id": "ad-1", "watched_seconds": 12.5, "tags": []any{"sports", "cards"}})
	ev.Context = map[string]any{"os": map[string]any{"name": "iOS"}}
	ev.Timestamp = t0.Add(-time.Minute)
	cases := map[string]bool{
		`event.name == "user-watched-ad" && event.type == "track" && event.user_id == "u1"`: true,
		`event.message_id == "m-user-watched-ad" && event.anonymous_id == ""`:               true,
		`event.properties.watched_seconds > 10`:                                             true,
		`event.context.os.name.lowerAscii() == "ios"`:                                       true,
		`event.context.?os.?version.orValue("none") == "none"`:                              true,
		`event.timestamp < event.event_time`:                                                true,
		`user.stats.daily.ads_watched >= 3 && user.stats.monthly.ads_skipped == 9`:          true,
		`user.stats.regular_player`:                                                         true,
		`age(user.traits.birthDate) == 25`:                                                  true, // 26 only from 1 Dec 2026
		`age(user.traits.born) == 36`:                                                       true,
		`age(timestamp("2008-11-30T00:00:00Z")) == 18`:                                      true,
		`hours_since(user.stats.last_engagement) == 30`:                                     true,
		`days_since(user.stats.last_engagement) == 1`:                                       true,
		`within(user.stats.last_engagement, duration("31h"))`:                               true,
		`within(user.stats.last_engagement, duration("29h"))`:                               false,
		`within(user.traits.lastPurchase, duration("24h"))`:                                 true,
		`within(now + duration("1h"), duration("24h"))`:                                     false, // the future is not "within the last"
		`has_any(event.properties.tags, ["cards", "chess"])`:                                true,
		`has_any(event.properties.tags, ["chess"])`:                                         false,
		`has_all(user.traits.tags, ["vip"])`:                                                true,
		`has_all(user.traits.tags, ["vip", "gold"])`:                                        false,
		`to_time("2026-11-30") < now`:                                                       true,
		`"birthDate" in user.traits && !("missing" in user.traits)`:                         true,
		`now == timestamp("2026-11-30T12:00:00Z")`:                                          true,
		`event.properties.ad_id.upperAscii() == "AD-1"`:                                     true,
	}
	for expr, want := range cases {
		eng := oneRule(t, expr)
		m, st := eng.Evaluate(ev, u, t0)
		if st.Errors != 0 {
			t.Errorf("%s: runtime error", expr)
			continue
		}
		if got := len(m) == 1; got != want {
			t.Errorf("%s = %v, want %v", expr, got, want)
		}
	}
}

func TestRuntimeErrorsAreCountedNotFatal(t *testing.T) {
	rs := &RuleSet{
		Segments: []Segment{{ID: "s"}, {ID: "t"}},
		Rules: []Rule{
			{ID: "missing-trait", Segment: "s", When: `age(user.traits.birthDate) >= 18`},
			{ID: "bad-date", Segment: "s", When: `age(user.traits.nickname) >= 18`},
			{ID: "missing-property", Segment: "s", When: `event.properties.level > 3`},
			{ID: "dyn-not-bool", Segment: "s", When: `event.properties.label`},
			{ID: "fine", Segment: "t", When: `true`},
		},
	}
	eng, err := Compile(rs, 1)
	if err != nil {
		t.Fatal(err)
	}
	ev := track("user-opened-app", map[string]any{"label": "x"})
	m, st := eng.Evaluate(ev, &User{Traits: map[string]any{"nickname": "zed"}}, t0)
	if st.Evaluated != 5 || st.Errors != 4 || st.Matched != 1 || len(m) != 1 || m[0].Segment != "t" {
		t.Fatalf("matches %+v stats %+v", m, st)
	}
	// A nil user is the user the platform has not seen: no traits, zero stats.
	if _, st := eng.Evaluate(ev, nil, t0); st.Errors != 4 {
		t.Fatalf("nil user stats %+v", st)
	}
}

func TestRuntimeCostLimit(t *testing.T) {
	// The estimate bounds maps by the collector's limits; a user trait list
	// can still be long, so the runtime limit is what stops this one.
	eng := oneRule(t, `user.traits.items.all(a, a >= 0)`)
	items := make([]any, 100_000)
	for i := range items {
		items[i] = i
	}
	_, st := eng.Evaluate(track("x", nil), &User{Traits: map[string]any{"items": items}}, t0)
	if st.Errors != 1 {
		t.Fatalf("stats %+v, want the cost limit to fail the rule", st)
	}
	m, st := eng.Evaluate(track("x", nil), &User{Traits: map[string]any{"items": items[:10]}}, t0)
	if st.Errors != 0 || len(m) != 1 {
		t.Fatalf("small input: %+v %+v", m, st)
	}
}

func TestEvaluateGameEvents(t *testing.T) {
	eng := loadGame(t)
	alice := &User{
		Traits: map[string]any{"birthDate": "2000-05-17"},
		Stats:  Stats{Daily: Counters{AdsWatched: 4, CardsPlayed: 7}, FirstSeen: t0.Add(-30 * 24 * time.Hour), LastEngagement: t0.Add(-time.Hour)},
	}
	ev := track("user-clicked-on-ad", map[string]any{"ad_id": "ad-9"})
	ev.Context = map[string]any{"os": map[string]any{"name": "Android"}}
	m, st := eng.Evaluate(ev, alice, t0)
	if st.Errors != 0 {
		t.Fatalf("errors: %+v", st)
	}
	if got := segmentsOf(m); got != "ad-clicker,os-android" {
		t.Errorf("segments = %s", got)
	}
	for _, x := range m {
		if x.RulesVersion != 1 || !x.EventTime.Equal(t0) || x.Rule == "" {
			t.Errorf("match %+v", x)
		}
	}
	ev = track("user-opened-app", nil)
	m, _ = eng.Evaluate(ev, alice, t0)
	if got := segmentsOf(m); got != "active-player,age-25-34" {
		t.Errorf("open: segments = %s", got)
	}
	// identify is matched by its type name.
	id := &event.Event{Type: event.Identify, UserID: "u1", MessageID: "i1", EventTime: t0, ReceivedAt: t0}
	m, _ = eng.Evaluate(id, alice, t0)
	if got := segmentsOf(m); got != "age-25-34" {
		t.Errorf("identify: segments = %s", got)
	}
}

func segmentsOf(ms []Match) string {
	var s []string
	for _, m := range ms {
		s = append(s, m.Segment)
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}

func TestEvaluateIsSafeForConcurrentUse(t *testing.T) {
	eng := loadGame(t)
	u := &User{Stats: Stats{Daily: Counters{CardsPlayed: 9}}}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				ev := track("user-played-card", map[string]any{"stake": float64(g*1000 + i)})
				m, st := eng.Evaluate(ev, u, t0)
				want := "active-player,engaged"
				if g*1000+i >= 1000 {
					want = "active-player,engaged,whale"
				}
				if got := segmentsOf(m); got != want || st.Errors != 0 {
					errs <- fmt.Errorf("goroutine %d event %d: %s (%+v), want %s", g, i, got, st, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// The index is an optimisation only: it never changes what matches.
func TestIndexedEvaluationMatchesEvaluatingEveryRule(t *testing.T) {
	eng := loadGame(t)
	names := []string{"user-opened-app", "user-played-card", "user-watched-ad", "user-skipped-ad", "user-clicked-on-ad", "user-bought-chips"}
	rapid.Check(t, func(rt *rapid.T) {
		typ := rapid.SampledFrom([]event.Type{event.Track, event.Track, event.Track, event.Identify, event.Screen}).Draw(rt, "type")
		ev := &event.Event{Type: typ, UserID: "u", MessageID: "m", EventTime: t0, ReceivedAt: t0,
			Properties: map[string]any{
				"stake":           float64(rapid.IntRange(0, 3000).Draw(rt, "stake")),
				"watched_seconds": float64(rapid.IntRange(0, 30).Draw(rt, "watched")),
			},
			Context: map[string]any{"os": map[string]any{"name": rapid.SampledFrom([]string{"iOS", "Android", "Linux"}).Draw(rt, "os")}},
		}
		if typ == event.Track {
			ev.Event = rapid.SampledFrom(names).Draw(rt, "name")
		}
		u := &User{
			Traits: map[string]any{"birthDate": fmt.Sprintf("%d-03-04", rapid.IntRange(1950, 2015).Draw(rt, "born"))},
			Stats: Stats{
				Daily:          Counters{AdsWatched: rapid.Int64Range(0, 6).Draw(rt, "aw"), AdsSkipped: rapid.Int64Range(0, 9).Draw(rt, "as"), CardsPlayed: rapid.Int64Range(0, 9).Draw(rt, "cp")},
				FirstSeen:      t0.Add(-time.Duration(rapid.IntRange(0, 100).Draw(rt, "fs")) * 24 * time.Hour),
				LastEngagement: t0.Add(-time.Duration(rapid.IntRange(0, 1000).Draw(rt, "le")) * time.Hour),
				RegularPlayer:  rapid.Bool().Draw(rt, "regular"),
			},
		}
		a, sa := eng.Evaluate(ev, u, t0)
		b, sb := eng.EvaluateAll(ev, u, t0)
		if segmentsOf(a) != segmentsOf(b) || sa.Matched != sb.Matched {
			rt.Fatalf("indexed %s, all %s", segmentsOf(a), segmentsOf(b))
		}
		if sa.Evaluated > sb.Evaluated {
			rt.Fatalf("index evaluated more rules (%d) than all (%d)", sa.Evaluated, sb.Evaluated)
		}
	})
}
