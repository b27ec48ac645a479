// Package reconcile is the batch pipeline that turns the lake's raw and
// failover objects (gzip NDJSON of normalized events, cut by processing time)
// into Parquet partitioned by event time and deduplicated by message id:
//
//	LAKE/raw/YYYY/MM/DD/HH/*.json.gz + LAKE/failover/YYYY/MM/DD/HH/*.json.gz
//	  -> LAKE/events/date=YYYY-MM-DD/hour=HH/part-SSSSS-of-NNNNN.parquet
//	  -> LAKE/badrows/reconcile/<source object>   (lines that do not parse)
//
// Every input line is accounted for: in = written + duplicates + bad +
// outside (events of other dates in a dated run), as Beam counters
// (namespace "reconcile") and as one log line checked at the end.
package reconcile

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/segmentflow/segmentflow/infra"
)

// Config is what one reconcile run reads and writes.
type Config struct {
	// Lake is the lake root as a URL: gs://bucket[/prefix], s3://bucket, or a
	// local directory. Its raw/ and failover/ trees are read.
	Lake string
	// Failover lists more failover trees to read (URLs of
	// YYYY/MM/DD/HH/<object>.json.gz trees), such as the standby region's
	// failover bucket.
	Failover []string
	// Date (YYYY-MM-DD, UTC) limits the run to events whose event time falls
	// on Date or the Days-1 days after it; only those dates' partitions are
	// rewritten. Empty reconciles the whole lake.
	Date string
	// Days is the number of event dates from Date; 0 means 1.
	Days int
	// Lateness is how long after its event date an event may still reach
	// the lake (an offline device, the collector's allowed lateness): a
	// dated run reads the processing-time hours from the day before Date to
	// Lateness after the last date. 0 means DefaultLateness.
	Lateness time.Duration
	// Output is where the Parquet partitions go; empty means LAKE/events/.
	Output string
	// ShardsPerHour is the number of Parquet files per event-time hour (0:
	// DefaultShardsPerHour); keep it constant between runs or older extra
	// shards stay behind.
	ShardsPerHour int
}

const (
	// DefaultShardsPerHour is the number of Parquet files per event-time
	// hour when Config leaves it zero.
	DefaultShardsPerHour = 4
	// DefaultLateness matches the classify pipeline's allowed lateness.
	DefaultLateness = 7 * 24 * time.Hour
)

// allHours matches every object of a YYYY/MM/DD/HH/<object>.json.gz tree.
const allHours = "*/*/*/*/*.json.gz"

// RegisterFlags adds the pipeline's flags to fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Lake, "lake", c.Lake, "lake root URL: gs://BUCKET[/PREFIX], s3://BUCKET or a local directory (required); its raw/ and failover/ are read")
	fs.Func("failover", "more failover trees to read, comma-separated URLs (e.g. the standby region's gs://BUCKET/failover/)", func(v string) error {
		c.Failover = nil
		for _, u := range strings.Split(v, ",") {
			if u = strings.TrimSpace(u); u != "" {
				c.Failover = append(c.Failover, u)
			}
		}
		return nil
	})
	fs.StringVar(&c.Date, "date", c.Date, "reconcile only events of this UTC event date, YYYY-MM-DD, and --days-1 after it (default: the whole lake)")
	fs.IntVar(&c.Days, "days", max(c.Days, 1), "event dates from --date")
	if c.Lateness == 0 {
		c.Lateness = DefaultLateness
	}
	fs.DurationVar(&c.Lateness, "lateness", c.Lateness, "how long after its event date an event may still arrive: a dated run reads the processing hours up to this long after the last date")
	fs.StringVar(&c.Output, "output", c.Output, "where the Parquet partitions go (default LAKE/events/)")
	if c.ShardsPerHour == 0 {
		c.ShardsPerHour = DefaultShardsPerHour
	}
	fs.IntVar(&c.ShardsPerHour, "shards_per_hour", c.ShardsPerHour, "Parquet files per event-time hour")
}

