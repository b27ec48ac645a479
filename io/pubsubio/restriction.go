package pubsubio

import (
	"errors"
	"fmt"
)

// pullRestriction is the state of one pull loop that the runner keeps between
// bundles. Pub/Sub has no offsets to range over; what has to survive a
// checkpoint is which messages the checkpointing bundle emitted, because
// they may only be acknowledged once that bundle is committed. The runner
// hands the residual of a checkpoint to a new bundle only after it has
// committed the bundle that returned it, so the next bundle acknowledges
// Pending first (see doc.go).
type pullRestriction struct {
	// Pending are the ack ids of the messages emitted by the bundle that
	// checkpointed into this restriction.
	Pending []string
	// Done marks a restriction with no more pulls to do: the primary of a
	// checkpoint, or a truncated restriction on drain. Its Pending are
	// still acknowledged.
	Done bool
}

// pullTracker claims ack ids: a successful TryClaim(ackID) means the message
// may be emitted and will be handed on in the residual. Beam's LockRTracker
// wraps it, which serializes claims and the runner's checkpoint split, so
// an id is either in the residual or was refused (and is nacked).
type pullTracker struct {
	rest    pullRestriction
	claimed []string
	err     error
}

func newPullTracker(r pullRestriction) *pullTracker { return &pullTracker{rest: r} }

// TryClaim claims the message with the given ack id.
func (t *pullTracker) TryClaim(pos any) bool {
	if t.rest.Done || t.err != nil {
		return false
	}
	id, ok := pos.(string)
	if !ok {
		t.err = fmt.Errorf("pubsubio: claim position %T, want an ack id string", pos)
		return false
	}
	t.claimed = append(t.claimed, id)
	return true
}

func (t *pullTracker) GetError() error { return t.err }

// TrySplit only checkpoints (fraction 0): the residual carries the claimed
// ids and continues the pull loop; the primary is done. A fractional split
// would start a second pull loop on every split and multiply readers, so it
// is refused (nil residual).
func (t *pullTracker) TrySplit(fraction float64) (primary, residual any, err error) {
	if fraction < 0 || fraction > 1 {
		return nil, nil, errors.New("pubsubio: split fraction outside [0, 1]")
	}
	if fraction > 0 || t.rest.Done {
		return t.rest, nil, nil
	}
	res := pullRestriction{Pending: t.claimed}
	t.claimed = nil
	t.rest.Done = true
	return t.rest, res, nil
}

// GetProgress reports messages claimed against an unknown, never-ending
// backlog.
func (t *pullTracker) GetProgress() (done, remaining float64) {
	done = float64(len(t.claimed))
	if t.rest.Done {
		return done, 0
	}
	return done, 1
}

func (t *pullTracker) IsDone() bool { return t.rest.Done }

func (t *pullTracker) GetRestriction() any { return t.rest }

// IsBounded tells the runner the restriction is unbounded.
func (t *pullTracker) IsBounded() bool { return false }
