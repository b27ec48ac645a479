package classify

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"cloud.google.com/go/bigtable"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/segmentflow/segmentflow/emulators"
	"github.com/segmentflow/segmentflow/emulators/emulatortest"
	"github.com/segmentflow/segmentflow/event"
	"github.com/segmentflow/segmentflow/infra"
	"github.com/segmentflow/segmentflow/io/bigtablestore"
	"github.com/segmentflow/segmentflow/io/pubsubio"
	"github.com/segmentflow/segmentflow/io/rulestore"
	"github.com/segmentflow/segmentflow/rules"
	"github.com/segmentflow/segmentflow/transforms"
)

func TestMain(m *testing.M) { ptest.Main(m) }

func init() {
	register.Function3x1[beam.EventTime, []byte, func(beam.EventTime, pubsubio.Message), error](toMessage)
	register.Emitter2[beam.EventTime, pubsubio.Message]()
}

// testRules is the rule set of the tests: a hierarchy (clicker implies
// engaged), an exclusive overwrite group (level), append segments
// (watcher, adult) and a rule on an identify trait.
const testRules = `
segments:
  - id: engaged
  - id: clicker
    parent: engaged
  - id: level-low
    group: level
  - id: level-high
    group: level
  - id: watcher
  - id: adult
rules:
  - id: clicks
    segment: clicker
    events: [user-clicked-on-ad]
    when: 'true'
  - id: low
    segment: level-low
    events: [user-played-card]
    when: 'event.properties.stake < 100'
  - id: high
    segment: level-high
    events: [user-played-card]
    when: 'event.properties.stake >= 100'
  - id: watches
    segment: watcher
    events: [user-watched-ad]
    when: 'true'
  - id: adult
    segment: adult
    events: [user-opened-app]
    when: '"birthDate" in user.traits && age(user.traits.birthDate) >= 18'
partners:
  - id: dsp-a
    segments: [clicker, engaged, level-high]
    endpoint: http://127.0.0.1:9/a
  - id: dmp-b
    segments: [adult, watcher]
    endpoint: http://127.0.0.1:9/b
`

var testPartners = []string{"dsp-a", "dmp-b"}

// env is one set of real emulators on loopback, provisioned like infra/.
type env struct {
	ps    *emulators.PubSub
	bt    *emulators.Bigtable
	gcs   *emulators.GCS
	psc   *pubsub.Client
	btc   *bigtable.Client
	rules *rulestore.Store
	names infra.Names
	cfg   Config
}

func newEnv(t *testing.T, ctx context.Context, ruleSet string) *env {
	t.Helper()
	e := &env{names: infra.Default()}
	e.ps = emulatortest.PubSub(t)
	e.bt = emulatortest.Bigtable(t)
	e.gcs = emulatortest.GCS(t, "")
	pc := emulators.Config{Project: "p", Instance: "i", Names: e.names, Partners: testPartners, AckDeadline: 20 * time.Second}
	emulatortest.Provision(t, pc, e.ps, e.bt, e.gcs)
	e.psc = emulatortest.PubSubClient(t, e.ps, "p")
	e.btc = emulatortest.BigtableClient(t, e.bt, "p", "i")
	e.rules = rulestore.New(emulatortest.StorageClient(t, e.gcs), e.names.Buckets.Rules)
	if ruleSet != "" {
		e.publishRules(t, ctx, ruleSet, 0)
	}
	e.cfg = Config{
		Project:          "p",
		PubSubEndpoint:   e.ps.Addr,
		BigtableInstance: "i",
		BigtableEndpoint: e.bt.Addr,
		GCSEndpoint:      e.gcs.URL,
		RulesPoll:        200 * time.Millisecond,
	}
	return e
}

func (e *env) publishRules(t *testing.T, ctx context.Context, doc string, expect int64) {
	t.Helper()
	if _, err := e.rules.Publish(ctx, []byte(doc), expect, "test", "test rules"); err != nil {
		t.Fatal(err)
	}
}

