// Package pubsubsink is a micro-batching Pub/Sub output in the Benthos style:
// connect, write a batch reporting which items failed, close (flushing).
// Batching across callers is the client library's bundler, bounded by count,
// bytes and delay so that little is in flight when a node dies.
package pubsubsink

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
)

// Options bound one publisher's micro-batches. Zero fields take DefaultOptions.
type Options struct {
	// MaxMessages sends a batch once it holds this many messages.
	MaxMessages int
	// MaxBytes sends a batch once it holds this many bytes.
	MaxBytes int
	// MaxDelay sends a non-empty batch after this long.
	MaxDelay time.Duration
	// Timeout bounds how long one batch is retried before its messages fail;
	// short, because the caller has a fallback (standby topic, GCS) and a
	// client waiting.
	Timeout time.Duration
}

// DefaultOptions keep batches small: at most 5 ms or 100 messages in flight
// per node before they are on the wire.
var DefaultOptions = Options{MaxMessages: 100, MaxBytes: 1 << 20, MaxDelay: 5 * time.Millisecond, Timeout: 2 * time.Second}

func (o Options) orDefault() Options {
	if o.MaxMessages <= 0 {
		o.MaxMessages = DefaultOptions.MaxMessages
	}
	if o.MaxMessages > pubsub.MaxPublishRequestCount {
		o.MaxMessages = pubsub.MaxPublishRequestCount
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultOptions.MaxBytes
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = DefaultOptions.MaxDelay
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultOptions.Timeout
	}
	return o
}

// Message is one Pub/Sub message to publish.
type Message struct {
	Data       []byte
	Attributes map[string]string
}

// BatchError reports which messages of a WriteBatch failed; Errs[i] is nil
// for a message that was published.
type BatchError struct {
	Errs   []error
	Failed int
}

func (e *BatchError) Error() string {
	var first error
	for _, err := range e.Errs {
		if err != nil {
			first = err
			break
		}
	}
	return fmt.Sprintf("pubsubsink: %d of %d messages failed: %v", e.Failed, len(e.Errs), first)
}

// Unwrap exposes the first failure so errors.Is works on causes.
func (e *BatchError) Unwrap() error {
	for _, err := range e.Errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// FailedIndexes returns the positions of the messages that failed; every
// position for an error that is not a *BatchError.
func FailedIndexes(err error, n int) []int {
	if err == nil {
		return nil
	}
	var be *BatchError
	if !errors.As(err, &be) || len(be.Errs) != n {
		all := make([]int, n)
		for i := range all {
			all[i] = i
		}
		return all
	}
	var idx []int
	for i, e := range be.Errs {
		if e != nil {
			idx = append(idx, i)
		}
	}
	return idx
}

// ErrClosed is returned by WriteBatch after Close.
var ErrClosed = errors.New("pubsubsink: publisher closed")

// Publisher publishes to one topic.
type Publisher struct {
	client *pubsub.Client
	topic  string
	pub    *pubsub.Publisher

	mu     sync.RWMutex
	closed bool
}

// New returns a publisher of topic (an id or a full projects/P/topics/T name)
// through client. It does not own client.
func New(client *pubsub.Client, topic string, opts Options) *Publisher {
	o := opts.orDefault()
	pub := client.Publisher(topic)
	pub.PublishSettings.CountThreshold = o.MaxMessages
	pub.PublishSettings.ByteThreshold = o.MaxBytes
	pub.PublishSettings.DelayThreshold = o.MaxDelay
	pub.PublishSettings.Timeout = o.Timeout
	// Flow control would block the HTTP handler; the server's own
	// concurrency limit bounds what is outstanding instead.
	pub.PublishSettings.FlowControlSettings.LimitExceededBehavior = pubsub.FlowControlIgnore
	return &Publisher{client: client, topic: pub.String(), pub: pub}
}

// Topic is the full topic name.
func (p *Publisher) Topic() string { return p.topic }

// Connect checks that the topic exists and the service answers.
func (p *Publisher) Connect(ctx context.Context) error {
	if _, err := p.client.TopicAdminClient.GetTopic(ctx, &pubsubpb.GetTopicRequest{Topic: p.topic}); err != nil {
		return fmt.Errorf("pubsubsink: topic %s: %w", p.topic, err)
	}
	return nil
}

// WriteBatch publishes msgs and waits for every result. It returns nil when
// all were published, else a *BatchError naming the failed ones (those may
// be retried elsewhere; a message that timed out may still arrive, so
// downstream dedups by message id).
func (p *Publisher) WriteBatch(ctx context.Context, msgs []Message) error {
	if len(msgs) == 0 {
		return nil
	}
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return ErrClosed
	}
	results := make([]*pubsub.PublishResult, len(msgs))
	for i, m := range msgs {
		results[i] = p.pub.Publish(ctx, &pubsub.Message{Data: m.Data, Attributes: m.Attributes})
	}
	p.mu.RUnlock()
	be := &BatchError{Errs: make([]error, len(msgs))}
	for i, r := range results {
		if _, err := r.Get(ctx); err != nil {
			be.Errs[i] = fmt.Errorf("publish to %s: %w", p.topic, err)
			be.Failed++
		}
	}
	if be.Failed == 0 {
		return nil
	}
	return be
}

// Close flushes pending batches and stops the publisher; every WriteBatch
// still waiting gets its results first.
func (p *Publisher) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	done := make(chan struct{})
	go func() { p.pub.Stop(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("pubsubsink: close %s: %w", p.topic, ctx.Err())
	}
}
