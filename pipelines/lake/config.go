// Package lake is the streaming pipeline that writes every event of its own
// subscription of `events` into the raw lake, LAKE/raw/YYYY/MM/DD/HH/, as
// gzip NDJSON cut by processing time (io/lakewriter does the writing; see
// docs/lake.md for the layout and the delivery guarantees).
package lake

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/segmentflow/segmentflow/infra"
	"github.com/segmentflow/segmentflow/io/lakewriter"
)

// Config is what one lake pipeline reads and writes.
type Config struct {
	// Lake is the lake root as a URL: gs://bucket[/prefix], s3://bucket or a
	// local directory (required).
	Lake string
	// Project is the Google Cloud project of the subscription.
	Project string
	// Subscription is the pipeline's own subscription of `events`.
	Subscription string
	// PubSubEndpoint is host:port of a Pub/Sub emulator; empty for the real
	// service (or PUBSUB_EMULATOR_HOST).
	PubSubEndpoint string
	// GCSEndpoint is the base URL of a GCS emulator for gs:// lakes.
	GCSEndpoint string
	// Readers is the number of concurrent pull loops.
	Readers int
	// AckDeadline is the deadline the reader keeps extending on messages
	// it holds; after a failed run they come again this long after its last
	// extension. Zero keeps the reader's default (60 s).
	AckDeadline time.Duration
	// RollInterval is the processing-time window of an object.
	RollInterval time.Duration
	// RollBytes is the size at which an object is rolled early.
	RollBytes int64
	// RollGrace is how long after a window ends its last bundles may still
	// be staging; zero picks min(30 s, RollInterval).
	RollGrace time.Duration
	// Shards is the number of objects per window.
	Shards int
}

// Defaults is the production configuration but for the lake root.
func Defaults() Config {
	n := infra.Default()
	return Config{
		Project:      n.ProjectLocal,
		Subscription: n.Subscriptions.Lake,
		Readers:      1,
		RollInterval: 10 * time.Minute,
		RollBytes:    128 << 20,
		Shards:       4,
	}
}

// RegisterFlags adds the pipeline's flags to fs; unset fields get the
// Defaults as flag defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	d := Defaults()
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Project, d.Project)
	def(&c.Subscription, d.Subscription)
	if c.Readers == 0 {
		c.Readers = d.Readers
	}
	if c.RollInterval == 0 {
		c.RollInterval = d.RollInterval
	}
	if c.RollBytes == 0 {
		c.RollBytes = d.RollBytes
	}
	if c.Shards == 0 {
		c.Shards = d.Shards
	}
	fs.StringVar(&c.Lake, "lake", c.Lake, "lake root URL: gs://BUCKET[/PREFIX], s3://BUCKET or a local directory (required)")
	fs.StringVar(&c.Project, "pubsub_project", c.Project, "Google Cloud project of the subscription")
	fs.StringVar(&c.Subscription, "subscription", c.Subscription, "the lake's subscription of the events topic")
	fs.StringVar(&c.PubSubEndpoint, "pubsub_endpoint", c.PubSubEndpoint, "host:port of a Pub/Sub emulator (default: the real service)")
	fs.StringVar(&c.GCSEndpoint, "gcs_endpoint", c.GCSEndpoint, "base URL of a GCS emulator for a gs:// lake, e.g. http://127.0.0.1:4443")
	fs.IntVar(&c.Readers, "readers", c.Readers, "concurrent Pub/Sub pull loops")
	fs.DurationVar(&c.AckDeadline, "ack_deadline", c.AckDeadline, "ack deadline kept on messages in flight: how soon a failed run's messages are redelivered (default 60s)")
	fs.DurationVar(&c.RollInterval, "roll_interval", c.RollInterval, "processing-time window of a lake object (whole seconds)")
	fs.Int64Var(&c.RollBytes, "roll_bytes", c.RollBytes, "compressed size at which an object is rolled early")
	fs.DurationVar(&c.RollGrace, "roll_grace", c.RollGrace, "wait after a window ends before rolling it (default min(30s, roll_interval))")
	fs.IntVar(&c.Shards, "shards", c.Shards, "objects per window (1-99)")
}

// writerOptions resolves the lake's folders from the infra names.
func (c Config) writerOptions() (lakewriter.Options, error) {
	if c.Lake == "" {
		return lakewriter.Options{}, fmt.Errorf("lake: --lake is required")
	}
	if c.Subscription == "" || c.Project == "" {
		return lakewriter.Options{}, fmt.Errorf("lake: a project and a subscription are required")
	}
	n := infra.Default()
	root := strings.TrimRight(c.Lake, "/") + "/"
	return lakewriter.Options{
		Dest:        root + n.LakePrefixes.Raw,
		BadRows:     root + n.LakePrefixes.Badrows + "lake/",
		Staging:     root + n.LakePrefixes.Staging + "lake/",
		Interval:    c.RollInterval,
		MaxBytes:    c.RollBytes,
		Shards:      c.Shards,
		Grace:       c.RollGrace,
		GCSEndpoint: c.GCSEndpoint,
	}, nil
}
