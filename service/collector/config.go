// Package collector is the HTTP tracking API: Segment-compatible endpoints
// that validate and enrich events and hand them to Pub/Sub `events`, with a
// warm-standby topic and a GCS failover store behind it. New builds it from
// a Config; `segmentflow collector` serves it and `segmentflow local` embeds
// the same Handler in-process.
package collector

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/segmentflow/segmentflow/event"
	"github.com/segmentflow/segmentflow/infra"
	"github.com/segmentflow/segmentflow/io/pubsubsink"
)

// Target is one Pub/Sub topic of one project.
type Target struct {
	Project string
	Topic   string
	// Endpoint is host:port of an emulator (plain gRPC, no credentials);
	// empty means Google Cloud with application default credentials.
	Endpoint string
}

// Config is everything a collector needs. Zero fields take the defaults
// documented on each field (and in docs/collector.md).
type Config struct {
	// Node identifies this collector in enrichment and object names; the
	// host name by default.
	Node string
	// Sources are the write keys the collector accepts.
	Sources []Source
	// Names are the deployment's resource names; infra.Default() if zero.
	Names infra.Names

	// Primary is the `events` topic; Project is required, Topic defaults
	// to Names.Topics.Events.
	Primary Target
	// Standby is the warm-standby topic (another region); none when its
	// Project is empty. Topic defaults to Primary's.
	Standby Target
	// DLQTopic is where bad rows go first (in Primary's project);
	// Names.Topics.EventsDLQ by default.
	DLQTopic string

	// GCSEndpoint is a GCS emulator's base URL (http://host:port); empty
	// means Google Cloud.
	GCSEndpoint string
	// LakeBucket holds failover/ and badrows/; Names.Buckets.Lake by default.
	LakeBucket string

	// MaxBodyBytes bounds a request body, compressed and decompressed
	// (413 over it); 500 KB, Segment's batch limit.
	MaxBodyBytes int64
	// Limits bound each message (event.DefaultLimits: 32 KB per message).
	Limits event.Limits
	// Rate is the default per-write-key limit in requests per second
	// (429 over it); 0 means unlimited. Burst defaults to max(1, 2*Rate).
	Rate  float64
	Burst int

	// Batch bounds the micro-batches to Pub/Sub (count, bytes, delay) and
	// how long a batch is retried before the next tier takes it.
	Batch pubsubsink.Options
	// FailoverTimeout bounds one GCS write; 5 s.
	FailoverTimeout time.Duration
	// BreakerOpen is how long a topic that failed is skipped before it is
	// probed again; 5 s. It is also the Retry-After of a 503.
	BreakerOpen time.Duration
	// ReplayInterval is how often the background replayer republishes
	// failover objects; 30 s, negative disables it.
	ReplayInterval time.Duration
	// TrustForwardedFor takes the client IP from X-Forwarded-For (behind
	// a load balancer such as Cloud Run's) instead of the peer address.
	TrustForwardedFor bool

	// Server timeouts; 5 s to read headers, 30 s to read a body or write a
	// reply, 120 s idle keep-alive.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration

	// Registry receives the collector's metrics and is served on /metrics;
	// a new registry when nil.
	Registry *prometheus.Registry
	Logger   *slog.Logger
}

// Source is one write key and the source id its events are stamped with.
type Source struct {
	ID       string  `json:"id"`
	WriteKey string  `json:"write_key"`
	Rate     float64 `json:"rate,omitempty"`
	Burst    int     `json:"burst,omitempty"`
}

func (c Config) withDefaults() (Config, error) {
	if c.Names.Topics.Events == "" {
		c.Names = infra.Default()
	}
	if c.Node == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "collector"
		}
		c.Node = h
	}
	if c.Primary.Project == "" {
		return c, fmt.Errorf("collector: a Pub/Sub project is required")
	}
	if c.Primary.Topic == "" {
		c.Primary.Topic = c.Names.Topics.Events
	}
	if c.Standby.Project != "" && c.Standby.Topic == "" {
		c.Standby.Topic = c.Primary.Topic
	}
	if c.DLQTopic == "" {
		c.DLQTopic = c.Names.Topics.EventsDLQ
	}
	if c.LakeBucket == "" {
		c.LakeBucket = c.Names.Buckets.Lake
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 500 << 10
	}
	if c.Burst <= 0 {
		c.Burst = max(1, int(2*c.Rate))
	}
	if c.FailoverTimeout <= 0 {
		c.FailoverTimeout = 5 * time.Second
	}
	if c.BreakerOpen <= 0 {
		c.BreakerOpen = 5 * time.Second
	}
	if c.ReplayInterval == 0 {
		c.ReplayInterval = 30 * time.Second
	}
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = 5 * time.Second
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 30 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 120 * time.Second
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if len(c.Sources) == 0 {
		return c, fmt.Errorf("collector: at least one source (write key) is required")
	}
	seen := map[string]bool{}
	for _, s := range c.Sources {
		if s.ID == "" || s.WriteKey == "" {
			return c, fmt.Errorf("collector: source %q: id and write_key are required", s.ID)
		}
		if seen[s.WriteKey] {
			return c, fmt.Errorf("collector: write key of source %q is used twice", s.ID)
		}
		seen[s.WriteKey] = true
	}
	return c, nil
}
