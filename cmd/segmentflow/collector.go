package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/segmentflow/segmentflow/event"
	"github.com/segmentflow/segmentflow/infra"
	"github.com/segmentflow/segmentflow/service/collector"
)

// writeKeys collects repeated --write-key KEY=SOURCE flags.
type writeKeys []collector.Source

func (w *writeKeys) String() string { return fmt.Sprint(len(*w), " keys") }

func (w *writeKeys) Set(v string) error {
	s, err := collector.ParseWriteKey(v)
	if err != nil {
		return err
	}
	*w = append(*w, s)
	return nil
}

// collectorFlags declares the flags shared by `collector` and
// `collector replay-failover` and returns a function building the Config.
func collectorFlags(fs *flag.FlagSet) func() (collector.Config, error) {
	n := infra.Default()
	var (
		cfg          collector.Config
		sourcesFile  string
		keys         writeKeys
		maxMsgBytes  int
		gcsEndpoint  = os.Getenv("STORAGE_EMULATOR_HOST")
		psEndpoint   = os.Getenv("PUBSUB_EMULATOR_HOST")
		batchMaxMsgs int
		batchMaxB    int
	)
	fs.StringVar(&cfg.Primary.Project, "project", envOr("GOOGLE_CLOUD_PROJECT", ""), "Pub/Sub project of the events topic (required)")
	fs.StringVar(&cfg.Primary.Topic, "topic", n.Topics.Events, "events topic")
	fs.StringVar(&cfg.Primary.Endpoint, "pubsub-endpoint", psEndpoint, "Pub/Sub emulator host:port (default $PUBSUB_EMULATOR_HOST; empty: Google Cloud)")
	fs.StringVar(&cfg.DLQTopic, "dlq-topic", n.Topics.EventsDLQ, "bad-rows topic (primary bad-rows sink; gs://LAKE/badrows/ is the fallback)")
	fs.StringVar(&cfg.Standby.Project, "standby-project", "", "warm-standby Pub/Sub project (another region); empty: none")
	fs.StringVar(&cfg.Standby.Topic, "standby-topic", "", "standby topic (default: --topic)")
	fs.StringVar(&cfg.Standby.Endpoint, "standby-endpoint", "", "standby Pub/Sub emulator host:port")
	fs.StringVar(&gcsEndpoint, "gcs-endpoint", gcsEndpoint, "GCS emulator base URL, e.g. http://127.0.0.1:4443 (default $STORAGE_EMULATOR_HOST; empty: Google Cloud)")
	fs.StringVar(&cfg.LakeBucket, "lake-bucket", n.Buckets.Lake, "lake bucket holding failover/ and badrows/")
	fs.StringVar(&sourcesFile, "sources", "", "YAML/JSON file of sources: {sources: [{id, write_key, rate, burst}]}")
	fs.Var(&keys, "write-key", "KEY=SOURCE: accept write key KEY for source SOURCE (repeatable)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "requests per second per write key (429 over it); 0: unlimited")
	fs.IntVar(&cfg.Burst, "burst", 0, "burst per write key (default 2x --rate)")
	fs.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", 500<<10, "largest request body, compressed or not (413 over it)")
	fs.IntVar(&maxMsgBytes, "max-message-bytes", event.DefaultLimits.MaxMessageBytes, "largest message; bigger ones are refused as too_large")
	fs.IntVar(&batchMaxMsgs, "batch-max-messages", 100, "Pub/Sub micro-batch: send at this many messages")
	fs.IntVar(&batchMaxB, "batch-max-bytes", 1<<20, "Pub/Sub micro-batch: send at this many bytes")
	fs.DurationVar(&cfg.Batch.MaxDelay, "batch-max-delay", 5*time.Millisecond, "Pub/Sub micro-batch: send after this long")
	fs.DurationVar(&cfg.Batch.Timeout, "publish-timeout", 2*time.Second, "how long a batch is retried before the standby topic / GCS takes it")
	fs.DurationVar(&cfg.FailoverTimeout, "failover-timeout", 5*time.Second, "how long a GCS failover write may take before the request gets 503")
	fs.DurationVar(&cfg.BreakerOpen, "breaker-open", 5*time.Second, "how long a failing topic is skipped before it is probed (also the 503 Retry-After)")
	fs.DurationVar(&cfg.ReplayInterval, "replay-interval", 30*time.Second, "background replay of failover objects; negative disables it")
	fs.StringVar(&cfg.Node, "node-id", envOr("K_REVISION", ""), "node id in enrichment and object names (default: host name)")
	fs.BoolVar(&cfg.TrustForwardedFor, "trust-forwarded-for", false, "take the client IP from X-Forwarded-For (behind a load balancer)")
	return func() (collector.Config, error) {
		if sourcesFile != "" {
			s, err := collector.LoadSources(sourcesFile)
			if err != nil {
				return cfg, err
			}
			cfg.Sources = append(cfg.Sources, s...)
		}
		cfg.Sources = append(cfg.Sources, keys...)
		if cfg.Primary.Project == "" {
			return cfg, fmt.Errorf("%w: --project is required", errUsage)
		}
		if gcsEndpoint != "" && !strings.Contains(gcsEndpoint, "://") {
			gcsEndpoint = "http://" + gcsEndpoint
		}
		cfg.GCSEndpoint = strings.TrimSuffix(gcsEndpoint, "/")
		cfg.Limits = event.Limits{MaxMessageBytes: maxMsgBytes}
		cfg.Batch.MaxMessages, cfg.Batch.MaxBytes = batchMaxMsgs, batchMaxB
		cfg.Names = n
		return cfg, nil
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func runCollector(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "replay-failover" {
		return runReplayFailover(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("collector", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: segmentflow collector [flags]\n       segmentflow collector replay-failover [flags]\n\nServes the Segment-compatible tracking API (docs/collector.md).\n\nFlags:")
		fs.PrintDefaults()
	}
	addr := fs.String("addr", ":8080", "listen address")
	shutdown := fs.Duration("shutdown-timeout", 30*time.Second, "how long shutdown may take to drain requests and flush batches")
	build := collectorFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := build()
	if err != nil {
		return err
	}
	cfg.Logger = slog.Default()
	col, err := collector.New(ctx, cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		_ = col.Shutdown(context.Background())
		return fmt.Errorf("listen %s: %w", *addr, err)
	}
	fmt.Fprintf(stdout, "collector listening on http://%s\n", ln.Addr())
	served := make(chan error, 1)
	go func() { served <- col.Serve(ln) }()
	select {
	case err := <-served:
		_ = col.Shutdown(context.Background())
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), *shutdown)
	defer cancel()
	if err := col.Shutdown(sctx); err != nil {
		return err
	}
	return <-served
}

func runReplayFailover(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("collector replay-failover", flag.ContinueOnError)
	fs.SetOutput(stderr)
	build := collectorFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := build()
	if err != nil {
		return err
	}
	if len(cfg.Sources) == 0 {
		// Replaying needs no write keys; the collector's config wants one.
		cfg.Sources = []collector.Source{{ID: "replay", WriteKey: "replay-" + fmt.Sprint(time.Now().UnixNano())}}
	}
	cfg.ReplayInterval = -1
	cfg.Logger = slog.Default()
	col, err := collector.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer col.Shutdown(context.Background())
	res, err := col.ReplayFailover(ctx)
	fmt.Fprintf(stdout, "replayed %d events from %d failover objects (%d corrupt moved to badrows)\n", res.Events, res.Objects, res.Corrupt)
	if err != nil {
		return errors.Join(fmt.Errorf("replay stopped; the rest stays in GCS for the next run"), err)
	}
	return nil
}