// engine compiles doc as version v, for computing expected profiles with
// the rules engine alone.
func engine(t *testing.T, doc string, v int64) *rules.Engine {
	t.Helper()
	rs, err := rules.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := rules.Compile(rs, v)
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// testMsg is what a TestStream carries: TestStream needs elements with a
// built-in coder, so a Pub/Sub message travels as JSON and toMessage turns
// it back into the source's type, keeping the stream's timestamp.
type testMsg struct {
	ID    string            `json:"id"`
	Data  []byte            `json:"data"`
	Attrs map[string]string `json:"attrs"`
}

func toMessage(ts beam.EventTime, b []byte, emit func(beam.EventTime, pubsubio.Message)) error {
	var m testMsg
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	emit(ts, pubsubio.Message{ID: m.ID, Data: m.Data, Attributes: m.Attrs, PublishTime: ts.ToTime()})
	return nil
}

// ev builds a normalized event as the collector publishes it, received
// lag after its event time.
func ev(id, user string, typ event.Type, name string, at time.Time, lag time.Duration, props map[string]any) event.Event {
	e := event.Event{Type: typ, MessageID: id, UserID: user, Timestamp: at, SentAt: at, ReceivedAt: at.Add(lag), EventTime: at, Properties: props}
	if typ == event.Track {
		e.Event = name
	}
	return e
}

func encode(t *testing.T, e event.Event) []byte {
	t.Helper()
	b, err := event.Marshal(&e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func streamElem(t *testing.T, id string, data []byte, attrs map[string]string) []byte {
	t.Helper()
	b, err := json.Marshal(testMsg{ID: id, Data: data, Attrs: attrs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// expected folds events (unique, valid, in order) into one profile per
// user with the rules engine alone, the way the pipeline must end up.
// users are the users rows before the events; identify traits are laid
// over them as the events go.
func expected(eng *rules.Engine, events []event.Event, users map[string]rules.User) map[string]map[string]rules.Membership {
	states := map[string]*rules.State{}
	traits := map[string]map[string]any{}
	for i := range events {
		e := &events[i]
		id := e.UserKey()
		if e.Type == event.Identify {
			if traits[id] == nil {
				traits[id] = map[string]any{}
			}
			for k, v := range e.Traits {
				traits[id][k] = v
			}
		}
		u := users[id]
		if len(traits[id]) > 0 {
			merged := map[string]any{}
			for k, v := range u.Traits {
				merged[k] = v
			}
			for k, v := range traits[id] {
				merged[k] = v
			}
			u.Traits = merged
		}
		m, _ := eng.Evaluate(e, &u, e.EventTime)
		if states[id] == nil {
			states[id] = &rules.State{Segments: map[string]rules.Membership{}}
		}
		eng.Merge(states[id], m, e.EventTime)
	}
	out := map[string]map[string]rules.Membership{}
	for id, st := range states {
		if v := eng.View(*st, transforms.ViewTime(*st)); len(v) > 0 {
			out[id] = v
		}
	}
	return out
}

// storedProfiles reads every row of `profiles`.
func (e *env) storedProfiles(t *testing.T, ctx context.Context) map[string]*bigtablestore.StoredProfile {
	t.Helper()
	var ids []string
	err := e.btc.Open(e.names.Tables.Profiles).ReadRows(ctx, bigtable.InfiniteRange(""), func(r bigtable.Row) bool {
		ids = append(ids, r.Key())
		return true
	}, bigtable.RowFilter(bigtable.StripValueFilter()))
	if err != nil {
		t.Fatal(err)
	}
	got, err := bigtablestore.NewProfiles(e.btc, e.names.Tables.Profiles).GetMany(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// drain pulls everything a subscription holds now (acknowledging it).
func (e *env) drain(t *testing.T, ctx context.Context, sub string) []*pubsubpb.PubsubMessage {
	t.Helper()
	var out []*pubsubpb.PubsubMessage
	for empty := 0; empty < 3; {
		resp, err := e.psc.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: "projects/p/subscriptions/" + sub, MaxMessages: 1000, ReturnImmediately: true})
		if err != nil {
			t.Fatal(err)
		}
		rms := resp.GetReceivedMessages()
		if len(rms) == 0 {
			empty++
			time.Sleep(50 * time.Millisecond)
			continue
		}
		ids := make([]string, 0, len(rms))
		for _, rm := range rms {
			out = append(out, rm.GetMessage())
			ids = append(ids, rm.GetAckId())
		}
		if err := e.psc.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: "projects/p/subscriptions/" + sub, AckIds: ids}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func (e *env) deadLetters(t *testing.T, ctx context.Context) []transforms.DeadLetter {
	t.Helper()
	var out []transforms.DeadLetter
	for _, m := range e.drain(t, ctx, e.names.Subscriptions.EventsDLQ) {
		var dl transforms.DeadLetter
		if err := json.Unmarshal(m.GetData(), &dl); err != nil {
			t.Fatalf("dead letter %q: %v", m.GetData(), err)
		}
		out = append(out, dl)
	}
	return out
}

func (e *env) changes(t *testing.T, ctx context.Context, partner string) []rules.Change {
	t.Helper()
	var out []rules.Change
	for _, m := range e.drain(t, ctx, e.names.ActivationSubscription(partner)) {
		var c rules.Change
		if err := json.Unmarshal(m.GetData(), &c); err != nil {
			t.Fatalf("change %q: %v", m.GetData(), err)
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].UserID != out[j].UserID {
			return out[i].UserID < out[j].UserID
		}
		return out[i].Version < out[j].Version
	})
	return out
}

// counters are the classify metrics of a finished run.
func counters(res beam.PipelineResult) map[string]int64 {
	out := map[string]int64{}
	for _, c := range res.Metrics().Query(func(r metrics.SingleResult) bool { return r.Namespace() == "classify" }).Counters() {
		out[c.Name()] += c.Committed
	}
	return out
}

func ids(view map[string]rules.Membership) string { return fmt.Sprint(rules.SortedIDs(view)) }
