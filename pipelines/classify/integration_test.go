package classify

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/google/go-cmp/cmp"

	"github.com/segmentflow/segmentflow/event"
	"github.com/segmentflow/segmentflow/io/bigtablestore"
	"github.com/segmentflow/segmentflow/rules"
	"github.com/segmentflow/segmentflow/transforms"
)

// running is a classify pipeline launched with Build on prism, reading the
// emulator's subscription until stopped.
type running struct {
	stop func()
	done chan error
}

func (e *env) start(t *testing.T, ctx context.Context, cfg Config) *running {
	t.Helper()
	p, s := beam.NewPipelineWithRoot()
	if err := Build(s, cfg); err != nil {
		t.Fatal(err)
	}
	pctx, stop := context.WithCancel(ctx)
	r := &running{stop: stop, done: make(chan error, 1)}
	go func() { _, err := prism.Execute(pctx, p); r.done <- err }()
	return r
}

// kill cancels the job and waits for prism to return.
func (r *running) kill(t *testing.T) {
	t.Helper()
	r.stop()
	select {
	case <-r.done:
	case <-time.After(time.Minute):
		t.Fatal("pipeline did not stop within a minute of its cancellation")
	}
}

func (e *env) publish(t *testing.T, ctx context.Context, msgs []*pubsubpb.PubsubMessage) {
	t.Helper()
	for start := 0; start < len(msgs); start += 500 {
		batch := msgs[start:min(start+500, len(msgs))]
		if _, err := e.psc.TopicAdminClient.Publish(ctx, &pubsubpb.PublishRequest{Topic: "projects/p/topics/" + e.names.Topics.Events, Messages: batch}); err != nil {
			t.Fatal(err)
		}
	}
}