// resolved is the Config with every path spelled out, as the DoFns carry it.
type resolved struct {
	Lake    string
	Inputs  []string
	Output  string
	Badrows string
	Shards  int
	// From and To (Unix ms, To exclusive) bound the event times written;
	// both zero: no bound.
	From, To int64
}

func (c Config) resolve() (resolved, error) {
	if strings.TrimSpace(c.Lake) == "" {
		return resolved{}, errors.New("reconcile: --lake is required")
	}
	if c.ShardsPerHour == 0 {
		c.ShardsPerHour = DefaultShardsPerHour
	}
	if c.ShardsPerHour < 1 || c.ShardsPerHour > 99999 {
		return resolved{}, fmt.Errorf("reconcile: --shards_per_hour must be in 1..99999, got %d", c.ShardsPerHour)
	}
	lake, err := root(c.Lake)
	if err != nil {
		return resolved{}, err
	}
	p := infra.Default().LakePrefixes
	trees := []string{join(lake, p.Raw), join(lake, p.Failover)}
	for _, f := range c.Failover {
		r, err := root(f)
		if err != nil {
			return resolved{}, err
		}
		trees = append(trees, r)
	}
	r := resolved{Lake: lake, Shards: c.ShardsPerHour, Badrows: join(lake, p.Badrows, "reconcile")}
	if r.Output = c.Output; r.Output == "" {
		r.Output = strings.TrimRight(join(lake, p.Events), "/")
	} else if r.Output, err = root(r.Output); err != nil {
		return resolved{}, err
	}

	globs := []string{allHours}
	if c.Date != "" {
		from, err := time.Parse(time.DateOnly, c.Date)
		if err != nil {
			return resolved{}, fmt.Errorf("reconcile: --date %q is not YYYY-MM-DD", c.Date)
		}
		if c.Days < 0 {
			return resolved{}, fmt.Errorf("reconcile: --days must be positive, got %d", c.Days)
		}
		days := max(c.Days, 1)
		lateness := c.Lateness
		if lateness == 0 {
			lateness = DefaultLateness
		}
		if lateness < 0 {
			return resolved{}, fmt.Errorf("reconcile: --lateness must not be negative, got %v", lateness)
		}
		to := from.AddDate(0, 0, days)
		r.From, r.To = from.UnixMilli(), to.UnixMilli()
		// Processing days that can hold those events: a skew-corrected event
		// time lies before its receipt, so from the day before (an hour
		// folder starts at the object's window) to lateness after.
		globs = nil
		for d := from.AddDate(0, 0, -1); d.Before(to.Add(lateness)); d = d.AddDate(0, 0, 1) {
			globs = append(globs, d.Format("2006/01/02")+"/*/*.json.gz")
		}
	}
	for _, t := range trees {
		for _, g := range globs {
			r.Inputs = append(r.Inputs, join(t, g))
		}
	}
	return r, nil
}

// root normalizes a lake URL: no trailing slash, and local paths made
// absolute so workers started elsewhere (loopback, process) agree on them.
func root(u string) (string, error) {
	u = strings.TrimRight(u, "/")
	if strings.Contains(u, "://") {
		return u, nil
	}
	abs, err := filepath.Abs(u)
	if err != nil {
		return "", fmt.Errorf("reconcile: lake path %q: %w", u, err)
	}
	return abs, nil
}

// join concatenates URL parts with single slashes; filepath.Join would
// collapse the "//" of gs://.
func join(parts ...string) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			p = strings.TrimLeft(p, "/")
			if b.Len() > 0 && !strings.HasSuffix(b.String(), "/") {
				b.WriteByte('/')
			}
		}
		if i < len(parts)-1 {
			p = strings.TrimRight(p, "/")
		}
		b.WriteString(p)
	}
	return b.String()
}
