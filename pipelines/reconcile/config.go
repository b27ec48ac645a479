//go:build segmentflow_wip

// Package reconcile is the batch pipeline that turns the lake's raw and
// failover objects (gzip NDJSON of normalized events, cut by processing time)
// into Parquet partitioned by event time and deduplicated by message id:
//
//	LAKE/raw/YYYY/MM/DD/HH/*.json.gz + LAKE/failover/YYYY/MM/DD/HH/*.json.gz
//	  -> LAKE/events/date=YYYY-MM-DD/hour=HH/part-SSSSS-of-NNNNN.parquet
//	  -> LAKE/badrows/reconcile/<source object>   (lines that do not parse)
//
// Every input line is accounted for: in = written + duplicates + bad, as Beam
// counters (namespace "reconcile") and as one log line checked at the end.
package reconcile

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/segmentflow/segmentflow/infra"
)

// Config is what one reconcile run reads and writes.
type Config struct {
	// Lake is the lake root as a URL: gs://bucket[/prefix], s3://bucket, or a
	// local directory.
	Lake string
	// InputGlob selects objects below raw/ and failover/. The default reads
	// every hour; output partitions are rewritten whole, so a narrower glob
	// belongs with a separate Output.
	InputGlob string
	// Output is where the Parquet partitions go; empty means LAKE/events/.
	Output string
	// ShardsPerHour is the number of Parquet files per event-time hour; keep
	// it constant between runs or older extra shards stay behind.
	ShardsPerHour int
}

// DefaultInputGlob matches the lake's YYYY/MM/DD/HH/<object>.json.gz layout.
const DefaultInputGlob = "*/*/*/*/*.json.gz"

// RegisterFlags adds the pipeline's flags to fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Lake, "lake", c.Lake, "lake root URL: gs://BUCKET[/PREFIX], s3://BUCKET or a local directory (required)")
	if c.InputGlob == "" {
		c.InputGlob = DefaultInputGlob
	}
	fs.StringVar(&c.InputGlob, "input_glob", c.InputGlob, "objects to read under LAKE/raw/ and LAKE/failover/ (YYYY/MM/DD/HH/file)")
	fs.StringVar(&c.Output, "output", c.Output, "where the Parquet partitions go (default LAKE/events/)")
	if c.ShardsPerHour == 0 {
		c.ShardsPerHour = 4
	}
	fs.IntVar(&c.ShardsPerHour, "shards_per_hour", c.ShardsPerHour, "Parquet files per event-time hour")
}

// resolved is the Config with every path spelled out, as the DoFns carry it.
type resolved struct {
	Lake     string
	Inputs   []string
	Output   string
	Badrows  string
	Shards   int
	Prefixes infra.LakePrefixes
}

func (c Config) resolve() (resolved, error) {
	if strings.TrimSpace(c.Lake) == "" {
		return resolved{}, errors.New("reconcile: --lake is required")
	}
	if c.ShardsPerHour < 1 || c.ShardsPerHour > 99999 {
		return resolved{}, fmt.Errorf("reconcile: --shards_per_hour must be in 1..99999, got %d", c.ShardsPerHour)
	}
	glob := c.InputGlob
	if glob == "" {
		glob = DefaultInputGlob
	}
	lake, err := root(c.Lake)
	if err != nil {
		return resolved{}, err
	}
	p := infra.Default().LakePrefixes
	out := c.Output
	if out == "" {
		out = join(lake, p.Events)
	} else if out, err = root(out); err != nil {
		return resolved{}, err
	}
	return resolved{
		Lake:     lake,
		Inputs:   []string{join(lake, p.Raw, glob), join(lake, p.Failover, glob)},
		Output:   out,
		Badrows:  join(lake, p.Badrows, "reconcile"),
		Shards:   c.ShardsPerHour,
		Prefixes: p,
	}, nil
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
