package pubsubio_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"

	"github.com/segmentflow/segmentflow/emulators"
	"github.com/segmentflow/segmentflow/emulators/emulatortest"
	"github.com/segmentflow/segmentflow/io/pubsubio"
)

func TestMain(m *testing.M) { ptest.Main(m) }

func init() {
	register.Function3x0(forward)
	register.Function2x0(constKey)
	register.Function4x0(formatCount)
	register.Emitter1[pubsubio.Outgoing]()
	register.Emitter1[string]()
	register.DoFn3x1[beam.EventTime, pubsubio.Message, func(pubsubio.Outgoing), error](&poisonFn{})
	register.DoFn3x0[beam.EventTime, pubsubio.Message, func(pubsubio.Outgoing)](&slowFn{})
}

const subAckDeadline = 10 * time.Second // the shortest Pub/Sub allows

// forward re-publishes a read message to the "out" topic with its event time
// and id as attributes, so the test can see what the reader emitted.
func forward(et beam.EventTime, m pubsubio.Message, emit func(pubsubio.Outgoing)) {
	emit(outgoing(et, m))
}

func outgoing(et beam.EventTime, m pubsubio.Message) pubsubio.Outgoing {
	return pubsubio.Outgoing{Topic: "out", Data: m.Data, Attributes: map[string]string{
		"ts": strconv.FormatInt(et.Milliseconds(), 10), "id": m.ID,
	}}
}

// poisonFn forwards like forward but fails the bundle that holds Poison: a
// crash before the bundle commits.
type poisonFn struct{ Poison string }

func (fn *poisonFn) ProcessElement(et beam.EventTime, m pubsubio.Message, emit func(pubsubio.Outgoing)) error {
	if string(m.Data) == fn.Poison {
		return fmt.Errorf("poison message %s", m.Data)
	}
	emit(outgoing(et, m))
	return nil
}

// slowFn forwards like forward, taking Delay per message.
type slowFn struct{ Delay time.Duration }

func (fn *slowFn) ProcessElement(et beam.EventTime, m pubsubio.Message, emit func(pubsubio.Outgoing)) {
	time.Sleep(fn.Delay)
	emit(outgoing(et, m))
}

func constKey(_ pubsubio.Message, emit func(string)) { emit("all") }

// formatCount publishes the count of a window to "counts".
func formatCount(w beam.Window, _ string, n int, emit func(pubsubio.Outgoing)) {
	emit(pubsubio.Outgoing{Topic: "counts", Attributes: map[string]string{
		"end": strconv.FormatInt(w.MaxTimestamp().Milliseconds(), 10), "count": strconv.Itoa(n),
	}})
}

func setup(t *testing.T, ctx context.Context, topics ...string) (*emulators.PubSub, *pubsub.Client) {
	t.Helper()
	ps := emulatortest.PubSub(t)
	c := emulatortest.PubSubClient(t, ps, "p")
	for _, tp := range append([]string{"in"}, topics...) {
		if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: "projects/p/topics/" + tp}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
			Name: "projects/p/subscriptions/" + tp, Topic: "projects/p/topics/" + tp, AckDeadlineSeconds: int32(subAckDeadline / time.Second),
		}); err != nil {
			t.Fatal(err)
		}
	}
	return ps, c
}

func publish(t *testing.T, ctx context.Context, c *pubsub.Client, topic string, msgs []*pubsubpb.PubsubMessage) {
	t.Helper()
	if _, err := c.TopicAdminClient.Publish(ctx, &pubsubpb.PublishRequest{Topic: "projects/p/topics/" + topic, Messages: msgs}); err != nil {
		t.Fatal(err)
	}
}

func numbered(from, to int) []*pubsubpb.PubsubMessage {
	var msgs []*pubsubpb.PubsubMessage
	for i := from; i < to; i++ {
		msgs = append(msgs, &pubsubpb.PubsubMessage{Data: []byte(fmt.Sprintf("m%d", i))})
	}
	return msgs
}

// run is a pipeline running on prism.
type run struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when the pipeline has ended
	err    error         // its error once done; nil when stopped by stop
}

// start runs p on prism until stop is called or it fails.
func start(ctx context.Context, p *beam.Pipeline) *run {
	pctx, cancel := context.WithCancel(ctx)
	r := &run{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		_, err := prism.Execute(pctx, p)
		if pctx.Err() == nil {
			r.err = err
		}
	}()
	return r
}

