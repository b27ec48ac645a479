package pubsubio_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/segmentflow/segmentflow/emulators"
	"github.com/segmentflow/segmentflow/io/pubsubio"
)

func TestMain(m *testing.M) { ptest.Main(m) }

func init() {
	register.Function3x0(forward)
	register.Emitter1[pubsubio.Outgoing]()
}

// forward re-publishes a read message to the "out" topic with its event time
// and id as attributes, so the test can see what the reader emitted.
func forward(et beam.EventTime, m pubsubio.Message, emit func(pubsubio.Outgoing)) {
	emit(pubsubio.Outgoing{Topic: "out", Data: m.Data, Attributes: map[string]string{
		"ts": strconv.FormatInt(et.Milliseconds(), 10), "id": m.ID,
	}})
}

func setup(t *testing.T, ctx context.Context) (*emulators.PubSub, *pubsub.Client) {
	t.Helper()
	ps, err := emulators.StartPubSub("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	c, err := ps.Client(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for _, tp := range []string{"in", "out"} {
		if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: "projects/p/topics/" + tp}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
			Name: "projects/p/subscriptions/" + tp, Topic: "projects/p/topics/" + tp, AckDeadlineSeconds: 10,
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

// drain pulls sub until want messages arrived or the deadline passes.
func drain(t *testing.T, ctx context.Context, c *pubsub.Client, sub string, want int, wait time.Duration) []*pubsubpb.ReceivedMessage {
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

func TestReadPublishRoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ps, c := setup(t, ctx)

	const n = 300
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var msgs []*pubsubpb.PubsubMessage
	for i := 0; i < n; i++ {
		m := &pubsubpb.PubsubMessage{Data: []byte(fmt.Sprintf("m%d", i))}
		if i%2 == 0 { // odd ones fall back to publish time
			m.Attributes = map[string]string{"event_time": base.Add(time.Duration(i) * time.Second).Format("2006-01-02T15:04:05.000Z07:00")}
		}
		msgs = append(msgs, m)
	}
	publish(t, ctx, c, "in", msgs[:n/2])

	p, s := beam.NewPipelineWithRoot()
	read := pubsubio.Read(s, "p", "in", pubsubio.ReadOptions{Endpoint: ps.Addr, PollInterval: 50 * time.Millisecond})
	pubsubio.Publish(s, "p", beam.ParDo(s, forward, read), pubsubio.PublishOptions{Endpoint: ps.Addr})

	pctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { _, err := prism.Execute(pctx, p); done <- err }()
	defer func() { stop(); <-done }()

	// Messages published while the pipeline runs arrive too.
	time.Sleep(2 * time.Second)
	publish(t, ctx, c, "in", msgs[n/2:])

	got := drain(t, ctx, c, "out", n, 90*time.Second)
	seen := map[string]bool{}
	for _, rm := range got {
		seen[string(rm.GetMessage().GetData())] = true
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
	if len(seen) != n {
		t.Fatalf("read %d distinct messages (%d in all), want %d", len(seen), len(got), n)
	}
	// Every input message is acknowledged once its bundle committed.
	deadline := time.Now().Add(20 * time.Second)
	for {
		var unacked []string
		for _, m := range ps.Server.Messages() {
			if m.Acks == 0 && m.Attributes["ts"] == "" {
				unacked = append(unacked, string(m.Data))
			}
		}
		if len(unacked) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d input messages never acknowledged: %v", len(unacked), unacked[:min(10, len(unacked))])
		}
		time.Sleep(200 * time.Millisecond)
	}
}
