// Package pubsubsink is a micro-batching Pub/Sub output in the Benthos style:
// connect, write a batch reporting which items failed, close (flushing).
//
// It batches across callers itself and sends each batch with one Publish
// RPC of the client library's generated TopicAdminClient (its retry
// policy, connection pool and auth), instead of going through
// pubsub.Publisher: that one pays per message for what the collector does
// not use (OpenCensus tags, a result channel, reflective proto.Size twice,
// ordering keys, flow control) and was the largest part of the collector's
// CPU (about 200 of 700 ms per 1,000 requests, docs/collector.md).
package pubsubsink

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/support/bundler"
	"google.golang.org/protobuf/encoding/protowire"
)

// Options bound one publisher's micro-batches. Zero fields take DefaultOptions.
type Options struct {
	// MaxMessages sends a batch once it holds this many messages (at most
	// 1,000, the API's limit per request).
	MaxMessages int
	// MaxBytes sends a batch once it holds this many bytes of encoded
	// messages (at most 10 MB, the API's limit per request).
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

// maxRequestBytes leaves room in the API's 10 MB request limit for the
// topic name and the framing of the request itself.
const maxRequestBytes = pubsub.MaxPublishRequestBytes - 1<<10

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
	if o.MaxBytes > maxRequestBytes {
		o.MaxBytes = maxRequestBytes
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
	client  *pubsub.Client
	topic   string
	timeout time.Duration
	bundler *bundler.Bundler

	mu     sync.RWMutex
	closed bool
}

// pending is one message waiting in a batch, and where its outcome goes.
type pending struct {
	msg  *pubsubpb.PubsubMessage
	call *call
	i    int
}

// call is one WriteBatch waiting for its messages, which may travel in
// several requests.
type call struct {
	wg   sync.WaitGroup
	errs []error // written by the batches' handlers, one index each
}

// New returns a publisher of topic (an id or a full projects/P/topics/T name)
// through client. It does not own client.
func New(client *pubsub.Client, topic string, opts Options) *Publisher {
	o := opts.orDefault()
	// The library's rule for an id or a full name; a Publisher that is
	// never published through starts nothing.
	topic = client.Publisher(topic).String()
	p := &Publisher{client: client, topic: topic, timeout: o.Timeout}
	b := bundler.NewBundler(&pending{}, func(items any) { p.publish(items.([]*pending)) })
	b.DelayThreshold = o.MaxDelay
	b.BundleCountThreshold = o.MaxMessages
	b.BundleByteThreshold = o.MaxBytes
	b.BundleByteLimit = maxRequestBytes
	// What is buffered is bounded by the HTTP server's concurrency, not
	// here: a full buffer would fail messages the standby or GCS must then
	// take, for no gain.
	b.BufferedByteLimit = 1 << 30
	// As many requests in flight as pubsub.Publisher allows (25 per CPU):
	// one at a time would cap a node at one round trip per batch.
	b.HandlerLimit = 25 * runtime.GOMAXPROCS(0)
	p.bundler = b
	return p
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
// downstream dedups by message id). Messages of concurrent calls share
// requests.
func (p *Publisher) WriteBatch(ctx context.Context, msgs []Message) error {
	if len(msgs) == 0 {
		return nil
	}
	c := &call{errs: make([]error, len(msgs))}
	items := make([]pending, len(msgs))
	pbs := make([]pubsubpb.PubsubMessage, len(msgs))
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return ErrClosed
	}
	for i, m := range msgs {
		pbs[i] = pubsubpb.PubsubMessage{Data: m.Data, Attributes: m.Attributes}
		items[i] = pending{msg: &pbs[i], call: c, i: i}
		c.wg.Add(1)
		if err := p.bundler.Add(&items[i], messageSize(m)); err != nil {
			c.errs[i] = fmt.Errorf("publish to %s: %w", p.topic, err)
			c.wg.Done()
		}
	}
	p.mu.RUnlock()
	if ctx.Done() == nil {
		c.wg.Wait() // the collector's case: its requests outlive their clients
	} else {
		done := make(chan struct{})
		go func() { c.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			// The batches go on; what they publish is duplicated by the
			// caller's retry at worst, and downstream dedups.
			return &BatchError{Errs: fill(len(msgs), fmt.Errorf("publish to %s: %w", p.topic, ctx.Err())), Failed: len(msgs)}
		}
	}
	be := &BatchError{Errs: c.errs}
	for _, err := range c.errs {
		if err != nil {
			be.Failed++
		}
	}
	if be.Failed == 0 {
		return nil
	}
	return be
}

// publish sends one batch as one request and reports its outcome to each
// message's call.
func (p *Publisher) publish(batch []*pending) {
	req := &pubsubpb.PublishRequest{Topic: p.topic, Messages: make([]*pubsubpb.PubsubMessage, len(batch))}
	for i, it := range batch {
		req.Messages[i] = it.msg
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	_, err := p.client.TopicAdminClient.Publish(ctx, req)
	cancel()
	if err != nil {
		err = fmt.Errorf("publish to %s: %w", p.topic, err)
	}
	for _, it := range batch {
		it.call.errs[it.i] = err
		it.call.wg.Done()
	}
}

// messageSize is the encoded size of m inside a PublishRequest, what the
// API's request limit counts, from lengths alone (proto.Size would walk the
// attribute map by reflection).
func messageSize(m Message) int {
	n := 0
	if len(m.Data) > 0 {
		n += 1 + protowire.SizeBytes(len(m.Data))
	}
	for k, v := range m.Attributes {
		entry := 1 + protowire.SizeBytes(len(k)) + 1 + protowire.SizeBytes(len(v))
		n += 1 + protowire.SizeBytes(entry)
	}
	return 1 + protowire.SizeBytes(n)
}

func fill(n int, err error) []error {
	errs := make([]error, n)
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// Close flushes pending batches and waits for their requests; every
// WriteBatch still waiting gets its results first.
func (p *Publisher) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	done := make(chan struct{})
	go func() { p.bundler.Flush(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("pubsubsink: close %s: %w", p.topic, ctx.Err())
	}
}
