package classify

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/segmentflow/segmentflow/event"
)

// rulesV2 is testRules plus a segment and a rule for every app open.
var rulesV2 = strings.Replace(strings.Replace(testRules,
	"segments:\n", "segments:\n  - id: fan\n", 1),
	"rules:\n", "rules:\n  - id: fans\n    segment: fan\n    events: [user-opened-app]\n    when: 'true'\n", 1)

// TestRulesHotReload publishes a new rule-set version while the pipeline
// runs: events sent from 10 s after the publish on must be classified with
// it, with no restart, and their profile writes record rules_version 2.
func TestRulesHotReload(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e := newEnv(t, ctx, testRules)
	cfg := e.cfg
	cfg.RulesPoll = Defaults().RulesPoll
	run := e.start(t, ctx, cfg)
	defer run.kill(t)

	now := time.Now().UTC()
	first := ev("w1", "before", event.Track, "user-watched-ad", now, time.Millisecond, nil)
	e.publish(t, ctx, []*pubsubpb.PubsubMessage{message(t, first)})
	deadline := time.Now().Add(90 * time.Second)
	for e.storedProfiles(t, ctx)["before"] == nil {
		if time.Now().After(deadline) {
			t.Fatal("no profile from the first rule set")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if m := e.storedProfiles(t, ctx)["before"].Profile.Segments["watcher"]; m.RulesVersion != 1 {
		t.Fatalf("first profile: watcher %+v, want rules_version 1", m)
	}

	e.publishRules(t, ctx, rulesV2, 1)
	published := time.Now()

	// One app open per user every 250 ms; the first one classified with v2
	// tells when the pipeline switched.
	sent := map[string]time.Time{}
	var switched time.Duration = -1
	for i := 0; switched < 0 && time.Since(published) < 60*time.Second; i++ {
		user := fmt.Sprintf("after%03d", i)
		at := time.Now().UTC()
		e.publish(t, ctx, []*pubsubpb.PubsubMessage{message(t, ev("o"+user, user, event.Track, "user-opened-app", at, time.Millisecond, nil))})
		sent[user] = at
		time.Sleep(250 * time.Millisecond)
		for id, sp := range e.storedProfiles(t, ctx) {
			if m, ok := sp.Profile.Segments["fan"]; ok {
				if m.RulesVersion != 2 {
					t.Errorf("%s: fan from rules_version %d, want 2", id, m.RulesVersion)
				}
				if d := sent[id].Sub(published); switched < 0 || d < switched {
					switched = d
				}
			}
		}
	}
	if switched < 0 {
		t.Fatal("version 2 never took effect")
	}
	t.Logf("first event classified with version 2 was sent %v after the publish", switched.Round(time.Millisecond))
	// The contract: in force within 10 s (default poll 2 s, plus a read).
	if switched > 10*time.Second {
		t.Errorf("version 2 took effect %v after its publish, want within 10 s", switched)
	}
}