// stop cancels the pipeline and returns its error if it had failed before.
func (r *run) stop() error {
	r.cancel()
	<-r.done
	return r.err
}

// pullAll pulls and acknowledges sub until want messages arrived or wait
// passes.
func pullAll(t *testing.T, ctx context.Context, c *pubsub.Client, sub string, want int, wait time.Duration) []*pubsubpb.ReceivedMessage {
	t.Helper()
	var got []*pubsubpb.ReceivedMessage
	deadline := time.Now().Add(wait)
	for len(got) < want && time.Now().Before(deadline) {
		resp, err := c.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: "projects/p/subscriptions/" + sub, MaxMessages: 1000, ReturnImmediately: true})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, rm := range resp.GetReceivedMessages() {
			got = append(got, rm)
			ids = append(ids, rm.GetAckId())
		}
		if len(ids) > 0 {
			if err := c.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: "projects/p/subscriptions/" + sub, AckIds: ids}); err != nil {
				t.Fatal(err)
			}
		} else {
			time.Sleep(100 * time.Millisecond)
		}
	}
	return got
}

// inputs returns pstest's record of the messages published to "in".
func inputs(ps *emulators.PubSub) []*pstest.Message {
	var out []*pstest.Message
	for _, m := range ps.Server.Messages() {
		if m.Topic == "projects/p/topics/in" {
			out = append(out, m)
		}
	}
	return out
}

// waitAcked waits until every input message was acknowledged at least once.
func waitAcked(t *testing.T, ps *emulators.PubSub, wait time.Duration) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		var unacked []string
		for _, m := range inputs(ps) {
			if m.Acks == 0 {
				unacked = append(unacked, string(m.Data))
			}
		}
		if len(unacked) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d input messages never acknowledged: %v", len(unacked), unacked[:min(10, len(unacked))])
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// assertDrained checks that nothing on sub comes back once every ack deadline
// has run out: pstest's clock is moved past them rather than waited for.
func assertDrained(t *testing.T, ctx context.Context, ps *emulators.PubSub, c *pubsub.Client, sub string) {
	t.Helper()
	ps.Server.SetTimeNowFunc(func() time.Time { return time.Now().Add(2 * time.Minute) })
	resp, err := c.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: "projects/p/subscriptions/" + sub, MaxMessages: 1000, ReturnImmediately: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(resp.GetReceivedMessages()); n > 0 {
		t.Errorf("a fresh pull after the ack deadline returned %d messages, e.g. %s; want none (all acknowledged)", n, resp.GetReceivedMessages()[0].GetMessage().GetData())
	}
}

func distinct(got []*pubsubpb.ReceivedMessage) map[string]int {
	seen := map[string]int{}
	for _, rm := range got {
		seen[string(rm.GetMessage().GetData())]++
	}
	return seen
}

// TestRead: every message comes out exactly once with its event time, and
// every one is acknowledged, so the subscription is empty afterwards.
func TestRead(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ps, c := setup(t, ctx, "out")

	const n = 300
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	msgs := numbered(0, n)
	for i, m := range msgs {
		if i%2 == 0 { // odd ones fall back to publish time
			m.Attributes = map[string]string{"event_time": base.Add(time.Duration(i) * time.Second).Format("2006-01-02T15:04:05.000Z07:00")}
		}
	}
	publish(t, ctx, c, "in", msgs[:n/2])

	p, s := beam.NewPipelineWithRoot()
	read := pubsubio.Read(s, "p", "in", pubsubio.ReadOptions{Endpoint: ps.Addr, MaxMessages: 40, AckDeadline: subAckDeadline})
	pubsubio.Publish(s, "p", beam.ParDo(s, forward, read), pubsubio.PublishOptions{Endpoint: ps.Addr})
	r := start(ctx, p)
	defer r.stop()

	// Messages published while the pipeline runs arrive too.
	time.Sleep(2 * time.Second)
	publish(t, ctx, c, "in", msgs[n/2:])

	got := pullAll(t, ctx, c, "out", n, 90*time.Second)
	for _, rm := range got {
		i, _ := strconv.Atoi(string(rm.GetMessage().GetData()[1:]))
		ts, _ := strconv.ParseInt(rm.GetMessage().GetAttributes()["ts"], 10, 64)
		if i%2 == 0 {
			if want := base.Add(time.Duration(i) * time.Second).UnixMilli(); ts != want {
				t.Errorf("m%d: timestamp %d, want the event_time attribute %d", i, ts, want)
			}
		} else if d := time.Since(time.UnixMilli(ts)); d < 0 || d > 2*time.Minute {
			t.Errorf("m%d: timestamp %v is not its publish time", i, time.UnixMilli(ts))
		}
		if rm.GetMessage().GetAttributes()["id"] == "" {
			t.Errorf("m%d: no message id", i)
		}
	}
	if seen := distinct(got); len(seen) != n || len(got) != n {
		t.Fatalf("read %d distinct messages (%d in all), want each of %d once", len(seen), len(got), n)
	}
	waitAcked(t, ps, 30*time.Second)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	for _, m := range inputs(ps) {
		if m.Deliveries != 1 || m.Acks != 1 {
			t.Errorf("%s: delivered %d times, acknowledged %d times; want once each", m.Data, m.Deliveries, m.Acks)
		}
	}
	// More output than input would be a duplicate that the pulls above
	// stopped short of.
	if extra := pullAll(t, ctx, c, "out", 1, time.Second); len(extra) > 0 {
		t.Errorf("%d more messages came out, e.g. %s", len(extra), extra[0].GetMessage().GetData())
	}
	assertDrained(t, ctx, ps, c, "in")
}

