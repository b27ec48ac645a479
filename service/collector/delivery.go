package collector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/segmentflow/segmentflow/io/failover"
	"github.com/segmentflow/segmentflow/io/pubsubsink"
)

// errUnavailable means neither Pub/Sub nor GCS took the data (503).
var errUnavailable = errors.New("collector: no sink can take the data")

// target is one Pub/Sub topic behind a circuit breaker, so that once it
// fails requests go straight to the next tier instead of each waiting out
// the publish timeout.
type target struct {
	name string
	pub  *pubsubsink.Publisher
	cb   *gobreaker.CircuitBreaker[struct{}]
	m    *metrics
}

func newTarget(name string, pub *pubsubsink.Publisher, open time.Duration, m *metrics) *target {
	t := &target{name: name, pub: pub, m: m}
	t.cb = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        name,
		MaxRequests: 1,
		Timeout:     open,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 2 },
		OnStateChange: func(_ string, _, to gobreaker.State) {
			v := 0.0
			if to == gobreaker.StateOpen {
				v = 1
			}
			m.tierOpen.WithLabelValues(name).Set(v)
		},
	})
	return t
}

// write publishes msgs and returns the indexes that failed (all of them
// when the breaker is open).
func (t *target) write(ctx context.Context, msgs []pubsubsink.Message) []int {
	start := time.Now()
	var werr error
	_, err := t.cb.Execute(func() (struct{}, error) {
		werr = t.pub.WriteBatch(ctx, msgs)
		return struct{}{}, werr
	})
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return pubsubsink.FailedIndexes(err, len(msgs))
	}
	t.m.publish.WithLabelValues(t.name).Observe(time.Since(start).Seconds())
	return pubsubsink.FailedIndexes(werr, len(msgs))
}

func (t *target) state() string { return t.cb.State().String() }

// delivery hands events to the first tier that takes them: primary topic,
// standby topic, then GCS failover objects.
type delivery struct {
	targets  []*target
	failover *failover.Store
	m        *metrics
}

// deliver returns nil once every message is held by Pub/Sub or GCS.
// lines[i] is the body of msgs[i] (what a failover object stores).
func (d *delivery) deliver(ctx context.Context, msgs []pubsubsink.Message) error {
	pending := make([]int, len(msgs))
	for i := range pending {
		pending[i] = i
	}
	for ti, t := range d.targets {
		if len(pending) == 0 {
			break
		}
		batch := pick(msgs, pending)
		failed := t.write(ctx, batch)
		outcome := outPrimary
		if ti > 0 {
			outcome = outStandby
		}
		d.m.messages.WithLabelValues(outcome).Add(float64(len(batch) - len(failed)))
		next := make([]int, len(failed))
		for i, f := range failed {
			next[i] = pending[f]
		}
		pending = next
	}
	if len(pending) == 0 {
		return nil
	}
	lines := make([][]byte, len(pending))
	for i, p := range pending {
		lines[i] = msgs[p].Data
	}
	if _, err := d.failover.Write(ctx, lines); err != nil {
		d.m.failoverWrites.WithLabelValues("error").Inc()
		d.m.messages.WithLabelValues(outUnavailable).Add(float64(len(pending)))
		return fmt.Errorf("%w: %d messages: %v", errUnavailable, len(pending), err)
	}
	d.m.failoverWrites.WithLabelValues("ok").Inc()
	d.m.messages.WithLabelValues(outFailover).Add(float64(len(pending)))
	return nil
}

// WriteBatch publishes to the Pub/Sub tiers only: the failover replayer's
// sink (replaying into GCS again would be pointless).
func (d *delivery) WriteBatch(ctx context.Context, msgs []pubsubsink.Message) error {
	pending := msgs
	for _, t := range d.targets {
		failed := t.write(ctx, pending)
		if len(failed) == 0 {
			return nil
		}
		pending = pick(pending, failed)
	}
	return fmt.Errorf("collector: %d of %d messages not republished: Pub/Sub unavailable", len(pending), len(msgs))
}

func pick(msgs []pubsubsink.Message, idx []int) []pubsubsink.Message {
	if len(idx) == len(msgs) {
		return msgs
	}
	out := make([]pubsubsink.Message, len(idx))
	for i, j := range idx {
		out[i] = msgs[j]
	}
	return out
}
