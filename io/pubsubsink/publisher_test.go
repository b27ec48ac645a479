package pubsubsink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/segmentflow/segmentflow/emulators"
	"github.com/segmentflow/segmentflow/emulators/emulatortest"
)

const project = "sink-test"

// fixture is pstest with one topic, and a client that counts the Publish
// requests it sends and their sizes.
type fixture struct {
	ps     *emulators.PubSub
	client *pubsub.Client

	mu       sync.Mutex
	requests int // Publish requests sent
	largest  int // messages in the largest of them
}

func newFixture(t *testing.T, topics ...string) *fixture {
	t.Helper()
	ps := emulatortest.PubSub(t)
	f := &fixture{ps: ps}
	count := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if pr, ok := req.(*pubsubpb.PublishRequest); ok {
			f.mu.Lock()
			f.requests++
			f.largest = max(f.largest, len(pr.Messages))
			f.mu.Unlock()
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	opts := append(emulators.ClientOptions(ps.Addr), option.WithGRPCDialOption(grpc.WithUnaryInterceptor(count)))
	var err error
	f.client, err = pubsub.NewClient(context.Background(), project, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.client.Close() })
	for _, topic := range topics {
		if _, err := f.client.TopicAdminClient.CreateTopic(context.Background(), &pubsubpb.Topic{Name: "projects/" + project + "/topics/" + topic}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func messages(call, n int) []Message {
	msgs := make([]Message, n)
	for i := range msgs {
		id := fmt.Sprintf("c%d-m%d", call, i)
		msgs[i] = Message{Data: []byte(`{"messageId":"` + id + `"}`), Attributes: map[string]string{"message_id": id, "type": "track"}}
	}
	return msgs
}

// TestWriteBatchSharesRequests: concurrent callers' messages travel
// together, no request exceeds MaxMessages, and every message arrives with
// its data and attributes.
func TestWriteBatchSharesRequests(t *testing.T) {
	f := newFixture(t, "events")
	p := New(f.client, "events", Options{MaxMessages: 50, MaxDelay: 20 * time.Millisecond})
	const callers, calls, per = 8, 10, 20
	var wg sync.WaitGroup
	errs := make(chan error, callers*calls)
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range calls {
				errs <- p.WriteBatch(context.Background(), messages(c*calls+k, per))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	got := map[string]bool{}
	for _, m := range f.ps.Server.Messages() {
		id := m.Attributes["message_id"]
		if string(m.Data) != `{"messageId":"`+id+`"}` || m.Attributes["type"] != "track" {
			t.Fatalf("message %q arrived as data %s, attributes %v", id, m.Data, m.Attributes)
		}
		got[id] = true
	}
	if len(got) != callers*calls*per {
		t.Fatalf("%d distinct messages on the topic, want %d", len(got), callers*calls*per)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := f.requests; n >= callers*calls {
		t.Errorf("%d Publish requests for %d calls: callers' messages were not batched together", n, callers*calls)
	}
	if n := f.largest; n > 50 {
		t.Errorf("a request carried %d messages, over MaxMessages 50", n)
	}
}

// TestWriteBatchReportsFailures: a topic that does not exist fails every
// message of the call, with the server's status reachable through the
// error.
func TestWriteBatchReportsFailures(t *testing.T) {
	f := newFixture(t)
	p := New(f.client, "missing", Options{MaxDelay: time.Millisecond})
	defer p.Close(context.Background())
	err := p.WriteBatch(context.Background(), messages(0, 5))
	var be *BatchError
	if !errors.As(err, &be) || be.Failed != 5 || len(FailedIndexes(err, 5)) != 5 {
		t.Fatalf("WriteBatch to a missing topic: %v, want all 5 failed", err)
	}
	if status.Code(errors.Unwrap(be.Errs[0])) != codes.NotFound || !strings.Contains(err.Error(), "projects/"+project+"/topics/missing") {
		t.Fatalf("error %v: want NotFound naming the topic", be.Errs[0])
	}
}

// TestCloseFlushes: Close sends what waits for the delay and the waiting
// caller gets its result; later calls are refused.
func TestCloseFlushes(t *testing.T) {
	f := newFixture(t, "events")
	p := New(f.client, "projects/"+project+"/topics/events", Options{MaxDelay: time.Hour})
	res := make(chan error, 1)
	go func() { res <- p.WriteBatch(context.Background(), messages(0, 3)) }()
	time.Sleep(100 * time.Millisecond) // let the call reach the batch
	select {
	case err := <-res:
		t.Fatalf("WriteBatch returned %v before the batch was due", err)
	default:
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-res:
		if err != nil {
			t.Fatalf("WriteBatch flushed by Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WriteBatch still waiting 10 s after Close: the batch was not flushed")
	}
	if n := len(f.ps.Server.Messages()); n != 3 {
		t.Fatalf("%d messages on the topic after Close, want 3", n)
	}
	if err := p.WriteBatch(context.Background(), messages(1, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("WriteBatch after Close: %v, want ErrClosed", err)
	}
}

// TestWriteBatchHonoursContext: a caller whose context ends stops waiting
// and learns that nothing is confirmed; the batch itself still goes.
func TestWriteBatchHonoursContext(t *testing.T) {
	f := newFixture(t, "events")
	p := New(f.client, "events", Options{MaxDelay: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := p.WriteBatch(ctx, messages(0, 4))
	if !errors.Is(err, context.DeadlineExceeded) || len(FailedIndexes(err, 4)) != 4 {
		t.Fatalf("WriteBatch past its deadline: %v, want all 4 failed with DeadlineExceeded", err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(f.ps.Server.Messages()); n != 4 {
		t.Fatalf("%d messages on the topic, want the 4 the batch still sent", n)
	}
}

// TestMessageSize: the batch byte bound counts what the request encodes.
func TestMessageSize(t *testing.T) {
	for _, m := range []Message{
		{},
		{Data: []byte("x")},
		{Data: make([]byte, 300), Attributes: map[string]string{"message_id": strings.Repeat("m", 200), "event_time": "2026-12-03T10:00:00.000Z", "type": "track", "event": ""}},
		{Data: make([]byte, 70_000), Attributes: map[string]string{"k": strings.Repeat("v", 20_000)}},
	} {
		want := proto.Size(&pubsubpb.PublishRequest{Messages: []*pubsubpb.PubsubMessage{{Data: m.Data, Attributes: m.Attributes}}})
		if got := messageSize(m); got != want {
			t.Errorf("messageSize(%d bytes, %d attributes) = %d, want %d", len(m.Data), len(m.Attributes), got, want)
		}
	}
}
