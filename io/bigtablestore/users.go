package bigtablestore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"cloud.google.com/go/bigtable"

	"github.com/segmentflow/segmentflow/infra"
	"github.com/segmentflow/segmentflow/rules"
)

// statsColumn is the one column of family `stats`: the JSON of rules.Stats.
// One cell keeps a user's statistics consistent (written by one pipeline
// run) and costs one cell read.
const statsColumn = "stats"

// Users is the `users` table.
type Users struct {
	tbl *bigtable.Table
	fam infra.Families
}

// NewUsers opens the users table.
func NewUsers(c *bigtable.Client, table string) *Users {
	return &Users{tbl: c.Open(table), fam: infra.Default().Families}
}

// Get reads the users of ids in one batched ReadRows. Users without a row
// are absent from the map; callers treat them as the zero User.
func (u *Users) Get(ctx context.Context, ids []string) (map[string]rules.User, error) {
	out, err := readRows(ctx, u.tbl, ids, u.decode)
	if err != nil {
		return nil, fmt.Errorf("bigtablestore: users: %w", err)
	}
	return out, nil
}

func (u *Users) decode(r bigtable.Row) (rules.User, error) {
	var usr rules.User
	for _, it := range r[u.fam.Traits] {
		var v any
		if err := json.Unmarshal(it.Value, &v); err != nil {
			// A trait written by another tool as plain text is still a trait.
			v = string(it.Value)
		}
		if usr.Traits == nil {
			usr.Traits = map[string]any{}
		}
		usr.Traits[column(it.Column)] = v
	}
	for _, it := range r[u.fam.Stats] {
		if column(it.Column) != statsColumn {
			continue
		}
		if err := json.Unmarshal(it.Value, &usr.Stats); err != nil {
			return rules.User{}, fmt.Errorf("decode stats: %w", err)
		}
	}
	return usr, nil
}

// PutTraits writes traits (from an identify call) through to the user's row,
// one column per trait; traits not named are left as they are.
func (u *Users) PutTraits(ctx context.Context, id string, traits map[string]any) error {
	if len(traits) == 0 {
		return nil
	}
	m := bigtable.NewMutation()
	for k, v := range traits {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("bigtablestore: trait %s of %s: %w", k, id, err)
		}
		m.Set(u.fam.Traits, k, bigtable.Now(), b)
	}
	if err := u.tbl.Apply(ctx, id, m); err != nil {
		return fmt.Errorf("bigtablestore: put traits of %s: %w", id, err)
	}
	return nil
}

// PutStats replaces the user's statistics.
func (u *Users) PutStats(ctx context.Context, id string, st rules.Stats) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("bigtablestore: stats of %s: %w", id, err)
	}
	m := bigtable.NewMutation()
	m.Set(u.fam.Stats, statsColumn, bigtable.Now(), b)
	if err := u.tbl.Apply(ctx, id, m); err != nil {
		return fmt.Errorf("bigtablestore: put stats of %s: %w", id, err)
	}
	return nil
}

// column strips the "family:" prefix Bigtable puts on ReadItem.Column.
func column(c string) string {
	if _, q, ok := strings.Cut(c, ":"); ok {
		return q
	}
	return c
}

// readRows reads the rows of ids in one batched ReadRows (latest cell of
// each column) and decodes each; a decode error stops the read.
func readRows[T any](ctx context.Context, tbl *bigtable.Table, ids []string, decode func(bigtable.Row) (T, error)) (map[string]T, error) {
	out := make(map[string]T, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var decodeErr error
	err := tbl.ReadRows(ctx, bigtable.RowList(ids), func(r bigtable.Row) bool {
		v, err := decode(r)
		if err != nil {
			decodeErr = fmt.Errorf("row %s: %w", r.Key(), err)
			return false
		}
		out[r.Key()] = v
		return true
	}, bigtable.RowFilter(bigtable.LatestNFilter(1)))
	if err != nil {
		return nil, fmt.Errorf("read rows: %w", err)
	}
	if decodeErr != nil {
		return nil, decodeErr
	}
	return out, nil
}
