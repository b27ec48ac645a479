package rules

import (
	"time"
)

// Membership is what a profile remembers about one segment. The fields are
// join-semilattices (earliest, latest), which is what makes Merge independent
// of arrival order and of duplicate deliveries: folding the same matches in
// any order, any number of times, gives the same Membership.
type Membership struct {
	// AssignedAt is the event time of the earliest match (DESIGN.md: append
	// keeps the earliest assigned_at; overwrite segments use it too, so a
	// repeat match does not rewrite the profile).
	AssignedAt time.Time `json:"assigned_at"`
	// LastMatchedAt is the event time of the latest match. It decides the
	// winner of an exclusive group (latest wins, ties by segment id) and
	// starts a segment's ttl. Kept only for segments with a group or a ttl.
	LastMatchedAt time.Time `json:"last_matched_at,omitzero"`
	// Rule and RulesVersion name the rule and rule-set version of the match
	// that set AssignedAt (for an implied ancestor: of its descendant's).
	Rule         string `json:"rule"`
	RulesVersion int64  `json:"rules_version"`
	// ExpiresAt is LastMatchedAt + ttl for segments with a ttl.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// State is a user's full segment state: every segment ever matched,
// including those displaced in their group or expired, so a later match can
// be folded in deterministically. Profile views are derived from it.
type State struct {
	Segments map[string]Membership `json:"segments"`
}

// Profile is the stored, served view of a user: the segments the user is in
// now (displaced and expired ones left out).
type Profile struct {
	UserID    string                `json:"user_id"`
	Segments  map[string]Membership `json:"-"`
	UpdatedAt time.Time             `json:"updated_at"`
	// Version increases by one with every change written; partners use it to
	// drop stale changes that arrive out of order.
	Version int64 `json:"version"`
}

// Match is one rule that matched one event.
type Match struct {
	Segment      string
	Rule         string
	RulesVersion int64
	EventTime    time.Time
}

// Change is one profile change as published to `activation-<partner>` and
// posted to the partner (DESIGN.md, Partner delivery). Segments, Added and
// Removed hold only segments the partner subscribes to.
type Change struct {
	UserID    string    `json:"user_id"`
	Segments  []string  `json:"segments"`
	Added     []string  `json:"added"`
	Removed   []string  `json:"removed"`
	EventTime time.Time `json:"event_time"`
	Version   int64     `json:"version"`
	// ReceivedAt is when the collector received the event that caused the
	// change; with the partner's arrival time it gives the end-to-end delay.
	ReceivedAt time.Time `json:"received_at,omitzero"`
}
