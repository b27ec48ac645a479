package pubsubio

import (
	"context"
	"log/slog"
	"sync"
	"time"

	vkit "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
)

// maxAckIDsPerRequest keeps Acknowledge/ModifyAckDeadline requests well under
// the API's 512 KB request limit.
const maxAckIDsPerRequest = 1000

// inflight tracks messages that were pulled and emitted but whose bundle is
// not yet committed, and keeps extending their ack deadlines so Pub/Sub does
// not redeliver them while the pipeline still works on them. Extension stops
// after maxExtension (the bundle must have failed: its finalization never
// came) or when the reader stops heartbeating (the pipeline was cancelled),
// so such messages are redelivered rather than held forever.
type inflight struct {
	subs *subscriber

	mu       sync.Mutex
	pulled   map[string]time.Time // ack id -> when it was pulled
	lastBeat time.Time

	stop chan struct{}
	done chan struct{}
}

type subscriber struct {
	sub          string
	ackDeadline  time.Duration
	maxExtension time.Duration
	client       *vkit.SubscriptionAdminClient
}

func newInflight(s *subscriber) *inflight {
	f := &inflight{subs: s, pulled: map[string]time.Time{}, lastBeat: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	go f.extendLoop()
	return f
}

// add records freshly pulled ack ids.
func (f *inflight) add(ids []string) {
	now := time.Now()
	f.mu.Lock()
	for _, id := range ids {
		f.pulled[id] = now
	}
	f.lastBeat = now
	f.mu.Unlock()
}

// beat tells the extender the reader is alive.
func (f *inflight) beat() {
	f.mu.Lock()
	f.lastBeat = time.Now()
	f.mu.Unlock()
}

// ack acknowledges ids (their bundle is committed) and stops extending them.
func (f *inflight) ack(ctx context.Context, ids []string) error {
	for start := 0; start < len(ids); start += maxAckIDsPerRequest {
		chunk := ids[start:min(start+maxAckIDsPerRequest, len(ids))]
		if err := f.subs.client.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: f.subs.sub, AckIds: chunk}); err != nil {
			return err
		}
	}
	f.mu.Lock()
	for _, id := range ids {
		delete(f.pulled, id)
	}
	f.mu.Unlock()
	return nil
}

// nack hands ids back to Pub/Sub for immediate redelivery (messages pulled
// but not emitted because the restriction was already done).
func (f *inflight) nack(ctx context.Context, ids []string) {
	if len(ids) == 0 {
		return
	}
	f.modify(ctx, ids, 0)
	f.mu.Lock()
	for _, id := range ids {
		delete(f.pulled, id)
	}
	f.mu.Unlock()
}

func (f *inflight) modify(ctx context.Context, ids []string, deadline time.Duration) {
	for start := 0; start < len(ids); start += maxAckIDsPerRequest {
		chunk := ids[start:min(start+maxAckIDsPerRequest, len(ids))]
		err := f.subs.client.ModifyAckDeadline(ctx, &pubsubpb.ModifyAckDeadlineRequest{
			Subscription: f.subs.sub, AckIds: chunk, AckDeadlineSeconds: int32(deadline / time.Second),
		})
		if err != nil {
			// Best effort: a missed extension means a redelivery, which
			// the pipeline's dedup absorbs.
			slog.Warn("pubsubio: modify ack deadline", "subscription", f.subs.sub, "ids", len(chunk), "error", err)
		}
	}
}

func (f *inflight) extendLoop() {
	defer close(f.done)
	every := f.subs.ackDeadline / 3
	if every < time.Second {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
		}
		now := time.Now()
		var extend []string
		f.mu.Lock()
		alive := now.Sub(f.lastBeat) < f.subs.ackDeadline
		for id, at := range f.pulled {
			if !alive || now.Sub(at) > f.subs.maxExtension {
				delete(f.pulled, id) // let Pub/Sub redeliver it
				continue
			}
			extend = append(extend, id)
		}
		f.mu.Unlock()
		if len(extend) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), every)
			f.modify(ctx, extend, f.subs.ackDeadline)
			cancel()
		}
	}
}

func (f *inflight) close() {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	<-f.done
}
