package rules

import (
	"slices"
	"sort"
	"time"
)

// Merge folds matches into a user's state and reports whether the state
// changed. Each segment's Membership is a join-semilattice: AssignedAt is
// the earliest match (ties: smallest rule id, then smallest rules version,
// which makes Rule/RulesVersion order-independent too) and LastMatchedAt the
// latest, so folding the same matches in any order, any number of times,
// gives the same state. A match implies the segment's ancestors with the
// same time and rule. Matches of segments the rule set no longer has are
// dropped; a match without an event time is stamped with now.
func (e *Engine) Merge(st *State, matches []Match, now time.Time) bool {
	if st.Segments == nil {
		st.Segments = map[string]Membership{}
	}
	changed := false
	for _, m := range matches {
		info, ok := e.segments[m.Segment]
		if !ok {
			continue
		}
		if m.EventTime.IsZero() {
			m.EventTime = now
		}
		if e.fold(st, info, m) {
			changed = true
		}
		for _, a := range info.ancestors {
			if e.fold(st, e.segments[a], m) {
				changed = true
			}
		}
	}
	return changed
}

func (e *Engine) fold(st *State, info *segmentInfo, m Match) bool {
	cur, had := st.Segments[info.ID]
	next := cur
	if !had || m.EventTime.Before(cur.AssignedAt) ||
		(m.EventTime.Equal(cur.AssignedAt) && (m.Rule < cur.Rule || (m.Rule == cur.Rule && m.RulesVersion < cur.RulesVersion))) {
		next.AssignedAt = m.EventTime
		next.Rule = m.Rule
		next.RulesVersion = m.RulesVersion
	}
	if info.tracksLast {
		if m.EventTime.After(next.LastMatchedAt) {
			next.LastMatchedAt = m.EventTime
		}
		if info.ttl > 0 {
			next.ExpiresAt = next.LastMatchedAt.Add(info.ttl)
		} else {
			next.ExpiresAt = time.Time{}
		}
	}
	if had && membershipEqual(cur, next) {
		return false
	}
	st.Segments[info.ID] = next
	return true
}

func membershipEqual(a, b Membership) bool {
	return a.AssignedAt.Equal(b.AssignedAt) && a.LastMatchedAt.Equal(b.LastMatchedAt) &&
		a.ExpiresAt.Equal(b.ExpiresAt) && a.Rule == b.Rule && a.RulesVersion == b.RulesVersion
}

// View is the profile a state gives at now: the segments the user is in.
// Left out are segments the rule set no longer has, segments displaced in
// their exclusive group, expired ones (ExpiresAt <= now), and the
// descendants of anything left out.
//
// Group winner: the member with the latest LastMatchedAt; ties go to the
// smallest segment id. The winner is chosen among all members, expired
// ones included: overwrite means a later match replaced the earlier ones,
// so when the winner expires the group is empty rather than falling back to
// a segment the user had left.
func (e *Engine) View(st State, now time.Time) map[string]Membership {
	winners := map[string]string{}
	var winAt = map[string]time.Time{}
	for id, m := range st.Segments {
		info, ok := e.segments[id]
		if !ok || !info.exclusive {
			continue
		}
		at := m.LastMatchedAt
		if at.IsZero() {
			at = m.AssignedAt
		}
		w, has := winners[info.Group]
		if !has || at.After(winAt[info.Group]) || (at.Equal(winAt[info.Group]) && id < w) {
			winners[info.Group], winAt[info.Group] = id, at
		}
	}
	in := make(map[string]bool, len(st.Segments))
	var visit func(id string) bool
	visit = func(id string) bool {
		if v, done := in[id]; done {
			return v
		}
		in[id] = false // guards against cycles in a stale state
		m, ok := st.Segments[id]
		info, known := e.segments[id]
		v := ok && known &&
			(m.ExpiresAt.IsZero() || m.ExpiresAt.After(now)) &&
			(!info.exclusive || winners[info.Group] == id) &&
			(info.Parent == "" || visit(info.Parent))
		in[id] = v
		return v
	}
	out := map[string]Membership{}
	for id, m := range st.Segments {
		if visit(id) {
			out[id] = m
		}
	}
	return out
}

// Apply merges matches and reports which segments entered and left the
// view at now; the pipeline's whole per-event step in one call.
func (e *Engine) Apply(st *State, matches []Match, now time.Time) (added, removed []string, changed bool) {
	before := e.View(*st, now)
	changed = e.Merge(st, matches, now)
	if !changed {
		return nil, nil, false
	}
	added, removed = Diff(before, e.View(*st, now))
	return added, removed, true
}

// Diff lists the segments of after that are not in before (added) and of
// before that are not in after (removed), each sorted.
func Diff(before, after map[string]Membership) (added, removed []string) {
	for id := range after {
		if _, ok := before[id]; !ok {
			added = append(added, id)
		}
	}
	for id := range before {
		if _, ok := after[id]; !ok {
			removed = append(removed, id)
		}
	}
	sort.Strings(added)
	sort.Strings(removed)
	return added, removed
}

// PartnerChanges turns a profile change into one Change per partner whose
// segments changed, keyed by partner id. Each Change holds only the
// partner's segments: Segments is what it has in after (sorted).
func (e *Engine) PartnerChanges(userID string, before, after map[string]Membership, eventTime time.Time, version int64) map[string]Change {
	added, removed := Diff(before, after)
	if len(added) == 0 && len(removed) == 0 {
		return nil
	}
	out := map[string]Change{}
	for _, p := range e.partners {
		c := Change{UserID: userID, Segments: []string{}, Added: filter(added, p.segments), Removed: filter(removed, p.segments), EventTime: eventTime, Version: version}
		if len(c.Added) == 0 && len(c.Removed) == 0 {
			continue
		}
		for id := range after {
			if p.segments[id] {
				c.Segments = append(c.Segments, id)
			}
		}
		sort.Strings(c.Segments)
		out[p.ID] = c
	}
	return out
}

func filter(ids []string, keep map[string]bool) []string {
	out := []string{}
	for _, id := range ids {
		if keep[id] {
			out = append(out, id)
		}
	}
	return slices.Clip(out)
}

// SortedIDs are a view's segment ids in order.
func SortedIDs(view map[string]Membership) []string {
	ids := make([]string, 0, len(view))
	for id := range view {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
