package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"cloud.google.com/go/bigtable"

	"github.com/segmentflow/segmentflow/emulators"
	"github.com/segmentflow/segmentflow/infra"
	"github.com/segmentflow/segmentflow/io/bigtablestore"
	"github.com/segmentflow/segmentflow/io/rulestore"
	"github.com/segmentflow/segmentflow/service/profiles"
)

// runProfiles is `segmentflow profiles`: the profile lookup API for ad
// decisions, reading Bigtable `profiles` and following the rules
// repository for segment ttls.
func runProfiles(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	n := infra.Default()
	fs := flag.NewFlagSet("profiles", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", ":8091", "listen address")
	project := fs.String("project", envOr("GOOGLE_CLOUD_PROJECT", n.ProjectLocal), "Bigtable project")
	instance := fs.String("instance", "local", "Bigtable instance")
	btEndpoint := fs.String("bigtable-endpoint", os.Getenv("BIGTABLE_EMULATOR_HOST"), "Bigtable emulator host:port (default $BIGTABLE_EMULATOR_HOST; empty: Google Cloud)")
	appProfile := fs.String("app-profile", "", "Bigtable app profile of the lookups (default: the instance's default profile)")
	table := fs.String("table", n.Tables.Profiles, "profiles table")
	gcsEndpoint := fs.String("gcs-endpoint", os.Getenv("STORAGE_EMULATOR_HOST"), "GCS emulator base URL, e.g. http://127.0.0.1:4443 (default $STORAGE_EMULATOR_HOST; empty: Google Cloud)")
	rulesBucket := fs.String("rules-bucket", n.Buckets.Rules, "bucket of the rules repository whose current rule set gives the segment ttls; empty: serve the ttls rows were written with")
	poll := fs.Duration("rules-poll", 2*time.Second, "how often the rules repository's current-version pointer is polled")
	timeout := fs.Duration("lookup-timeout", 2*time.Second, "bound of one Bigtable read")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("%w: profiles takes no arguments, got %q", errUsage, fs.Arg(0))
	}

	var btOpts = emulators.ClientOptions(*btEndpoint)
	if *btEndpoint == "" {
		btOpts = nil
	}
	btc, err := bigtable.NewClientWithConfig(ctx, *project, *instance, bigtable.ClientConfig{AppProfile: *appProfile}, btOpts...)
	if err != nil {
		return fmt.Errorf("bigtable client: %w", err)
	}
	defer btc.Close()

	cfg := profiles.Config{
		Profiles: bigtablestore.NewProfiles(btc, *table), RulesPoll: *poll, LookupTimeout: *timeout,
	}
	if *rulesBucket != "" {
		endpoint := *gcsEndpoint
		if endpoint != "" && !strings.Contains(endpoint, "://") {
			endpoint = "http://" + endpoint
		}
		gc, err := rulesStorageClient(ctx, endpoint)
		if err != nil {
			return err
		}
		defer gc.Close()
		cfg.Rules = rulestore.New(gc, *rulesBucket)
	}
	srv, err := profiles.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("profiles: listen: %w", err)
	}
	fmt.Fprintf(stdout, "profile API on http://%s/ (table %s, rules bucket %q)\n", l.Addr(), *table, *rulesBucket)
	return rulesServeHTTP(ctx, l, srv.Handler())
}
