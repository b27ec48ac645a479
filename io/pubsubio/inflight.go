package pubsubio

import (
	"context"
	"log/slog"
	"sync"
	"time"

	vkit "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/cenkalti/backoff/v5"
)

const (
	// maxAckIDsPerRequest keeps Acknowledge/ModifyAckDeadline requests well
	// under the API's 512 KB request limit.
	maxAckIDsPerRequest = 1000
	// minAckDeadline is the shortest deadline Pub/Sub allows on a
	// subscription; a freshly pulled message is assumed to have only this
	// long, since reading the subscription's own needs more than the
	// subscriber role.
	minAckDeadline = 10 * time.Second
	// renewMargin is how long before a message's deadline it is extended.
	renewMargin = minAckDeadline / 2
	// tick is how often deadlines are checked.
	tick = time.Second
	// ackRetryFor bounds retries of a failed Acknowledge: after that the
	// messages are left to redelivery (a duplicate, not a loss).
	ackRetryFor = 10 * time.Second
)

// inflight tracks messages that were pulled but not yet acknowledged, and
// extends their ack deadlines so Pub/Sub does not redeliver them while the
// pipeline still works on them. Extension of a message stops when it is
// acknowledged, maxExtension after its pull (its bundle must have failed),
// ackDeadline after its bundle handed it to the checkpoint (the next bundle
// acknowledges it, possibly on another DoFn instance), or when the reader
// has shown no activity for ackDeadline (the pipeline was cancelled); then it
// is redelivered rather than held forever.
type inflight struct {
	subs *subscriber

	mu         sync.Mutex
	pulled     map[string]*flight
	active     int       // ProcessElement calls in progress
	lastActive time.Time // when the last one ended
	running    bool      // the extend loop runs

	stop chan struct{}
	wg   sync.WaitGroup
}

type flight struct {
	expires time.Time // when Pub/Sub will redeliver it unless extended
	until   time.Time // when to stop extending it
}

type subscriber struct {
	sub          string
	ackDeadline  time.Duration
	maxExtension time.Duration
	client       *vkit.SubscriptionAdminClient
}

func newInflight(s *subscriber) *inflight {
	return &inflight{subs: s, pulled: map[string]*flight{}, stop: make(chan struct{})}
}

// begin marks a ProcessElement call in progress; it keeps the reader alive
// however long downstream steps take.
func (f *inflight) begin() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.active++
	if !f.running {
		select {
		case <-f.stop:
			return // closed
		default:
		}
		f.running = true
		f.wg.Add(1)
		go f.extendLoop()
	}
}

// end marks the end of a ProcessElement call.
func (f *inflight) end() {
	f.mu.Lock()
	f.active--
	f.lastActive = time.Now()
	f.mu.Unlock()
}

// add records freshly pulled ack ids.
func (f *inflight) add(ids []string) {
	now := time.Now()
	f.mu.Lock()
	for _, id := range ids {
		f.pulled[id] = &flight{expires: now.Add(minAckDeadline), until: now.Add(f.subs.maxExtension)}
	}
	f.mu.Unlock()
}

// handOff shortens the extension of ids that went into a checkpoint to
// ackDeadline: the bundle that resumes it acknowledges them first thing.
func (f *inflight) handOff(ids []string) {
	until := time.Now().Add(f.subs.ackDeadline)
	f.mu.Lock()
	for _, id := range ids {
		if fl, ok := f.pulled[id]; ok && until.Before(fl.until) {
			fl.until = until
		}
	}
	f.mu.Unlock()
}

// ack acknowledges ids (their bundle is committed), retrying for a while,
// and stops extending them.
func (f *inflight) ack(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	for start := 0; start < len(ids); start += maxAckIDsPerRequest {
		chunk := ids[start:min(start+maxAckIDsPerRequest, len(ids))]
		_, err := backoff.Retry(ctx, func() (struct{}, error) {
			err := f.subs.client.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: f.subs.sub, AckIds: chunk})
			if err != nil && !retryable(err) {
				return struct{}{}, backoff.Permanent(err)
			}
			return struct{}{}, err
		}, backoff.WithBackOff(backoff.NewExponentialBackOff()), backoff.WithMaxElapsedTime(ackRetryFor))
		if err != nil {
			f.forget(ids[start:])
			return err
		}
	}
	f.forget(ids)
	return nil
}

// nack hands ids back to Pub/Sub for immediate redelivery (messages pulled
// but not emitted because the runner checkpointed the loop meanwhile).
func (f *inflight) nack(ctx context.Context, ids []string) {
	if len(ids) == 0 {
		return
	}
	f.modify(ctx, ids, 0)
	f.forget(ids)
}

func (f *inflight) forget(ids []string) {
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

// extendLoop runs while the reader is alive; begin restarts it.
func (f *inflight) extendLoop() {
	defer f.wg.Done()
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
		}
		extend, alive := f.due(time.Now())
		if len(extend) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), renewMargin)
			f.modify(ctx, extend, f.subs.ackDeadline)
			cancel()
		}
		if !alive {
			return
		}
	}
}

// due returns the ids whose deadline must be extended now, dropping those
// whose extension is over, and whether the reader is still alive. A dead
// reader drops everything and stops the loop.
func (f *inflight) due(now time.Time) (extend []string, alive bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	alive = f.active > 0 || now.Sub(f.lastActive) < f.subs.ackDeadline
	for id, fl := range f.pulled {
		switch {
		case !alive || now.After(fl.until):
			delete(f.pulled, id) // let Pub/Sub redeliver it
		case fl.expires.Sub(now) < renewMargin:
			fl.expires = now.Add(f.subs.ackDeadline)
			extend = append(extend, id)
		}
	}
	if !alive {
		f.running = false
	}
	return extend, alive
}

func (f *inflight) close() {
	f.mu.Lock()
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	f.mu.Unlock()
	f.wg.Wait()
}