// waitQuiet waits until every message of the classify subscription is
// acknowledged and the profiles table has stopped changing.
func (e *env) waitQuiet(t *testing.T, ctx context.Context, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last string
	stable := 0
	for time.Now().Before(deadline) {
		unacked := 0
		for _, m := range e.ps.Server.Messages() {
			if m.Acks == 0 && m.Attributes["pipeline"] == "" && m.Attributes["user_id"] == "" {
				unacked++
			}
		}
		snap := fmt.Sprint(e.versions(t, ctx))
		if unacked == 0 && snap == last {
			if stable++; stable >= 6 {
				return
			}
		} else {
			stable = 0
		}
		last = snap
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("pipeline not quiet after %v", within)
}

func (e *env) versions(t *testing.T, ctx context.Context) map[string]int64 {
	out := map[string]int64{}
	for id, sp := range e.storedProfiles(t, ctx) {
		out[id] = sp.Profile.Version
	}
	return out
}

func message(t *testing.T, ev event.Event) *pubsubpb.PubsubMessage {
	return &pubsubpb.PubsubMessage{Data: encode(t, ev), Attributes: event.Attributes(&ev)}
}

// traffic is a few hundred events of 40 users over half an hour that ended
// a minute ago, with a tenth of them delivered twice and a few poison
// messages. Rules see the seeded users rows (birthDate of half of them);
// identify calls set a trait no rule reads, so the expected profiles do not
// depend on how identify and track calls interleave.
func traffic(t *testing.T, n int) (events []event.Event, msgs []*pubsubpb.PubsubMessage, seeded map[string]rules.User, poison int) {
	r := rand.New(rand.NewPCG(7, 11))
	t0 := time.Now().UTC().Add(-31 * time.Minute).Truncate(time.Millisecond)
	names := []string{"user-played-card", "user-watched-ad", "user-clicked-on-ad", "user-opened-app", "user-skipped-ad"}
	seeded = map[string]rules.User{}
	for u := 0; u < 40; u += 2 {
		seeded[fmt.Sprintf("u%02d", u)] = rules.User{Traits: map[string]any{"birthDate": "1980-06-01"}}
	}
	for i := 0; i < n; i++ {
		user := fmt.Sprintf("u%02d", r.IntN(40))
		at := t0.Add(time.Duration(r.IntN(30*60_000)) * time.Millisecond)
		id := fmt.Sprintf("m%04d", i)
		var e event.Event
		if i%25 == 0 {
			e = ev(id, user, event.Identify, "", at, 2*time.Second, nil)
			e.Traits = map[string]any{"plan": fmt.Sprintf("p%d", i%3)}
		} else {
			name := names[r.IntN(len(names))]
			var props map[string]any
			if name == "user-played-card" {
				props = map[string]any{"stake": float64(r.IntN(200))}
			}
			e = ev(id, user, event.Track, name, at, time.Duration(r.IntN(5000))*time.Millisecond, props)
		}
		events = append(events, e)
		msgs = append(msgs, message(t, e))
		if i%10 == 3 {
			msgs = append(msgs, message(t, e)) // a duplicate delivery
		}
		if i%60 == 5 {
			msgs = append(msgs, &pubsubpb.PubsubMessage{Data: []byte(fmt.Sprintf(`{"poison":%d`, i))})
			poison++
		}
	}
	return events, msgs, seeded, poison
}

func (e *env) seed(t *testing.T, ctx context.Context, users map[string]rules.User) {
	t.Helper()
	u := bigtablestore.NewUsers(e.btc, e.names.Tables.Users)
	for id, usr := range users {
		if err := u.PutTraits(ctx, id, usr.Traits); err != nil {
			t.Fatal(err)
		}
	}
}

// TestIntegrationKillAndRestart publishes a few hundred events (duplicates
// and poison included) to the emulator, kills the pipeline in the middle of
// them and starts a new one, runs it until quiet, then checks the Bigtable
// rows against the profiles the rules engine computes alone, the dead
// letters and the per-partner topics: the restart must lose nothing and
// double nothing.
func TestIntegrationKillAndRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	e := newEnv(t, ctx, testRules)
	events, msgs, seeded, poison := traffic(t, 400)
	e.seed(t, ctx, seeded)
	cfg := e.cfg

	first := e.start(t, ctx, cfg)
	half := len(msgs) / 2
	e.publish(t, ctx, msgs[:half])
	// Kill once the first profiles are written, while the rest of the first
	// half is still on its way.
	deadline := time.Now().Add(90 * time.Second)
	for len(e.versions(t, ctx)) < 5 {
		if time.Now().After(deadline) {
			t.Fatal("no profiles written by the first run")
		}
		time.Sleep(20 * time.Millisecond)
	}
	first.kill(t)
	written := e.versions(t, ctx)
	t.Logf("killed the first run with %d profiles written", len(written))

	second := e.start(t, ctx, cfg)
	defer second.kill(t)
	e.publish(t, ctx, msgs[half:])
	e.waitQuiet(t, ctx, 2*time.Minute)

	eng := engine(t, testRules, 1)
	want := expected(eng, events, seeded)
	got := e.storedProfiles(t, ctx)
	gotViews := map[string]map[string]rules.Membership{}
	perUser := map[string]int64{}
	for _, ev := range events {
		perUser[ev.UserKey()]++
	}
	for id, sp := range got {
		gotViews[id] = sp.Profile.Segments
		// Every write is a change, so no user can have more versions than
		// events; a redelivery that changed nothing was not written.
		if sp.Profile.Version > perUser[id] {
			t.Errorf("%s: version %d after %d events", id, sp.Profile.Version, perUser[id])
		}
		if d := cmp.Diff(gotStateView(eng, sp), sp.Profile.Segments); d != "" {
			t.Errorf("%s: stored view is not the view of the stored state (-state +view):\n%s", id, d)
		}
	}
	if d := cmp.Diff(want, gotViews); d != "" {
		t.Errorf("profiles (-rules engine alone +pipeline):\n%s", d)
	}

	// Dead letters: every poison message, with its payload; redelivered
	// poison (after the kill) may appear twice, never less than once.
	letters := e.deadLetters(t, ctx)
	payloads := map[string]bool{}
	for _, dl := range letters {
		if dl.Reason != string(event.CodeInvalidJSON) {
			t.Errorf("dead letter reason %q, want invalid_json", dl.Reason)
		}
		payloads[dl.Payload] = true
	}
	if len(payloads) != poison {
		t.Errorf("%d distinct dead letters (%d in all), want %d", len(payloads), len(letters), poison)
	}

	// Partner topics: the latest change of each user per partner holds the
	// partner's segments of the expected profile.
	for _, pid := range testPartners {
		var subscribed map[string]bool
		for _, p := range eng.Partners() {
			if p.ID == pid {
				subscribed = map[string]bool{}
				for _, s := range p.Segments {
					subscribed[s] = true
				}
			}
		}
		latest := map[string]rules.Change{}
		for _, c := range e.changes(t, ctx, pid) {
			if c.Version >= latest[c.UserID].Version {
				latest[c.UserID] = c
			}
		}
		for id, view := range want {
			var wantSegs []string
			for s := range view {
				if subscribed[s] {
					wantSegs = append(wantSegs, s)
				}
			}
			sort.Strings(wantSegs)
			gotSegs := latest[id].Segments
			if len(wantSegs) == 0 && len(gotSegs) == 0 {
				continue
			}
			if d := cmp.Diff(wantSegs, gotSegs); d != "" {
				t.Errorf("%s: latest change of %s (-want +got):\n%s", pid, id, d)
			}
		}
	}
}

func gotStateView(eng *rules.Engine, sp *bigtablestore.StoredProfile) map[string]rules.Membership {
	v := eng.View(sp.State, transforms.ViewTime(sp.State))
	return v
}