// TestReadWatermark: the watermark follows the event times and then the
// clock, so event-time windows downstream fire, each once, with every
// message on time.
func TestReadWatermark(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ps, c := setup(t, ctx, "counts")

	base := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC) // a minute boundary
	msgs := numbered(0, 100)
	for i, m := range msgs {
		m.Attributes = map[string]string{"event_time": base.Add(time.Duration(i) * time.Second).Format(time.RFC3339)}
	}
	publish(t, ctx, c, "in", msgs)

	p, s := beam.NewPipelineWithRoot()
	read := pubsubio.Read(s, "p", "in", pubsubio.ReadOptions{Endpoint: ps.Addr, AckDeadline: subAckDeadline})
	windowed := beam.WindowInto(s, window.NewFixedWindows(time.Minute), read)
	counts := stats.Count(s, beam.ParDo(s, constKey, windowed))
	pubsubio.Publish(s, "p", beam.ParDo(s, formatCount, counts), pubsubio.PublishOptions{Endpoint: ps.Addr})
	r := start(ctx, p)
	defer r.stop()

	got := pullAll(t, ctx, c, "counts", 2, 90*time.Second)
	// Give a wrong extra pane a moment to show up.
	got = append(got, pullAll(t, ctx, c, "counts", 1, 2*time.Second)...)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	panes := map[string]string{}
	for _, rm := range got {
		a := rm.GetMessage().GetAttributes()
		if old, dup := panes[a["end"]]; dup {
			t.Errorf("window ending %s fired twice: %s then %s", a["end"], old, a["count"])
		}
		panes[a["end"]] = a["count"]
	}
	end := func(d time.Duration) string { return strconv.FormatInt(base.Add(d).UnixMilli()-1, 10) }
	want := map[string]string{end(time.Minute): "60", end(2 * time.Minute): "40"}
	if fmt.Sprint(panes) != fmt.Sprint(want) {
		t.Errorf("window counts (by end millis) %v, want %v", panes, want)
	}
}

