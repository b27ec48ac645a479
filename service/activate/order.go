package activate

import (
	"sort"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/segmentflow/segmentflow/rules"
)

// coalesce folds a batch's changes per user into one change carrying the
// highest version, so a user's stale change within a batch is never sent.
// The result keeps the meaning of the sequence: Segments of the newest,
// Added/Removed relative to the state before the oldest. groups[i] are the
// indexes of the input items folded into out[i]. Output order follows each
// user's first appearance.
func coalesce(changes []rules.Change) (out []rules.Change, groups [][]int) {
	byUser := map[string]int{}
	members := [][]int{}
	for i, c := range changes {
		k, ok := byUser[c.UserID]
		if !ok {
			k = len(members)
			byUser[c.UserID] = k
			members = append(members, nil)
		}
		members[k] = append(members[k], i)
	}
	out = make([]rules.Change, len(members))
	for k, idx := range members {
		if len(idx) == 1 {
			out[k] = changes[idx[0]]
			continue
		}
		seq := make([]rules.Change, len(idx))
		for j, i := range idx {
			seq[j] = changes[i]
		}
		sort.SliceStable(seq, func(a, b int) bool { return seq[a].Version < seq[b].Version })
		first, last := seq[0], seq[len(seq)-1]
		before := priorSegments(first)
		after := set(last.Segments)
		c := last
		c.Added = minus(after, before)
		c.Removed = minus(before, after)
		out[k] = c
	}
	return out, members
}

// priorSegments reconstructs the partner-visible segments before c.
func priorSegments(c rules.Change) map[string]bool {
	s := set(c.Segments)
	for _, a := range c.Added {
		delete(s, a)
	}
	for _, r := range c.Removed {
		s[r] = true
	}
	return s
}

func set(xs []string) map[string]bool {
	s := make(map[string]bool, len(xs))
	for _, x := range xs {
		s[x] = true
	}
	return s
}

func minus(a, b map[string]bool) []string {
	out := []string{}
	for x := range a {
		if !b[x] {
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

// versions remembers the last version delivered per user, in a bounded LRU.
// Limits: a user evicted from it (more than its size of other users
// delivered since) or any user after a restart is unprotected, so a
// redelivered stale change could then be sent once more; partners should
// still drop a version lower than the one they hold.
type versions struct {
	c *lru.Cache[string, int64]
}

func newVersions(size int) *versions {
	c, err := lru.New[string, int64](max(size, 1))
	if err != nil {
		panic(err) // only for size <= 0, ruled out above
	}
	return &versions{c: c}
}

// stale reports whether c is not newer than what was delivered for its user.
func (v *versions) stale(c rules.Change) bool {
	last, ok := v.c.Get(c.UserID)
	return ok && c.Version <= last
}

// delivered records c as accepted by the partner.
func (v *versions) delivered(c rules.Change) {
	if last, ok := v.c.Peek(c.UserID); ok && last >= c.Version {
		return
	}
	v.c.Add(c.UserID, c.Version)
}
