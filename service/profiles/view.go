package profiles

import (
	"time"

	"github.com/segmentflow/segmentflow/rules"
)

// served is the part of a stored view that is still true at now.
//
// The classify pipeline writes a row only when an event changes it, so a
// segment whose ttl ran out since the last write is still in the row; and
// the ttl it was written with may have been changed by a newer rule set.
// With a rule set in force, each segment's expiry is recomputed from that
// rule set's ttl (from the latest match, or from the assignment when the
// row does not track the latest match), then the engine's own View drops
// the expired ones, their descendants, and segments the catalog no longer
// has, exactly as the pipeline will at its next write. Without a rule set,
// the expiry stored with each segment decides.
func served(eng *rules.Engine, stored map[string]rules.Membership, now time.Time) map[string]rules.Membership {
	if eng == nil {
		out := make(map[string]rules.Membership, len(stored))
		for id, m := range stored {
			if m.ExpiresAt.IsZero() || m.ExpiresAt.After(now) {
				out[id] = m
			}
		}
		return out
	}
	st := rules.State{Segments: make(map[string]rules.Membership, len(stored))}
	for id, m := range stored {
		m.ExpiresAt = time.Time{}
		if seg, ok := eng.Segment(id); ok {
			// A ttl that does not parse never passed the compile, so an
			// error here cannot happen for a segment of the engine.
			if ttl, err := seg.TTLDuration(); err == nil && ttl > 0 {
				from := m.LastMatchedAt
				if from.IsZero() {
					from = m.AssignedAt
				}
				m.ExpiresAt = from.Add(ttl)
			}
		}
		st.Segments[id] = m
	}
	return eng.View(st, now)
}
