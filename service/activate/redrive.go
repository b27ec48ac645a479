package activate

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentflow/segmentflow/io/partner"
	"github.com/segmentflow/segmentflow/rules"
)

// RedriveReport says what a redrive did.
type RedriveReport struct {
	Partner string `json:"partner"`
	// Letters is how many dead-letter objects were read.
	Letters int `json:"letters"`
	// Delivered changes were accepted by the partner; their letters are deleted.
	Delivered int `json:"delivered"`
	// Failed changes were refused again or ran out of retries; they stay
	// in the store (a letter holding only them replaces the old one).
	Failed int `json:"failed"`
	// Skipped letters hold malformed messages, which cannot be re-sent.
	Skipped int `json:"skipped"`
}

// Redrive re-sends the dead letters of partner through its sink, with the
// same breaker, rate limit and retry budget as live delivery. Letters are
// sent oldest first. A redriven change may be older than what the partner
// holds by now; partners drop it by its version (docs/activate.md).
func (s *Service) Redrive(ctx context.Context, partnerID string) (RedriveReport, error) {
	rep := RedriveReport{Partner: partnerID}
	var l *loop
	for _, x := range s.loops {
		if x.id == partnerID {
			l = x
		}
	}
	if l == nil {
		return rep, fmt.Errorf("activate: redrive: unknown partner %q", partnerID)
	}
	if err := l.sink.Connect(ctx); err != nil {
		return rep, fmt.Errorf("activate: redrive %s: connect: %w", partnerID, err)
	}
	defer l.sink.Close(context.WithoutCancel(ctx))
	names, err := l.dl.List(ctx)
	if err != nil {
		return rep, err
	}
	for _, name := range names {
		letter, err := l.dl.Get(ctx, name)
		if err != nil {
			return rep, err
		}
		rep.Letters++
		if len(letter.Changes) == 0 {
			rep.Skipped++
			continue
		}
		outcomes := partner.Deliver(ctx, l.retry, letter.Changes, l.attempt, func(n int, _ time.Duration, _ error) {
			l.m.retried.WithLabelValues(l.id).Add(float64(n))
		})
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		var left []rules.Change
		var last partner.Outcome
		for i, o := range outcomes {
			if o.Err == nil {
				rep.Delivered++
				l.m.delivered.WithLabelValues(l.id).Inc()
				continue
			}
			left = append(left, letter.Changes[i])
			last = o
		}
		rep.Failed += len(left)
		if len(left) > 0 {
			if len(left) == len(letter.Changes) {
				continue // nothing changed: keep the letter as it is
			}
			again := partner.NewLetter(l.id, left, last)
			again.MessageIDs = letter.MessageIDs
			if _, err := l.dl.Put(ctx, again); err != nil {
				return rep, err
			}
		}
		if err := l.dl.Delete(ctx, name); err != nil {
			return rep, err
		}
	}
	return rep, nil
}
