package rules

import (
	"sort"
	"time"
)

// ProfileDoc is a profile in the Profile API's wire format (DESIGN.md):
// `{"user_id", "segments":[{"id","assigned_at"}], "updated_at", "version"}`,
// segments sorted by id. `rules eval` prints it and the profile API serves it.
type ProfileDoc struct {
	UserID    string       `json:"user_id"`
	Segments  []SegmentRef `json:"segments"`
	UpdatedAt time.Time    `json:"updated_at"`
	Version   int64        `json:"version"`
}

// SegmentRef is one segment of a ProfileDoc.
type SegmentRef struct {
	ID         string    `json:"id"`
	AssignedAt time.Time `json:"assigned_at"`
}

// Doc renders a profile in the Profile API's format.
func (p Profile) Doc() ProfileDoc {
	d := ProfileDoc{UserID: p.UserID, Segments: make([]SegmentRef, 0, len(p.Segments)), UpdatedAt: p.UpdatedAt.UTC(), Version: p.Version}
	for id, m := range p.Segments {
		d.Segments = append(d.Segments, SegmentRef{ID: id, AssignedAt: m.AssignedAt.UTC()})
	}
	sort.Slice(d.Segments, func(i, j int) bool { return d.Segments[i].ID < d.Segments[j].ID })
	return d
}
