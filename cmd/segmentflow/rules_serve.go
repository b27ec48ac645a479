package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/storage"

	"github.com/segmentflow/segmentflow/emulators"
	"github.com/segmentflow/segmentflow/infra"
	"github.com/segmentflow/segmentflow/io/rulestore"
	"github.com/segmentflow/segmentflow/rules"
	"github.com/segmentflow/segmentflow/service/rulesapi"
	"github.com/segmentflow/segmentflow/web"
)

// rulesTokenFlags is the repeatable --token flag.
type rulesTokenFlags []string

func (r *rulesTokenFlags) String() string     { return strings.Join(*r, ",") }
func (r *rulesTokenFlags) Set(v string) error { *r = append(*r, v); return nil }

// runRulesServe is `segmentflow rules [flags]`: the rules repository REST
// API and the web console.
func runRulesServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	names := infra.Default()
	fs := flag.NewFlagSet("rules", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", ":8090", "listen address")
	endpoint := fs.String("gcs-endpoint", "", "GCS emulator base URL (e.g. http://127.0.0.1:4443); empty: Google Cloud Storage")
	bucket := fs.String("bucket", names.Buckets.Rules, "bucket of the rules repository")
	project := fs.String("project", names.ProjectLocal, "project that owns the bucket (with --create-bucket)")
	create := fs.Bool("create-bucket", false, "create the bucket when missing (emulators and dev projects)")
	tokensFile := fs.String("tokens", "", "tokens file (YAML or JSON): tokens: [{token, role, name} | {user, password, role}]")
	var tokens rulesTokenFlags
	fs.Var(&tokens, "token", "a bearer token as TOKEN=ROLE[:NAME] (repeatable); roles viewer, editor, publisher")
	sampleUsers := fs.String("sample-users", "", "JSON object of user id -> {traits, stats} (testdata/users/sample.json) for the editor's field list and dry-run form")
	fs.Usage = func() {
		fmt.Fprint(stderr, rulesUsage)
		fmt.Fprintln(stderr, "\nServe flags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("%w: rules: unknown subcommand %q (want check, eval or serve flags)", errUsage, fs.Arg(0))
	}

	creds := []rulesapi.Credential{}
	if *tokensFile != "" {
		c, err := rulesapi.LoadCredentials(*tokensFile)
		if err != nil {
			return err
		}
		creds = append(creds, c...)
	}
	for _, t := range tokens {
		c, err := rulesapi.ParseTokenFlag(t)
		if err != nil {
			return fmt.Errorf("%w: --token %v", errUsage, err)
		}
		creds = append(creds, c)
	}
	if len(creds) == 0 {
		return fmt.Errorf("%w: rules: give --tokens FILE or --token TOKEN=ROLE[:NAME]; there is no anonymous access", errUsage)
	}
	auth, err := rulesapi.NewAuth(creds)
	if err != nil {
		return err
	}
	var users []rules.User
	if *sampleUsers != "" {
		if users, err = rulesLoadSampleUsers(*sampleUsers); err != nil {
			return err
		}
	}

	client, err := rulesStorageClient(ctx, *endpoint)
	if err != nil {
		return err
	}
	defer client.Close()
	if *create {
		if err := rulesEnsureBucket(ctx, client, *project, *bucket); err != nil {
			return err
		}
	}
	srv, err := rulesapi.New(rulesapi.Config{
		Store: rulestore.New(client, *bucket), Auth: auth, Console: web.Console(), SampleUsers: users,
	})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("rules: listen: %w", err)
	}
	fmt.Fprintf(stdout, "rules API and console on http://%s/ (bucket %s)\n", l.Addr(), *bucket)
	return rulesServeHTTP(ctx, l, srv.Handler())
}

// rulesStorageClient talks to the emulator at endpoint, or to GCS with
// application default credentials.
func rulesStorageClient(ctx context.Context, endpoint string) (*storage.Client, error) {
	var (
		c   *storage.Client
		err error
	)
	if endpoint != "" {
		c, err = storage.NewClient(ctx, emulators.StorageOptions(strings.TrimSuffix(endpoint, "/"))...)
	} else {
		c, err = storage.NewClient(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("storage client: %w", err)
	}
	return c, nil
}

func rulesEnsureBucket(ctx context.Context, c *storage.Client, project, bucket string) error {
	if _, err := c.Bucket(bucket).Attrs(ctx); err == nil {
		return nil
	} else if !errors.Is(err, storage.ErrBucketNotExist) {
		return fmt.Errorf("bucket %s: %w", bucket, err)
	}
	if err := c.Bucket(bucket).Create(ctx, project, &storage.BucketAttrs{VersioningEnabled: true}); err != nil {
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	return nil
}

func rulesLoadSampleUsers(path string) ([]rules.User, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sample users: %w", err)
	}
	var byID map[string]rules.User
	if err := json.Unmarshal(b, &byID); err != nil {
		return nil, fmt.Errorf("sample users %s: %w", path, err)
	}
	users := make([]rules.User, 0, len(byID))
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		users = append(users, byID[id])
	}
	return users, nil
}

// rulesServeHTTP serves h on l until ctx ends, then drains for up to 10 s.
func rulesServeHTTP(ctx context.Context, l net.Listener, h http.Handler) error {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		slog.Warn("http shutdown", "err", err)
	}
	return nil
}
