package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/storage"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/segmentflow/segmentflow/emulators"
	"github.com/segmentflow/segmentflow/infra"
	"github.com/segmentflow/segmentflow/io/rulestore"
	"github.com/segmentflow/segmentflow/rules"
	"github.com/segmentflow/segmentflow/service/activate"
)

const activateUsage = `Usage: segmentflow activate [--partner ID]... [flags]
       segmentflow activate redrive --partner ID [flags]

Delivers segment changes from Pub/Sub activation-<partner> to each partner
of the rule set, one independent loop per partner (docs/activate.md).
Partners (id, segments, endpoint) come from the rule set: --rules FILE, or
else the current version in the rules repository. Secrets and limits come
from the deployment config (--config, YAML or JSON).

redrive re-sends the partner's dead letters and deletes those it delivered;
it exits 1 when some are refused again.
`

// partnerIDs is the repeatable --partner flag (also comma-separated).
type partnerIDs []string

func (p *partnerIDs) String() string { return strings.Join(*p, ",") }

func (p *partnerIDs) Set(v string) error {
	for _, id := range strings.Split(v, ",") {
		if id = strings.TrimSpace(id); id != "" {
			*p = append(*p, id)
		}
	}
	return nil
}

// activateEnv is what both activate commands build from their flags.
type activateEnv struct {
	names    infra.Names
	only     partnerIDs
	build    func(ctx context.Context, withPubSub bool) (*activateDeps, error)
	addr     string
	shutdown time.Duration
}

// activateDeps are the clients and the service built from the flags.
type activateDeps struct {
	ps       *pubsub.Client
	gcs      *storage.Client
	partners []rules.Partner
	version  int64
	svc      *activate.Service
	reg      *prometheus.Registry
}

func (d *activateDeps) close() {
	if d.ps != nil {
		_ = d.ps.Close()
	}
	if d.gcs != nil {
		_ = d.gcs.Close()
	}
}

func activateFlags(fs *flag.FlagSet) *activateEnv {
	n := infra.Default()
	env := &activateEnv{names: n}
	fs.Var(&env.only, "partner", "deliver to this partner only (repeatable or comma-separated); default: every partner of the rule set")
	project := fs.String("project", envOr("GOOGLE_CLOUD_PROJECT", n.ProjectLocal), "Pub/Sub project of the activation subscriptions")
	psEndpoint := fs.String("pubsub-endpoint", os.Getenv("PUBSUB_EMULATOR_HOST"), "Pub/Sub emulator host:port (default $PUBSUB_EMULATOR_HOST; empty: Google Cloud)")
	gcsEndpoint := fs.String("gcs-endpoint", os.Getenv("STORAGE_EMULATOR_HOST"), "GCS emulator base URL, e.g. http://127.0.0.1:4443 (default $STORAGE_EMULATOR_HOST; empty: Google Cloud)")
	lake := fs.String("lake-bucket", n.Buckets.Lake, "bucket of the dead-letter stores (deadletter/<partner>/) and gs:// file drops")
	rulesFile := fs.String("rules", "", "rule set file (YAML/JSON) giving the partners; empty: the current version in --rules-bucket")
	rulesBucket := fs.String("rules-bucket", n.Buckets.Rules, "bucket of the rules repository")
	configFile := fs.String("config", "", "deployment config (YAML/JSON): defaults and per-partner secrets and limits (docs/activate.md)")
	env.build = func(ctx context.Context, withPubSub bool) (*activateDeps, error) {
		cfg, err := activate.LoadConfig(*configFile)
		if err != nil {
			return nil, err
		}
		d := &activateDeps{reg: prometheus.NewRegistry()}
		endpoint := *gcsEndpoint
		if endpoint != "" && !strings.Contains(endpoint, "://") {
			endpoint = "http://" + endpoint
		}
		if d.gcs, err = rulesStorageClient(ctx, endpoint); err != nil {
			return nil, err
		}
		if d.partners, d.version, err = loadPartners(ctx, *rulesFile, rulestore.New(d.gcs, *rulesBucket)); err != nil {
			d.close()
			return nil, err
		}
		if withPubSub {
			var opts = emulators.ClientOptions(*psEndpoint)
			if *psEndpoint == "" {
				opts = nil
			}
			if d.ps, err = pubsub.NewClient(ctx, *project, opts...); err != nil {
				d.close()
				return nil, fmt.Errorf("pubsub client: %w", err)
			}
		}
		d.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		d.svc, err = activate.New(activate.Options{
			PubSub: d.ps, GCS: d.gcs, Names: n, LakeBucket: *lake, Partners: d.partners,
			Only: env.only, Config: cfg, Registry: d.reg, Logger: slog.Default(),
		})
		if err != nil {
			d.close()
			return nil, err
		}
		return d, nil
	}
	return env
}

