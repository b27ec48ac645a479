package classify

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/teststream"
	"github.com/google/go-cmp/cmp"

	"github.com/segmentflow/segmentflow/event"
	"github.com/segmentflow/segmentflow/io/bigtablestore"
	"github.com/segmentflow/segmentflow/rules"
)

// TestStreamCases runs the TestStream cases of issue 3 through Classify on
// prism, against real emulators: out-of-order events, duplicates inside and
// outside the dedup horizon, late data within and beyond the allowed
// lateness, an identify followed by a track that needs its trait, overwrite
// vs append vs hierarchy, poison messages and an event no rule wants.
func TestStreamCases(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e := newEnv(t, ctx, testRules)
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	min := time.Minute
	stake := func(v float64) map[string]any { return map[string]any{"stake": v} }

	o1 := ev("o1", "ooo", event.Track, "user-played-card", t0.Add(2*min), time.Second, stake(500))
	o2 := ev("o2", "ooo", event.Track, "user-played-card", t0.Add(1*min), time.Second, stake(10))
	o3 := ev("o3", "ooo", event.Track, "user-watched-ad", t0.Add(5*min), time.Second, nil)
	o4 := ev("o4", "ooo", event.Track, "user-watched-ad", t0.Add(3*min), time.Second, nil)
	h1 := ev("h1", "hier", event.Track, "user-clicked-on-ad", t0, time.Second, nil)
	i1 := ev("i1", "idt", event.Identify, "", t0, time.Second, nil)
	i1.Traits = map[string]any{"birthDate": "1990-01-01"}
	i2 := ev("i2", "idt", event.Track, "user-opened-app", t0.Add(10*time.Second), time.Second, nil)
	d1 := ev("d1", "dup", event.Track, "user-watched-ad", t0, time.Second, nil)
	l1 := ev("l1", "late", event.Track, "user-played-card", t0, 30*min, stake(1))
	l2 := ev("l2", "late", event.Track, "user-watched-ad", t0, 3*time.Hour, nil)
	s1 := ev("s1", "skip", event.Track, "user-skipped-ad", t0, time.Second, nil)
	noUser := ev("p2", "", event.Track, "user-opened-app", t0, time.Second, nil)
	raw := []byte(`{"type":"track","messageId":"p3","userId":"u","event":"user-opened-app","timestamp":"2026-11-30T10:00:00Z"}`)
	poison := []byte("{not json")

	elem := func(e event.Event) []byte { return streamElem(t, e.MessageID, encode(t, e), event.Attributes(&e)) }
	ms := func(tt time.Time) int64 { return tt.UnixMilli() }

	ts := teststream.NewConfig()
	add := func(at time.Time, elems ...[]byte) {
		t.Helper()
		vals := make([]any, len(elems))
		for i, b := range elems {
			vals[i] = b
		}
		if err := ts.AddElements(ms(at), vals...); err != nil {
			t.Fatal(err)
		}
	}
	add(t0, elem(h1), elem(i1), elem(i2), elem(d1), elem(d1), elem(l1), elem(l2), elem(s1),
		elem(noUser), streamElem(t, "p3", raw, nil), streamElem(t, "p4", poison, nil))
	add(t0.Add(2*min), elem(o1))
	add(t0.Add(5*min), elem(o3))
	// The older ones of ooo arrive after the newer ones.
	add(t0.Add(1*min), elem(o2), elem(o4))
	// Past the horizon (1 h) and the idle time (30 min): the dedup state
	// and the cached profiles are cleared by their timers, so d1 counts as
	// new, the profile is read back from Bigtable and the merge, being
	// idempotent, writes nothing.
	if err := ts.AdvanceWatermark(ms(t0.Add(2 * time.Hour))); err != nil {
		t.Fatal(err)
	}
	add(t0, elem(d1))
	if err := ts.AdvanceWatermarkToInfinity(); err != nil {
		t.Fatal(err)
	}

	cfg := e.cfg
	cfg.DedupHorizon = time.Hour
	cfg.ProfileIdle = 30 * min
	cfg.AllowedLateness = time.Hour
	p, s := beam.NewPipelineWithRoot()
	msgs := beam.ParDo(s, toMessage, teststream.Create(s, ts))
	if err := Classify(s, msgs, cfg); err != nil {
		t.Fatal(err)
	}
	res, err := ptest.RunWithMetrics(p)
	if err != nil {
		t.Fatalf("pipeline: %v", err)
	}

	c := counters(res)
	want := map[string]int64{"events_in": 16, "dead_lettered": 3, "late": 1, "not_dispatched": 1, "deduped": 1, "classified": 10, "profiles_hydrated": 6}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("counter %s = %d, want %d (all: %v)", k, c[k], v, c)
		}
	}
	if in, out := c["events_in"], c["dead_lettered"]+c["late"]+c["not_dispatched"]+c["deduped"]+c["classified"]; in != out {
		t.Errorf("counts do not balance: %d in, %d accounted for", in, out)
	}
	if c["profiles_evicted"] < 5 {
		t.Errorf("profiles_evicted = %d, want every user's cached profile dropped when idle", c["profiles_evicted"])
	}

	// Profiles: what the rules engine alone gives for the unique, timely
	// events, in the order they arrived.
	eng := engine(t, testRules, 1)
	wantViews := expected(eng, []event.Event{h1, i1, i2, d1, l1, o1, o3, o2, o4}, nil)
	got := e.storedProfiles(t, ctx)
	gotViews := map[string]map[string]rules.Membership{}
	for id, sp := range got {
		gotViews[id] = sp.Profile.Segments
		for seg, m := range sp.Profile.Segments {
			if m.RulesVersion != 1 {
				t.Errorf("%s/%s: rules_version %d, want 1", id, seg, m.RulesVersion)
			}
		}
	}
	if d := cmp.Diff(wantViews, gotViews); d != "" {
		t.Errorf("profiles (-want +got):\n%s", d)
	}
	checks := map[string]string{"ooo": "[level-high watcher]", "hier": "[clicker engaged]", "idt": "[adult]", "dup": "[watcher]", "late": "[level-low]"}
	for id, w := range checks {
		if sp := got[id]; sp == nil || ids(sp.Profile.Segments) != w {
			t.Errorf("%s: segments %v, want %s", id, sp, w)
		}
	}
	if w := o4.EventTime; got["ooo"] != nil && !got["ooo"].Profile.Segments["watcher"].AssignedAt.Equal(w) {
		t.Errorf("ooo watcher assigned_at %v, want the earliest match %v (append)", got["ooo"].Profile.Segments["watcher"].AssignedAt, w)
	}
	// Written only on change: dup's repeated d1 (outside the horizon) left
	// version 1. How many of ooo's four events changed its state depends on
	// the order prism hands them over (it orders a key's pending elements
	// by timestamp), but o1 and o3 always do.
	wantVersions := map[string]int64{"dup": 1, "hier": 1, "idt": 1, "late": 1}
	for id, v := range wantVersions {
		if sp := got[id]; sp == nil || sp.Profile.Version != v {
			t.Errorf("%s: version %v, want %d", id, sp, v)
		}
	}
	if sp := got["ooo"]; sp == nil || sp.Profile.Version < 2 || sp.Profile.Version > 4 {
		t.Errorf("ooo: version %v, want 2 to 4", sp)
	}
	if got["dup"] != nil && got["dup"].ReceivedAt.IsZero() {
		t.Error("profile without received_at")
	}

	// The identify's traits were written through to users.
	users, err := bigtablestore.NewUsers(e.btc, e.names.Tables.Users).Get(ctx, []string{"idt"})
	if err != nil {
		t.Fatal(err)
	}
	if users["idt"].Traits["birthDate"] != "1990-01-01" {
		t.Errorf("users row of idt: %+v, want the identify's birthDate", users["idt"])
	}

	// Dead letters: typed reason and the original payload.
	var reasons []string
	payloads := map[string]string{}
	for _, dl := range e.deadLetters(t, ctx) {
		reasons = append(reasons, dl.Reason)
		payloads[dl.Reason] = dl.Payload
	}
	sort.Strings(reasons)
	if d := cmp.Diff([]string{"invalid_json", "late", "missing_user", "not_normalized"}, reasons); d != "" {
		t.Errorf("dead letters (-want +got):\n%s", d)
	}
	if payloads["invalid_json"] != string(poison) || payloads["not_normalized"] != string(raw) || payloads["late"] != string(encode(t, l2)) {
		t.Errorf("dead letters lost their payload: %q", payloads)
	}

	// Partner changes: only each partner's segments, in activate's format.
	type change struct {
		User            string
		Segments, Added []string
	}
	partnerWant := map[string][]change{
		"dsp-a": {{"hier", []string{"clicker", "engaged"}, []string{"clicker", "engaged"}}, {"ooo", []string{"level-high"}, []string{"level-high"}}},
		"dmp-b": {{"dup", []string{"watcher"}, []string{"watcher"}}, {"idt", []string{"adult"}, []string{"adult"}}, {"ooo", []string{"watcher"}, []string{"watcher"}}},
	}
	for _, pid := range testPartners {
		var gotC []change
		for _, ch := range e.changes(t, ctx, pid) {
			gotC = append(gotC, change{ch.UserID, ch.Segments, ch.Added})
			if ch.ReceivedAt.IsZero() || ch.EventTime.IsZero() || ch.Version == 0 {
				t.Errorf("%s: change without times or version: %+v", pid, ch)
			}
		}
		if d := cmp.Diff(partnerWant[pid], gotC); d != "" {
			t.Errorf("changes for %s (-want +got):\n%s", pid, d)
		}
	}
}
