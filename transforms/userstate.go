package transforms

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/segmentflow/segmentflow/rules"
)

// userState is everything the dedup-and-merge step keeps for one user, in
// one state cell: one read and one write per event, the cheapest shape on
// the portable runners (a state request per map entry costs more than the
// few hundred bytes of a user's seen ids).
type userState struct {
	// Seen maps the message ids of the dedup horizon to their event time
	// (unix ms).
	Seen map[string]int64 `json:"seen,omitempty"`
	// LastMs is the latest event time (unix ms) of an event classified for
	// the user; the profile is dropped from state when it is idle that long.
	LastMs int64 `json:"last,omitempty"`
	// Profile is the cached stored profile, nil until the user's first
	// event or after it was dropped for idleness (rehydrated from Bigtable
	// at the next event).
	Profile *cachedProfile `json:"profile,omitempty"`
	// Traits are the traits written through by identify calls while the
	// profile is cached, laid over the joined user row: a later event may
	// have been joined from a cache or read that predates the write.
	Traits map[string]any `json:"traits,omitempty"`
	// TimerMs is when the user's one timer is set to fire (unix ms).
	TimerMs int64 `json:"timer,omitempty"`
}

// cachedProfile is the user's profile as last written: the merge state, the
// view the partners were last told about, and its version.
type cachedProfile struct {
	State   rules.State                 `json:"state"`
	View    map[string]rules.Membership `json:"view"`
	Version int64                       `json:"version"`
}

func decodeUserState(b []byte) (*userState, error) {
	st := &userState{}
	if len(b) == 0 {
		return st, nil
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("transforms: decode user state: %w", err)
	}
	return st, nil
}

func (st *userState) empty() bool { return len(st.Seen) == 0 && st.Profile == nil }

// nextTimer is when the user's timer must fire next: when the cached
// profile has been idle for idle, or when the oldest seen id leaves the
// horizon, whichever comes first; 0 when nothing is left to clear.
func (st *userState) nextTimer(horizon, idle time.Duration) int64 {
	var next int64
	at := func(ms int64) {
		if next == 0 || ms < next {
			next = ms
		}
	}
	if st.Profile != nil {
		at(st.LastMs + idle.Milliseconds())
	}
	for _, et := range st.Seen {
		at(et + horizon.Milliseconds())
	}
	return next
}

// expire applies a timer that fired at ms: it forgets the ids that left the
// horizon and drops an idle profile. It reports whether the profile was
// dropped.
func (st *userState) expire(ms int64, horizon, idle time.Duration) bool {
	for id, et := range st.Seen {
		if et+horizon.Milliseconds() <= ms {
			delete(st.Seen, id)
		}
	}
	if st.Profile != nil && st.LastMs+idle.Milliseconds() <= ms {
		st.Profile, st.Traits = nil, nil
		return true
	}
	return false
}

// ViewTime is the `now` a profile's view is taken at: the latest event time
// in the merge state. It depends only on the matches folded in, not on the
// order they arrived in or on events that matched nothing, so any replay of
// the same events writes the same view (a ttl that runs out with no later
// match is applied by readers, from expires_at).
func ViewTime(s rules.State) time.Time {
	var t time.Time
	for _, m := range s.Segments {
		if m.AssignedAt.After(t) {
			t = m.AssignedAt
		}
		if m.LastMatchedAt.After(t) {
			t = m.LastMatchedAt
		}
	}
	return t
}

func viewsEqual(a, b map[string]rules.Membership) bool {
	if len(a) != len(b) {
		return false
	}
	for id, x := range a {
		y, ok := b[id]
		if !ok || !x.AssignedAt.Equal(y.AssignedAt) || !x.LastMatchedAt.Equal(y.LastMatchedAt) ||
			!x.ExpiresAt.Equal(y.ExpiresAt) || x.Rule != y.Rule || x.RulesVersion != y.RulesVersion {
			return false
		}
	}
	return true
}

func sameIDs(a, b map[string]rules.Membership) bool {
	if len(a) != len(b) {
		return false
	}
	for id := range a {
		if _, ok := b[id]; !ok {
			return false
		}
	}
	return true
}
