package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/segmentflow/segmentflow/localstack"
)

// runLocal is `segmentflow local`: the whole platform on one machine until
// Ctrl-C, then an ordered shutdown.
func runLocal(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := localstack.Defaults()
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: segmentflow local [flags]\n\nThe whole platform on embedded emulators (README, quick start).\n\nFlags:")
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.CollectorAddr, "collector-addr", cfg.CollectorAddr, "collector (tracking API) listen address")
	fs.StringVar(&cfg.RulesAddr, "rules-addr", cfg.RulesAddr, "rules API and console listen address")
	fs.StringVar(&cfg.ProfilesAddr, "profiles-addr", cfg.ProfilesAddr, "profile API listen address")
	fs.StringVar(&cfg.PubSubAddr, "pubsub-addr", cfg.PubSubAddr, "Pub/Sub emulator listen address")
	fs.StringVar(&cfg.BigtableAddr, "bigtable-addr", cfg.BigtableAddr, "Bigtable emulator listen address")
	fs.StringVar(&cfg.GCSAddr, "gcs-addr", cfg.GCSAddr, "GCS emulator listen address")
	fs.StringVar(&cfg.Project, "project", cfg.Project, "project id of the emulated resources")
	fs.StringVar(&cfg.WriteKey, "write-key", cfg.WriteKey, "write key of the one source")
	fs.StringVar(&cfg.RulesToken, "rules-token", cfg.RulesToken, "rules API bearer token (publisher role)")
	fs.StringVar(&cfg.PartnerKey, "partner-key", cfg.PartnerKey, "HMAC key activate signs partner requests with (the local receivers check it)")
	fs.DurationVar(&cfg.LakeRoll, "lake-roll", cfg.LakeRoll, "how long a raw lake object collects events (whole seconds)")
	fs.DurationVar(&cfg.PipelineRestart, "pipeline-restart", cfg.PipelineRestart, "restart each streaming pipeline this often to bound prism's memory (no loss: acks follow commits); 0 never")
	fs.DurationVar(&cfg.PubSubPurge, "pubsub-purge", cfg.PubSubPurge, "forget Pub/Sub emulator messages every subscription has settled this often, to bound its memory; 0 never")
	fs.StringVar(&cfg.DataDir, "data", "", "keep emulator state here between runs (GCS objects; Pub/Sub and Bigtable stay in memory)")
	fs.IntVar(&cfg.Generate, "generate", 0, "synthetic game traffic, events per second (0: none)")
	fs.IntVar(&cfg.Users, "users", cfg.Users, "players of the synthetic game")
	fs.DurationVar(&cfg.StatusEvery, "status", cfg.StatusEvery, "status line period (0: none)")
	ruleSet := fs.String("rules", "testdata/rulesets/game.yaml", "rule set published as version 1 when the repository is empty")
	sampleUsers := fs.String("sample-users", "testdata/users/sample.json", "sample users for the console's dry-run form (optional)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: local takes no arguments", errUsage)
	}
	var err error
	if cfg.RuleSet, err = os.ReadFile(*ruleSet); err != nil {
		return fmt.Errorf("rule set (run from the repository root or give --rules): %w", err)
	}
	if cfg.SampleUsers, err = os.ReadFile(*sampleUsers); err != nil && !errors.Is(err, iofs.ErrNotExist) {
		return fmt.Errorf("sample users: %w", err)
	}
	cfg.Out = stdout
	cfg.Logger = slog.Default()
	beam.Init()
	// prism and the SDK log through the default logger beam.Init just set,
	// and log a cancelled job's bundles as errors; a restart or Ctrl-C
	// cancels on purpose, so those come out at info.
	slog.SetDefault(slog.New(localstack.QuietCancellations(slog.Default().Handler())))

	start := time.Now()
	st, err := localstack.Start(ctx, cfg)
	if err != nil {
		return err
	}
	st.PrintEndpoints(stdout)
	fmt.Fprintf(stdout, "up in %s; Ctrl-C stops (collector first, then drain, pipelines, activate, emulators)\n", time.Since(start).Round(time.Millisecond))
	<-ctx.Done()
	fmt.Fprintln(stdout, "shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return st.Shutdown(sctx)
}
