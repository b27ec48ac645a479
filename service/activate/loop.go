package activate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"github.com/sony/gobreaker/v2"

	"github.com/segmentflow/segmentflow/io/partner"
	"github.com/segmentflow/segmentflow/rules"
)

// loop is the delivery loop of one partner. Nothing in it is shared with
// another partner's loop (subscription, lanes, breaker, limiter, retry
// state), which is what keeps one partner's outage from delaying another.
type loop struct {
	id    string
	lim   Limits
	sub   *pubsub.Subscriber
	sink  partner.Sink
	dl    *partner.DeadLetters
	cb    *gobreaker.CircuitBreaker[struct{}]
	m     *metrics
	log   *slog.Logger
	retry partner.RetryPolicy
	// pause is when the partner's last Retry-After ends: a 429 or 503 with
	// Retry-After holds every lane of the partner, not just the one that
	// got it.
	pause atomic.Int64
	// last is the partner's last failed answer, reported with the
	// attempts the open breaker refused (so a dead letter keeps the status).
	last atomic.Pointer[partner.Error]
}

// item is one received message and its decoded change.
type item struct {
	msg    *pubsub.Message
	change rules.Change
}

func newBreaker(id string, b Breaker, m *metrics, log *slog.Logger) *gobreaker.CircuitBreaker[struct{}] {
	failures := uint32(max(b.Failures, 1))
	probes := uint32(max(b.Probes, 1))
	m.breaker.WithLabelValues(id).Set(0)
	return gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        id,
		MaxRequests: probes,
		Timeout:     time.Duration(b.OpenFor),
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		// A refusal (4xx) is an answer: the partner is up.
		IsSuccessful: func(err error) bool {
			var be *partner.BatchError
			if errors.As(err, &be) {
				for _, e := range be.Errs {
					if partner.IsRetryable(e) {
						return false
					}
				}
				return true
			}
			return !partner.IsRetryable(err)
		},
		IsExcluded: func(err error) bool {
			return errors.Is(err, context.Canceled)
		},
		OnStateChange: func(name string, from, to gobreaker.State) {
			m.breaker.WithLabelValues(name).Set(float64(to))
			log.Info("activate: circuit breaker", "partner", name, "from", from.String(), "to", to.String())
		},
	})
}

// attempt is one delivery attempt through the breaker. While the breaker is
// open it fails at once without a request; Deliver's backoff then spaces
// the attempts, and once the breaker is half-open they are its probes.
func (l *loop) attempt(ctx context.Context, cs []rules.Change) error {
	if wait := time.Until(time.Unix(0, l.pause.Load())); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	start := time.Now()
	_, err := l.cb.Execute(func() (struct{}, error) {
		return struct{}{}, l.sink.WriteBatch(ctx, cs)
	})
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		pe := &partner.Error{Retryable: true, Err: fmt.Errorf("circuit breaker: %w", err)}
		if last := l.last.Load(); last != nil {
			pe.Status, pe.Body = last.Status, last.Body
		}
		return pe
	}
	l.m.latency.WithLabelValues(l.id).Observe(time.Since(start).Seconds())
	for _, e := range partner.ItemErrors(err, 1) {
		var pe *partner.Error
		if errors.As(e, &pe) && pe.Status != 0 {
			l.last.Store(pe)
		}
		if errors.As(e, &pe) && pe.RetryAfter > 0 {
			until := time.Now().Add(pe.RetryAfter).UnixNano()
			if until > l.pause.Load() {
				l.pause.Store(until)
			}
		}
	}
	return err
}

// run receives from the partner's subscription until ctx ends or the
// subscription fails.
func (l *loop) run(ctx context.Context) error {
	lanes := make([]*lane, l.lim.Concurrency)
	var wg sync.WaitGroup
	// Lanes outlive ctx a little: after Receive returns they nack what they
	// still hold, so nothing waits for an ack deadline.
	for i := range lanes {
		lanes[i] = &lane{l: l, in: make(chan item, l.lim.BatchCount), versions: newVersions(l.lim.OrderingCache / l.lim.Concurrency)}
		wg.Add(1)
		go func(ln *lane) {
			defer wg.Done()
			ln.run(ctx)
		}(lanes[i])
	}
	err := l.sub.Receive(ctx, func(ctx context.Context, msg *pubsub.Message) {
		l.m.pending.WithLabelValues(l.id).Inc()
		ch, derr := decodeChange(msg.Data)
		if derr != nil {
			l.malformed(ctx, msg, derr)
			return
		}
		ln := lanes[laneOf(ch.UserID, len(lanes))]
		select {
		case ln.in <- item{msg: msg, change: ch}:
		case <-ctx.Done():
			l.nack(msg)
		}
	})
	for _, ln := range lanes {
		close(ln.in)
	}
	wg.Wait()
	if err != nil {
		return fmt.Errorf("activate: partner %s: receive: %w", l.id, err)
	}
	return nil
}

func laneOf(user string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(user))
	return int(h.Sum32() % uint32(n))
}

// decodeChange reads one activation message. Unknown fields are accepted
// (a newer publisher may add some); a change without a user is not.
func decodeChange(data []byte) (rules.Change, error) {
	var c rules.Change
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("decode change: %w", err)
	}
	if c.UserID == "" {
		return c, errors.New("decode change: user_id is empty")
	}
	return c, nil
}

func (l *loop) ack(m *pubsub.Message) {
	m.Ack()
	l.m.pending.WithLabelValues(l.id).Dec()
}

func (l *loop) nack(m *pubsub.Message) {
	m.Nack()
	l.m.pending.WithLabelValues(l.id).Dec()
}

// malformed dead-letters a message that is not a change; it is acked only
// once the letter is stored.
func (l *loop) malformed(ctx context.Context, msg *pubsub.Message, err error) {
	letter := partner.Letter{Reason: partner.ReasonMalformed, Error: err.Error(), Raw: string(msg.Data), MessageIDs: []string{msg.ID}}
	if _, perr := l.dl.Put(ctx, letter); perr != nil {
		l.log.Error("activate: dead letter of malformed message failed; nacked", "partner", l.id, "err", perr)
		l.nack(msg)
		return
	}
	l.m.deadLettered.WithLabelValues(l.id, partner.ReasonMalformed).Inc()
	l.log.Warn("activate: malformed message dead-lettered", "partner", l.id, "err", err)
	l.ack(msg)
}
