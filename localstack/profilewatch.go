package localstack

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"cloud.google.com/go/bigtable"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/segmentflow/segmentflow/infra"
)

// Columns of family meta that classify writes with every profile change
// (io/bigtablestore).
const (
	colUpdatedAt = "updated_at"
	colReceived  = "received_at"
	colVersion   = "version"
)

// profileWatch counts profile writes and measures collector-to-profile
// latency (meta:updated_at - meta:received_at) by scanning the profiles
// table's meta columns. It reads only cells written since its last scan
// (with a margin for clock steps), so a scan costs what changed, not the
// table's size.
type profileWatch struct {
	tbl     *bigtable.Table
	fam     string
	lat     *latency
	seen    *lru.Cache[string, int64] // user -> last version counted
	changed atomic.Int64
	since   time.Time
}

func newProfileWatch(c *bigtable.Client, n infra.Names, lat *latency) (*profileWatch, error) {
	seen, err := lru.New[string, int64](1 << 20)
	if err != nil {
		return nil, fmt.Errorf("localstack: profile watch: %w", err)
	}
	return &profileWatch{tbl: c.Open(n.Tables.Profiles), fam: n.Families.Meta, lat: lat, seen: seen}, nil
}

// scan reads what changed since the previous scan.
func (w *profileWatch) scan(ctx context.Context) error {
	start := time.Now()
	filter := bigtable.ChainFilters(
		bigtable.FamilyFilter(w.fam),
		bigtable.ColumnFilter(colUpdatedAt+"|"+colReceived+"|"+colVersion),
		bigtable.LatestNFilter(1),
	)
	if !w.since.IsZero() {
		filter = bigtable.ChainFilters(filter, bigtable.TimestampRangeFilter(w.since.Add(-5*time.Second), time.Time{}))
	}
	err := w.tbl.ReadRows(ctx, bigtable.InfiniteRange(""), func(r bigtable.Row) bool {
		w.row(r)
		return true
	}, bigtable.RowFilter(filter))
	if err != nil {
		return fmt.Errorf("localstack: scan profiles: %w", err)
	}
	w.since = start
	return nil
}

func (w *profileWatch) row(r bigtable.Row) {
	var (
		version             int64
		updated, receivedAt time.Time
	)
	for _, it := range r[w.fam] {
		v := string(it.Value)
		switch column(it.Column) {
		case colVersion:
			version, _ = strconv.ParseInt(v, 10, 64)
		case colUpdatedAt:
			updated, _ = time.Parse(time.RFC3339Nano, v)
		case colReceived:
			receivedAt, _ = time.Parse(time.RFC3339Nano, v)
		}
	}
	prev, ok := w.seen.Get(r.Key())
	if ok && version <= prev {
		return // already counted (the scan window overlaps)
	}
	w.seen.Add(r.Key(), version)
	switch {
	case !ok && version > 0:
		w.changed.Add(version)
	case version > prev:
		w.changed.Add(version - prev)
	}
	if !updated.IsZero() && !receivedAt.IsZero() {
		w.lat.observe(updated.Sub(receivedAt))
	}
}

// column strips the "family:" prefix of a Bigtable column name.
func column(c string) string {
	for i := 0; i < len(c); i++ {
		if c[i] == ':' {
			return c[i+1:]
		}
	}
	return c
}