// loadPartners reads the partners of the rule set in file, or of the
// repository's current version. The rule set is compiled, so a partner
// naming an unknown segment is refused here as it is at publish time.
func loadPartners(ctx context.Context, file string, store *rulestore.Store) ([]rules.Partner, int64, error) {
	var (
		doc     []byte
		version int64
		from    = file
	)
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, 0, fmt.Errorf("rule set: %w", err)
		}
		doc = b
	} else {
		v, err := store.Current(ctx)
		if err != nil {
			return nil, 0, fmt.Errorf("rule set: current version in gs://%s: %w (give --rules FILE to use a file)", store.Bucket(), err)
		}
		doc, version, from = v.Document, v.Number, fmt.Sprintf("gs://%s version %d", store.Bucket(), v.Number)
	}
	rs, err := rules.Parse(doc)
	if err != nil {
		return nil, 0, fmt.Errorf("rule set %s: %w", from, err)
	}
	eng, err := rules.Compile(rs, version)
	if err != nil {
		return nil, 0, fmt.Errorf("rule set %s: %w", from, err)
	}
	ps := eng.Partners()
	if len(ps) == 0 {
		return nil, 0, fmt.Errorf("rule set %s has no partners", from)
	}
	return ps, version, nil
}

// runActivate is `segmentflow activate`: the delivery loops, with
// /healthz, /readyz and /metrics on --addr.
func runActivate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "redrive" {
		return runRedrive(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("activate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, activateUsage, "\nFlags:\n")
		fs.PrintDefaults()
	}
	env := activateFlags(fs)
	addr := fs.String("addr", ":8092", "listen address of /healthz, /readyz and /metrics")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("%w: unknown argument %q (want redrive or flags)", errUsage, fs.Arg(0))
	}
	d, err := env.build(ctx, true)
	if err != nil {
		return err
	}
	defer d.close()
	// A missing subscription would only show as a loop restarting forever;
	// refuse to start instead, naming it.
	for _, id := range d.svc.Partners() {
		name := fmt.Sprintf("projects/%s/subscriptions/%s", d.ps.Project(), env.names.ActivationSubscription(id))
		if _, err := d.ps.SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: name}); err != nil {
			return fmt.Errorf("partner %s: subscription %s: %w", id, name, err)
		}
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("activate: listen: %w", err)
	}
	var ready atomic.Bool
	hs := &http.Server{Handler: activateRoutes(d, &ready), ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	ran := make(chan error, 1)
	go func() { ran <- d.svc.Run(runCtx) }()
	ready.Store(true)
	fmt.Fprintf(stdout, "activate on http://%s/ (partners %s; rule set version %d)\n", ln.Addr(), strings.Join(d.svc.Partners(), ", "), d.version)

	var runErr error
	select {
	case runErr = <-ran:
	case err := <-served:
		stopRun()
		<-ran
		return fmt.Errorf("activate: serve: %w", err)
	case <-ctx.Done():
		// Unfinished batches are nacked; Pub/Sub redelivers them.
		ready.Store(false)
		runErr = <-ran
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		slog.Warn("activate: http shutdown", "err", err)
	}
	return runErr
}

func activateRoutes(d *activateDeps, ready *atomic.Bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeStatus(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		body := map[string]any{"partners": d.svc.Partners(), "rules_version": d.version}
		if !ready.Load() {
			body["status"] = "not ready"
			writeStatus(w, http.StatusServiceUnavailable, body)
			return
		}
		body["status"] = "ready"
		writeStatus(w, http.StatusOK, body)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{}))
	return mux
}

func writeStatus(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// runRedrive is `segmentflow activate redrive --partner ID`.
func runRedrive(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("activate redrive", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, activateUsage, "\nFlags:\n")
		fs.PrintDefaults()
	}
	env := activateFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(env.only) != 1 || fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("%w: redrive takes exactly one --partner ID", errUsage)
	}
	d, err := env.build(ctx, false)
	if err != nil {
		return err
	}
	defer d.close()
	rep, err := d.svc.Redrive(ctx, env.only[0])
	fmt.Fprintf(stdout, "redrive %s: %d dead letters read, %d changes delivered, %d refused again, %d letters skipped (malformed)\n",
		rep.Partner, rep.Letters, rep.Delivered, rep.Failed, rep.Skipped)
	if err != nil {
		return fmt.Errorf("redrive stopped; what was not delivered stays in the store: %w", err)
	}
	if rep.Failed > 0 {
		return exitError{code: 1}
	}
	return nil
}