// TestReadRedeliversAfterFailedBundle: a bundle that fails before it commits
// is not acknowledged; its messages come again to the next pipeline, and
// nothing is lost.
func TestReadRedeliversAfterFailedBundle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ps, c := setup(t, ctx, "out")
	opts := pubsubio.ReadOptions{Endpoint: ps.Addr, AckDeadline: subAckDeadline}

	publish(t, ctx, c, "in", numbered(0, 20))
	p, s := beam.NewPipelineWithRoot()
	pubsubio.Publish(s, "p", beam.ParDo(s, &poisonFn{Poison: "m30"}, pubsubio.Read(s, "p", "in", opts)), pubsubio.PublishOptions{Endpoint: ps.Addr})
	r := start(ctx, p)
	defer r.stop()
	first := pullAll(t, ctx, c, "out", 20, 60*time.Second)
	if len(distinct(first)) != 20 {
		t.Fatalf("before the failure %d distinct messages came out, want 20", len(distinct(first)))
	}
	waitAcked(t, ps, 30*time.Second) // committed bundles are acknowledged
	publish(t, ctx, c, "in", numbered(20, 50))
	select {
	case <-r.done:
		if r.err == nil || !strings.Contains(r.err.Error(), "poison") {
			t.Fatalf("pipeline ended with %v, want the poison failure", r.err)
		}
	case <-ctx.Done():
		t.Fatal("the poisoned pipeline did not fail")
	}
	for _, m := range inputs(ps) {
		i, _ := strconv.Atoi(string(m.Data[1:]))
		if i >= 20 && m.Acks > 0 {
			t.Errorf("%s was acknowledged though its bundle failed", m.Data)
		}
	}

	p2, s2 := beam.NewPipelineWithRoot()
	pubsubio.Publish(s2, "p", beam.ParDo(s2, forward, pubsubio.Read(s2, "p", "in", opts)), pubsubio.PublishOptions{Endpoint: ps.Addr})
	r2 := start(ctx, p2)
	defer r2.stop()
	second := pullAll(t, ctx, c, "out", 30, 90*time.Second)
	seen := distinct(append(first, second...))
	for i := 0; i < 50; i++ {
		if seen[fmt.Sprintf("m%d", i)] == 0 {
			t.Errorf("m%d was lost", i)
		}
	}
	waitAcked(t, ps, 30*time.Second)
	if err := r2.stop(); err != nil {
		t.Fatal(err)
	}
	for _, m := range inputs(ps) {
		if i, _ := strconv.Atoi(string(m.Data[1:])); i >= 20 && m.Deliveries < 2 {
			t.Errorf("%s delivered %d times, want a redelivery after the failure", m.Data, m.Deliveries)
		}
	}
	assertDrained(t, ctx, ps, c, "in")
}

// TestReadExtendsDeadlines: a bundle that takes longer than the
// subscription's ack deadline keeps its messages: no one else receives them
// meanwhile, and each is delivered once.
func TestReadExtendsDeadlines(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ps, c := setup(t, ctx, "out")

	const n = 12
	publish(t, ctx, c, "in", numbered(0, n))
	p, s := beam.NewPipelineWithRoot()
	read := pubsubio.Read(s, "p", "in", pubsubio.ReadOptions{Endpoint: ps.Addr, AckDeadline: subAckDeadline})
	// One bundle of n messages takes 1.8 x the ack deadline.
	slow := &slowFn{Delay: subAckDeadline * 18 / 10 / n}
	pubsubio.Publish(s, "p", beam.ParDo(s, slow, read), pubsubio.PublishOptions{Endpoint: ps.Addr})
	r := start(ctx, p)
	defer r.stop()

	// Once the reader holds every message, compete for them like another
	// subscriber would: a message whose deadline lapsed would come to us.
	deadline := time.Now().Add(60 * time.Second)
	for {
		pulled := 0
		for _, m := range inputs(ps) {
			if m.Deliveries > 0 {
				pulled++
			}
		}
		if pulled == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reader pulled %d of %d messages", pulled, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var out []*pubsubpb.ReceivedMessage
	stolen := 0
	for len(out) < n && time.Now().Before(deadline.Add(30*time.Second)) {
		resp, err := c.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: "projects/p/subscriptions/in", MaxMessages: n, ReturnImmediately: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, rm := range resp.GetReceivedMessages() {
			stolen++
			t.Errorf("%s was redelivered while its bundle still ran", rm.GetMessage().GetData())
		}
		out = append(out, pullAll(t, ctx, c, "out", n-len(out), 500*time.Millisecond)...)
	}
	if len(distinct(out)) != n {
		t.Fatalf("%d distinct messages came out, want %d", len(distinct(out)), n)
	}
	waitAcked(t, ps, 30*time.Second)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	for _, m := range inputs(ps) {
		if m.Deliveries != 1 {
			t.Errorf("%s delivered %d times, want once", m.Data, m.Deliveries)
		}
		extended := false
		for _, ma := range m.Modacks {
			if ma.AckDeadline > 0 {
				extended = true
			}
		}
		if !extended {
			t.Errorf("%s: its ack deadline was never extended", m.Data)
		}
	}
	if stolen > 0 {
		t.Errorf("%d messages were redelivered while in flight", stolen)
	}
}
