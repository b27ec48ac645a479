// Package partner holds the delivery sinks of partner activation: an HTTP
// sink that POSTs signed JSON to a partner endpoint, a file-drop sink that
// writes segment lists in batches to GCS or a local directory, and the
// partner's dead-letter store. Sinks follow the Benthos shape: Connect,
// WriteBatch reporting per-item failures, Close. A sink makes one attempt per
// WriteBatch call; Deliver (retry.go) adds retries with backoff, so the
// caller can put a circuit breaker and a rate limiter around each attempt.
package partner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentflow/segmentflow/rules"
)

// Sink delivers profile changes to one partner.
type Sink interface {
	// Connect prepares the sink (checks the destination where it can).
	Connect(ctx context.Context) error
	// WriteBatch makes one delivery attempt of changes. It returns nil when
	// every change was accepted, a *BatchError when items failed
	// differently, or any other error when the whole batch failed alike.
	// Failures are *Error values telling whether a retry may succeed.
	WriteBatch(ctx context.Context, changes []rules.Change) error
	// Close releases the sink's resources.
	Close(ctx context.Context) error
}

// Error is why a delivery attempt failed.
type Error struct {
	// Status is the partner's HTTP status; 0 when there was no response.
	Status int
	// Body is the start of the partner's response body (at most
	// MaxResponseBody bytes), kept for the dead-letter store.
	Body string
	// Retryable is true for 408, 429, 5xx, timeouts and transport errors.
	Retryable bool
	// RetryAfter is the wait the partner asked for (Retry-After), if any.
	RetryAfter time.Duration
	// Err is the transport or local error, if any.
	Err error
}

func (e *Error) Error() string {
	switch {
	case e.Status != 0 && e.Err != nil:
		return fmt.Sprintf("partner: status %d: %v", e.Status, e.Err)
	case e.Status != 0:
		return fmt.Sprintf("partner: status %d", e.Status)
	case e.Err != nil:
		return "partner: " + e.Err.Error()
	default:
		return "partner: delivery failed"
	}
}

func (e *Error) Unwrap() error { return e.Err }

// BatchError reports per-item outcomes of one WriteBatch: Errs[i] is nil
// when changes[i] was accepted.
type BatchError struct {
	Errs []error
}

func (e *BatchError) Error() string {
	n := 0
	var first error
	for _, err := range e.Errs {
		if err != nil {
			n++
			if first == nil {
				first = err
			}
		}
	}
	return fmt.Sprintf("partner: %d of %d changes failed, first: %v", n, len(e.Errs), first)
}

// ItemErrors spreads the result of WriteBatch over its n items.
func ItemErrors(err error, n int) []error {
	out := make([]error, n)
	if err == nil {
		return out
	}
	var be *BatchError
	if errors.As(err, &be) && len(be.Errs) == n {
		copy(out, be.Errs)
		return out
	}
	for i := range out {
		out[i] = err
	}
	return out
}

// IsRetryable reports whether a later attempt may succeed. Errors that are
// not *Error (a bug, a local failure) are retried too: only a partner's
// explicit refusal skips the retries.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Retryable
	}
	return !errors.Is(err, context.Canceled)
}

// retryAfter is the wait a failure asked for, zero when none.
func retryAfter(err error) time.Duration {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.RetryAfter
	}
	return 0
}
