package bigtablestore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"cloud.google.com/go/bigtable"

	"github.com/segmentflow/segmentflow/infra"
	"github.com/segmentflow/segmentflow/rules"
)

// Columns of family `meta`.
const (
	metaUpdatedAt = "updated_at"
	metaVersion   = "version"
	metaState     = "state"
	metaReceived  = "received_at"
)

// StoredProfile is one `profiles` row: the served view and the full merge
// state it was derived from (kept so a pipeline that sees the user for the
// first time since a restart can fold new events in deterministically).
type StoredProfile struct {
	Profile rules.Profile
	State   rules.State
	// ReceivedAt is when the collector received the event that caused this
	// write (meta:received_at); UpdatedAt - ReceivedAt is the write latency.
	ReceivedAt time.Time
}

// Profiles is the `profiles` table.
type Profiles struct {
	tbl *bigtable.Table
	fam infra.Families
}

// NewProfiles opens the profiles table.
func NewProfiles(c *bigtable.Client, table string) *Profiles {
	return &Profiles{tbl: c.Open(table), fam: infra.Default().Families}
}

// Get reads one profile; nil, nil when the user has none.
func (p *Profiles) Get(ctx context.Context, id string) (*StoredProfile, error) {
	return p.get(ctx, id, bigtable.LatestNFilter(1))
}

// GetServed reads what the profile API serves of one profile: segments and
// the meta columns but not meta:state, the merge state only the pipelines
// need, which is the larger part of a row and would cost a read and a JSON
// decode on every ad decision. State is left zero; nil, nil when the user
// has none.
func (p *Profiles) GetServed(ctx context.Context, id string) (*StoredProfile, error) {
	// Column ranges, not regular expressions: the emulator compiles a
	// filter's regexp for every cell it tests, which cost more than the
	// decode saved.
	served := bigtable.InterleaveFilters(
		bigtable.ColumnRangeFilter(p.fam.Seg, "", ""),
		bigtable.ColumnRangeFilter(p.fam.Meta, "", metaState),
		bigtable.ColumnRangeFilter(p.fam.Meta, metaState+"\x00", ""),
	)
	return p.get(ctx, id, bigtable.ChainFilters(served, bigtable.LatestNFilter(1)))
}

func (p *Profiles) get(ctx context.Context, id string, f bigtable.Filter) (*StoredProfile, error) {
	r, err := p.tbl.ReadRow(ctx, id, bigtable.RowFilter(f))
	if err != nil {
		return nil, fmt.Errorf("bigtablestore: read profile %s: %w", id, err)
	}
	if len(r) == 0 {
		return nil, nil
	}
	return p.decode(r)
}

// GetMany reads profiles in one batched ReadRows; absent users are absent
// from the map.
func (p *Profiles) GetMany(ctx context.Context, ids []string) (map[string]*StoredProfile, error) {
	out, err := readRows(ctx, p.tbl, ids, p.decode)
	if err != nil {
		return nil, fmt.Errorf("bigtablestore: profiles: %w", err)
	}
	return out, nil
}

func (p *Profiles) decode(r bigtable.Row) (*StoredProfile, error) {
	sp := &StoredProfile{Profile: rules.Profile{UserID: r.Key(), Segments: map[string]rules.Membership{}}}
	for _, it := range r[p.fam.Seg] {
		var m rules.Membership
		if err := json.Unmarshal(it.Value, &m); err != nil {
			return nil, fmt.Errorf("bigtablestore: profile %s segment %s: %w", r.Key(), it.Column, err)
		}
		sp.Profile.Segments[column(it.Column)] = m
	}
	for _, it := range r[p.fam.Meta] {
		switch column(it.Column) {
		case metaUpdatedAt:
			t, err := time.Parse(time.RFC3339Nano, string(it.Value))
			if err != nil {
				return nil, fmt.Errorf("bigtablestore: profile %s updated_at: %w", r.Key(), err)
			}
			sp.Profile.UpdatedAt = t
		case metaVersion:
			v, err := strconv.ParseInt(string(it.Value), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("bigtablestore: profile %s version: %w", r.Key(), err)
			}
			sp.Profile.Version = v
		case metaReceived:
			t, err := time.Parse(time.RFC3339Nano, string(it.Value))
			if err != nil {
				return nil, fmt.Errorf("bigtablestore: profile %s received_at: %w", r.Key(), err)
			}
			sp.ReceivedAt = t
		case metaState:
			if err := json.Unmarshal(it.Value, &sp.State); err != nil {
				return nil, fmt.Errorf("bigtablestore: profile %s state: %w", r.Key(), err)
			}
		}
	}
	return sp, nil
}

// Put replaces the row with sp in one atomic row mutation: segments that
// left the view are deleted in the same mutation that writes the new ones,
// so a reader never sees a half-applied change.
func (p *Profiles) Put(ctx context.Context, sp StoredProfile) error {
	m, err := p.mutation(sp)
	if err != nil {
		return err
	}
	if err := p.tbl.Apply(ctx, sp.Profile.UserID, m); err != nil {
		return fmt.Errorf("bigtablestore: put profile %s: %w", sp.Profile.UserID, err)
	}
	return nil
}

// PutMany writes several profiles in one ApplyBulk and reports per-row
// failures by user id.
func (p *Profiles) PutMany(ctx context.Context, sps []StoredProfile) (map[string]error, error) {
	keys := make([]string, 0, len(sps))
	muts := make([]*bigtable.Mutation, 0, len(sps))
	for _, sp := range sps {
		m, err := p.mutation(sp)
		if err != nil {
			return nil, err
		}
		keys = append(keys, sp.Profile.UserID)
		muts = append(muts, m)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	errs, err := p.tbl.ApplyBulk(ctx, keys, muts)
	if err != nil {
		return nil, fmt.Errorf("bigtablestore: put profiles: %w", err)
	}
	var failed map[string]error
	for i, e := range errs {
		if e != nil {
			if failed == nil {
				failed = map[string]error{}
			}
			failed[keys[i]] = e
		}
	}
	return failed, nil
}

func (p *Profiles) mutation(sp StoredProfile) (*bigtable.Mutation, error) {
	m := bigtable.NewMutation()
	m.DeleteCellsInFamily(p.fam.Seg)
	ts := bigtable.Now()
	for id, mem := range sp.Profile.Segments {
		b, err := json.Marshal(mem)
		if err != nil {
			return nil, fmt.Errorf("bigtablestore: profile %s segment %s: %w", sp.Profile.UserID, id, err)
		}
		m.Set(p.fam.Seg, id, ts, b)
	}
	state, err := json.Marshal(sp.State)
	if err != nil {
		return nil, fmt.Errorf("bigtablestore: profile %s state: %w", sp.Profile.UserID, err)
	}
	m.Set(p.fam.Meta, metaUpdatedAt, ts, []byte(sp.Profile.UpdatedAt.UTC().Format(time.RFC3339Nano)))
	m.Set(p.fam.Meta, metaVersion, ts, []byte(strconv.FormatInt(sp.Profile.Version, 10)))
	m.Set(p.fam.Meta, metaState, ts, state)
	if !sp.ReceivedAt.IsZero() {
		m.Set(p.fam.Meta, metaReceived, ts, []byte(sp.ReceivedAt.UTC().Format(time.RFC3339Nano)))
	}
	return m, nil
}
