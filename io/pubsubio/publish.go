package pubsubio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/cenkalti/backoff/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func init() {
	register.DoFn2x1[context.Context, Outgoing, error](&publishFn{})
}

// PublishOptions configure Publish. Zero fields take the defaults noted.
type PublishOptions struct {
	// Endpoint is host:port of a Pub/Sub emulator; empty means the real
	// service (or PUBSUB_EMULATOR_HOST).
	Endpoint string
	// MaxBatch is the most messages per Publish request; 500 (the API allows 1000).
	MaxBatch int
	// RetryFor bounds how long a failing batch is retried before the bundle
	// fails (and the runner retries the whole bundle); 30 s.
	RetryFor time.Duration
}

// Publish publishes a PCollection<Outgoing> to the topics the messages name
// in project. Messages are batched per topic within a bundle and sent at the
// latest when the bundle finishes, so a committed bundle means published
// messages; a publish that still fails after RetryFor fails the bundle.
// Delivery is at least once: a retried bundle may publish a message again.
func Publish(s beam.Scope, project string, col beam.PCollection, opts PublishOptions) {
	s = s.Scope("pubsubio.Publish")
	if opts.MaxBatch <= 0 || opts.MaxBatch > pubsub.MaxPublishRequestCount {
		opts.MaxBatch = 500
	}
	if opts.RetryFor <= 0 {
		opts.RetryFor = 30 * time.Second
	}
	beam.ParDo0(s, &publishFn{Project: project, Endpoint: opts.Endpoint, MaxBatch: opts.MaxBatch, RetryFor: opts.RetryFor}, col)
}

type publishFn struct {
	Project, Endpoint string
	MaxBatch          int
	RetryFor          time.Duration

	client  *pubsub.Client
	pending map[string][]*pubsubpb.PubsubMessage
	counts  map[string]beam.Counter
}

func (fn *publishFn) Setup(ctx context.Context) error {
	c, err := newClient(context.WithoutCancel(ctx), fn.Project, fn.Endpoint)
	if err != nil {
		return err
	}
	fn.client = c
	fn.counts = map[string]beam.Counter{}
	return nil
}

func (fn *publishFn) StartBundle(ctx context.Context) {
	fn.pending = map[string][]*pubsubpb.PubsubMessage{}
}

func (fn *publishFn) ProcessElement(ctx context.Context, m Outgoing) error {
	if m.Topic == "" {
		return errors.New("pubsubio: publish: message without a topic")
	}
	fn.pending[m.Topic] = append(fn.pending[m.Topic], &pubsubpb.PubsubMessage{Data: m.Data, Attributes: m.Attributes})
	if len(fn.pending[m.Topic]) >= fn.MaxBatch {
		return fn.flush(ctx, m.Topic)
	}
	return nil
}

func (fn *publishFn) FinishBundle(ctx context.Context) error {
	var errs []error
	for topic := range fn.pending {
		if err := fn.flush(ctx, topic); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (fn *publishFn) flush(ctx context.Context, topic string) error {
	msgs := fn.pending[topic]
	if len(msgs) == 0 {
		return nil
	}
	path := topicPath(fn.Project, topic)
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		resp, err := fn.client.TopicAdminClient.Publish(ctx, &pubsubpb.PublishRequest{Topic: path, Messages: msgs})
		if err != nil {
			if !retryable(err) {
				return struct{}{}, backoff.Permanent(err)
			}
			slog.Warn("pubsubio: publish failed, retrying", "topic", topic, "messages", len(msgs), "error", err)
			return struct{}{}, err
		}
		if got := len(resp.GetMessageIds()); got != len(msgs) {
			return struct{}{}, fmt.Errorf("server accepted %d of %d messages", got, len(msgs))
		}
		return struct{}{}, nil
	}, backoff.WithBackOff(backoff.NewExponentialBackOff()), backoff.WithMaxElapsedTime(fn.RetryFor))
	if err != nil {
		// The messages stay pending: failing the bundle makes the runner
		// retry it, which re-creates them.
		return fmt.Errorf("pubsubio: publish %d messages to %s: %w", len(msgs), path, err)
	}
	c, ok := fn.counts[topic]
	if !ok {
		c = beam.NewCounter("pubsubio", "published_"+topic)
		fn.counts[topic] = c
	}
	c.Inc(ctx, int64(len(msgs)))
	delete(fn.pending, topic)
	return nil
}

func (fn *publishFn) Teardown() error {
	if fn.client != nil {
		return fn.client.Close()
	}
	return nil
}

// retryable reports whether a publish error may go away on its own. A
// missing topic or bad request will not, and fails the bundle at once.
func retryable(err error) bool {
	switch status.Code(err) {
	case codes.NotFound, codes.InvalidArgument, codes.PermissionDenied, codes.Unauthenticated:
		return false
	}
	return true
}
