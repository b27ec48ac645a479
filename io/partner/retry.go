package partner

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/segmentflow/segmentflow/rules"
)

// RetryPolicy is the retry budget of one batch.
type RetryPolicy struct {
	// InitialInterval is the first wait; it grows by Multiplier per attempt
	// up to MaxInterval, each wait randomised by ±Jitter (0..1).
	InitialInterval time.Duration
	MaxInterval     time.Duration
	Multiplier      float64
	Jitter          float64
	// MaxElapsed is the budget from the first attempt: a wait that would end
	// after it is not taken and the changes still failing are given up.
	MaxElapsed time.Duration
	// MaxAttempts caps the attempts (first one included); 0 means no cap.
	MaxAttempts int
}

// DefaultRetryPolicy is the policy used for zero fields.
var DefaultRetryPolicy = RetryPolicy{
	InitialInterval: 500 * time.Millisecond,
	MaxInterval:     30 * time.Second,
	Multiplier:      2,
	Jitter:          0.5,
	MaxElapsed:      10 * time.Minute,
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultRetryPolicy
	if p.InitialInterval > 0 {
		d.InitialInterval = p.InitialInterval
	}
	if p.MaxInterval > 0 {
		d.MaxInterval = p.MaxInterval
	}
	if p.Multiplier >= 1 {
		d.Multiplier = p.Multiplier
	}
	if p.Jitter > 0 && p.Jitter <= 1 {
		d.Jitter = p.Jitter
	}
	if p.MaxElapsed > 0 {
		d.MaxElapsed = p.MaxElapsed
	}
	d.MaxAttempts = p.MaxAttempts
	return d
}

// Attempt is one try at delivering changes (a Sink's WriteBatch, usually
// behind a rate limiter and a circuit breaker).
type Attempt func(ctx context.Context, changes []rules.Change) error

// Outcome is the final result of Deliver for the i-th change.
type Outcome struct {
	// Err is nil when the change was accepted.
	Err error
	// Exhausted is true when Err was retryable but the budget ran out.
	Exhausted bool
	// Attempts is how many attempts included the change.
	Attempts int
}

// Deliver sends changes through attempt, retrying the changes that failed
// retryably with exponential backoff and jitter, and waiting at least what a
// Retry-After asked for. A refused change (non-retryable) is given up at
// once. When ctx ends, the changes not yet accepted get ctx's error: the
// caller must neither ack nor dead-letter those. onRetry, when set, is called
// before each wait with the number of changes to retry.
func Deliver(ctx context.Context, pol RetryPolicy, changes []rules.Change, attempt Attempt,
	onRetry func(n int, wait time.Duration, err error)) []Outcome {
	pol = pol.withDefaults()
	out := make([]Outcome, len(changes))
	pending := make([]int, len(changes))
	for i := range pending {
		pending[i] = i
	}
	b := &backoff.ExponentialBackOff{
		InitialInterval:     pol.InitialInterval,
		RandomizationFactor: pol.Jitter,
		Multiplier:          pol.Multiplier,
		MaxInterval:         pol.MaxInterval,
	}
	b.Reset()
	start := time.Now()
	for n := 1; ; n++ {
		batch := make([]rules.Change, len(pending))
		for k, i := range pending {
			batch[k] = changes[i]
		}
		errs := ItemErrors(attempt(ctx, batch), len(batch))
		var retry []int
		var lastErr error
		var wait time.Duration
		for k, i := range pending {
			out[i].Attempts = n
			out[i].Err = errs[k]
			if errs[k] != nil && IsRetryable(errs[k]) {
				retry = append(retry, i)
				lastErr = errs[k]
				wait = max(wait, retryAfter(errs[k]))
			}
		}
		if len(retry) == 0 {
			return out
		}
		if ctx.Err() != nil {
			for _, i := range retry {
				out[i].Err = ctx.Err()
			}
			return out
		}
		wait = max(wait, b.NextBackOff())
		if (pol.MaxAttempts > 0 && n >= pol.MaxAttempts) || time.Since(start)+wait > pol.MaxElapsed {
			for _, i := range retry {
				out[i].Exhausted = true
			}
			return out
		}
		if onRetry != nil {
			onRetry(len(retry), wait, lastErr)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			for _, i := range retry {
				out[i].Err = ctx.Err()
			}
			return out
		case <-t.C:
		}
		pending = retry
	}
}
