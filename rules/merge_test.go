package rules

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// mergeRuleSet has an exclusive group with a child of one member, append
// segments with a hierarchy, and ttls at several levels.
func mergeEngine(t testing.TB) *Engine {
	t.Helper()
	rs := &RuleSet{
		Segments: []Segment{
			{ID: "casual", Group: "level"},
			{ID: "engaged", Group: "level", Merge: MergeOverwrite},
			{ID: "new", Group: "level", TTL: "2h"},
			{ID: "clicker", Parent: "engaged", TTL: "3h"},
			{ID: "whale", Parent: "engaged"},
			{ID: "watcher"},
			{ID: "binge", Parent: "watcher", TTL: "1h"},
			{ID: "ios", Group: "os"},
			{ID: "android", Group: "os"},
		},
		Rules: []Rule{{ID: "r", Segment: "watcher", When: "true"}},
		Partners: []Partner{
			{ID: "dsp", Segments: []string{"engaged", "clicker", "whale"}, Endpoint: "http://x"},
			{ID: "dmp", Segments: []string{"watcher", "ios", "android"}, Endpoint: "http://y"},
		},
	}
	eng, err := Compile(rs, 2)
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

func match(seg string, min int) Match {
	return Match{Segment: seg, Rule: "rule-" + seg, RulesVersion: 2, EventTime: at(min)}
}

func viewIDs(eng *Engine, st State, now time.Time) string {
	return strings.Join(SortedIDs(eng.View(st, now)), ",")
}

func TestMergeImpliesAncestors(t *testing.T) {
	eng := mergeEngine(t)
	var st State
	if !eng.Merge(&st, []Match{match("clicker", 5)}, t0) {
		t.Fatal("first match reported no change")
	}
	e, ok := st.Segments["engaged"]
	if !ok || e.Rule != "rule-clicker" || !e.AssignedAt.Equal(at(5)) || !e.LastMatchedAt.Equal(at(5)) || e.RulesVersion != 2 {
		t.Fatalf("implied ancestor = %+v", e)
	}
	c := st.Segments["clicker"]
	if !c.ExpiresAt.Equal(at(5).Add(3*time.Hour)) || !e.ExpiresAt.IsZero() {
		t.Fatalf("ttl: clicker %+v engaged %+v", c, e)
	}
	if got := viewIDs(eng, st, at(6)); got != "clicker,engaged" {
		t.Fatalf("view = %s", got)
	}
}

func TestMergeKeepsEarliestAssignmentAndLatestMatch(t *testing.T) {
	eng := mergeEngine(t)
	var st State
	eng.Merge(&st, []Match{match("watcher", 10)}, t0)
	if eng.Merge(&st, []Match{match("watcher", 10)}, t0) {
		t.Error("a duplicate match changed the state")
	}
	// An append segment without ttl does not track its latest match, so a
	// later repeat does not rewrite the profile either.
	if eng.Merge(&st, []Match{match("watcher", 20)}, t0) {
		t.Error("a later repeat of an append segment changed the state")
	}
	if !eng.Merge(&st, []Match{match("watcher", 5)}, t0) || !st.Segments["watcher"].AssignedAt.Equal(at(5)) {
		t.Errorf("an earlier match must move assigned_at back: %+v", st.Segments["watcher"])
	}
	// Same time, two rules: the smallest rule id is kept whatever the order.
	m1 := Match{Segment: "whale", Rule: "b-rule", RulesVersion: 2, EventTime: at(1)}
	m2 := Match{Segment: "whale", Rule: "a-rule", RulesVersion: 2, EventTime: at(1)}
	var x, y State
	eng.Merge(&x, []Match{m1, m2}, t0)
	eng.Merge(&y, []Match{m2, m1}, t0)
	if x.Segments["whale"].Rule != "a-rule" || !reflect.DeepEqual(x, y) {
		t.Errorf("tie: %+v vs %+v", x.Segments["whale"], y.Segments["whale"])
	}
	// A match without an event time is stamped with now.
	var z State
	eng.Merge(&z, []Match{{Segment: "watcher", Rule: "r"}}, at(42))
	if !z.Segments["watcher"].AssignedAt.Equal(at(42)) {
		t.Errorf("zero time: %+v", z.Segments["watcher"])
	}
	// Segments the rule set no longer has are dropped.
	if eng.Merge(&z, []Match{match("gone", 1)}, t0) || len(z.Segments) != 1 {
		t.Errorf("unknown segment merged: %+v", z)
	}
}

func TestExclusiveGroupLatestWinsAndTakesDescendants(t *testing.T) {
	eng := mergeEngine(t)
	var st State
	eng.Merge(&st, []Match{match("clicker", 10), match("whale", 11), match("casual", 20)}, t0)
	if got := viewIDs(eng, st, at(21)); got != "casual" {
		t.Fatalf("casual displaced engaged: view = %s", got)
	}
	// engaged comes back through its child, and brings the still-held whale.
	eng.Merge(&st, []Match{match("clicker", 30)}, t0)
	if got := viewIDs(eng, st, at(31)); got != "clicker,engaged,whale" {
		t.Fatalf("view = %s", got)
	}
	// Ties in a group go to the smallest segment id.
	var tie State
	eng.Merge(&tie, []Match{match("ios", 5), match("android", 5)}, t0)
	if got := viewIDs(eng, tie, at(6)); got != "android" {
		t.Fatalf("tie view = %s", got)
	}
}

func TestTTLExpiry(t *testing.T) {
	eng := mergeEngine(t)
	var st State
	eng.Merge(&st, []Match{match("binge", 0), match("clicker", 0)}, t0)
	if got := viewIDs(eng, st, at(59)); got != "binge,clicker,engaged,watcher" {
		t.Fatalf("before expiry: %s", got)
	}
	// ExpiresAt <= now is expired.
	if got := viewIDs(eng, st, at(60)); got != "clicker,engaged,watcher" {
		t.Fatalf("binge expires at 1h: %s", got)
	}
	if got := viewIDs(eng, st, at(180)); got != "engaged,watcher" {
		t.Fatalf("clicker expires at 3h: %s", got)
	}
	// A later match extends the ttl.
	eng.Merge(&st, []Match{match("binge", 50)}, t0)
	if got := viewIDs(eng, st, at(100)); !strings.Contains(got, "binge") {
		t.Fatalf("extended ttl: %s", got)
	}
	// An expired group winner empties the group: the displaced member does not come back.
	var g State
	eng.Merge(&g, []Match{match("casual", 0), match("new", 10)}, t0)
	if got := viewIDs(eng, g, at(20)); got != "new" {
		t.Fatalf("new wins: %s", got)
	}
	if got := viewIDs(eng, g, at(10+120)); got != "" {
		t.Fatalf("after new expires: %q", got)
	}
}

func TestDiffAndApply(t *testing.T) {
	eng := mergeEngine(t)
	var st State
	added, removed, changed := eng.Apply(&st, []Match{match("clicker", 1), match("watcher", 1)}, at(2))
	if !changed || strings.Join(added, ",") != "clicker,engaged,watcher" || len(removed) != 0 {
		t.Fatalf("apply 1: %v %v %v", added, removed, changed)
	}
	added, removed, changed = eng.Apply(&st, []Match{match("casual", 3)}, at(4))
	if !changed || strings.Join(added, ",") != "casual" || strings.Join(removed, ",") != "clicker,engaged" {
		t.Fatalf("apply 2: %v %v %v", added, removed, changed)
	}
	if _, _, changed = eng.Apply(&st, []Match{match("casual", 3)}, at(4)); changed {
		t.Fatal("duplicate reported a change")
	}
}

func TestPartnerChanges(t *testing.T) {
	eng := mergeEngine(t)
	var st State
	eng.Merge(&st, []Match{match("clicker", 1), match("watcher", 1), match("ios", 1)}, t0)
	before := eng.View(st, at(2))
	eng.Merge(&st, []Match{match("casual", 3), match("whale", 2)}, t0)
	after := eng.View(st, at(4))
	chs := eng.PartnerChanges("u1", before, after, at(3), 9)
	if len(chs) != 1 {
		t.Fatalf("changes = %+v", chs)
	}
	c := chs["dsp"]
	if c.UserID != "u1" || c.Version != 9 || !c.EventTime.Equal(at(3)) ||
		len(c.Segments) != 0 || c.Segments == nil || len(c.Added) != 0 || strings.Join(c.Removed, ",") != "clicker,engaged" {
		t.Fatalf("dsp change = %+v", c)
	}
	// dmp sees watcher and ios; a change only to dsp's segments is not sent to dmp.
	eng.Merge(&st, []Match{match("android", 5)}, t0)
	chs = eng.PartnerChanges("u1", after, eng.View(st, at(6)), at(5), 10)
	d, ok := chs["dmp"]
	if len(chs) != 1 || !ok || strings.Join(d.Segments, ",") != "android,watcher" || strings.Join(d.Added, ",") != "android" || strings.Join(d.Removed, ",") != "ios" {
		t.Fatalf("dmp change = %+v", chs)
	}
	if chs := eng.PartnerChanges("u1", after, after, at(5), 10); chs != nil {
		t.Fatalf("no change gave %+v", chs)
	}
}

// The merge contract of DESIGN.md: any permutation of the same matches,
// with any duplicates, folded in any number of Merge calls, gives the same
// state and the same view at any time.
func TestMergeIsOrderAndDuplicateIndependent(t *testing.T) {
	eng := mergeEngine(t)
	segs := []string{"casual", "engaged", "new", "clicker", "whale", "watcher", "binge", "ios", "android", "gone"}
	rapid.Check(t, func(rt *rapid.T) {
		gen := rapid.Custom(func(rt *rapid.T) Match {
			return Match{
				Segment:      rapid.SampledFrom(segs).Draw(rt, "segment"),
				Rule:         rapid.SampledFrom([]string{"r1", "r2", "r3"}).Draw(rt, "rule"),
				RulesVersion: rapid.Int64Range(1, 3).Draw(rt, "version"),
				// few distinct times, so ties are common
				EventTime: at(rapid.IntRange(0, 200).Draw(rt, "minute") / 20 * 20),
			}
		})
		ms := rapid.SliceOfN(gen, 1, 30).Draw(rt, "matches")
		var want State
		eng.Merge(&want, ms, t0)

		// A permutation with duplicates, split into several Merge calls.
		perm := rapid.Permutation(ms).Draw(rt, "perm")
		dups := rapid.SliceOfN(rapid.SampledFrom(ms), 0, 10).Draw(rt, "dups")
		all := append(perm, dups...)
		all = rapid.Permutation(all).Draw(rt, "shuffled")
		var got State
		for len(all) > 0 {
			n := rapid.IntRange(1, len(all)).Draw(rt, "chunk")
			eng.Merge(&got, all[:n], t0)
			all = all[n:]
		}
		if !statesEqual(want, got) {
			rt.Fatalf("states differ:\n%+v\n%+v", want, got)
		}
		for _, min := range []int{0, 30, 61, 150, 400} {
			if a, b := viewIDs(eng, want, at(min)), viewIDs(eng, got, at(min)); a != b {
				rt.Fatalf("views at +%dm differ: %s vs %s", min, a, b)
			}
		}
		// Folding the state's own matches again changes nothing (idempotent).
		if eng.Merge(&got, ms, t0) {
			rt.Fatalf("re-merging the same matches changed the state")
		}
	})
}

func statesEqual(a, b State) bool {
	if len(a.Segments) != len(b.Segments) {
		return false
	}
	for id, m := range a.Segments {
		n, ok := b.Segments[id]
		if !ok || !membershipEqual(m, n) {
			return false
		}
	}
	return true
}

// Views obey the group and hierarchy invariants for any state.
func TestViewInvariants(t *testing.T) {
	eng := mergeEngine(t)
	segs := []string{"casual", "engaged", "new", "clicker", "whale", "watcher", "binge", "ios", "android"}
	rapid.Check(t, func(rt *rapid.T) {
		var st State
		for _, m := range rapid.SliceOfN(rapid.Custom(func(rt *rapid.T) Match {
			return match(rapid.SampledFrom(segs).Draw(rt, "s"), rapid.IntRange(0, 300).Draw(rt, "min"))
		}), 0, 25).Draw(rt, "ms") {
			eng.Merge(&st, []Match{m}, t0)
		}
		now := at(rapid.IntRange(0, 500).Draw(rt, "now"))
		view := eng.View(st, now)
		groups := map[string]int{}
		for id, m := range view {
			info := eng.segments[id]
			if info.Group != "" {
				groups[info.Group]++
			}
			if info.Parent != "" {
				if _, ok := view[info.Parent]; !ok {
					rt.Fatalf("%s in view without its parent %s", id, info.Parent)
				}
			}
			if !m.ExpiresAt.IsZero() && !m.ExpiresAt.After(now) {
				rt.Fatalf("%s expired but in view", id)
			}
		}
		for g, n := range groups {
			if n > 1 {
				rt.Fatalf("group %s has %d members in view", g, n)
			}
		}
	})
}
