package localstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/bigtable"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/storage"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/segmentflow/segmentflow/emulators"
	"github.com/segmentflow/segmentflow/infra"
	"github.com/segmentflow/segmentflow/io/bigtablestore"
	"github.com/segmentflow/segmentflow/io/rulestore"
	"github.com/segmentflow/segmentflow/rules"
	"github.com/segmentflow/segmentflow/service/activate"
	"github.com/segmentflow/segmentflow/service/collector"
	"github.com/segmentflow/segmentflow/service/profiles"
	"github.com/segmentflow/segmentflow/service/rulesapi"
	"github.com/segmentflow/segmentflow/web"
)

// Stack is a running local platform. Start builds it; Shutdown stops it in
// order.
type Stack struct {
	cfg   Config
	log   *slog.Logger
	Names infra.Names
	start time.Time

	PubSub   *emulators.PubSub
	Bigtable *emulators.Bigtable
	GCS      *emulators.GCS

	// URLs of the services.
	CollectorURL, RulesURL, ProfilesURL string
	// Receivers are the local webhooks of HTTP partners, by partner id.
	Receivers map[string]*Receiver
	// FileDrops are the directories of file-drop partners, by partner id.
	FileDrops map[string]string
	// Partners are the rule set's partners activate delivers to.
	Partners []rules.Partner
	// Generator is the synthetic game (nil without Config.Generate).
	Generator *Generator

	// Registry holds the stack's own metrics (the latency summaries);
	// each service keeps its own registry, read for the status line.
	Registry *prometheus.Registry
	colReg   *prometheus.Registry
	actReg   *prometheus.Registry

	psClient *pubsub.Client
	btClient *bigtable.Client
	gcs      *storage.Client

	col       *collector.Collector
	colLn     net.Listener
	colServed chan error
	// started is set once Start succeeded: a failed start skips the drain.
	started    bool
	httpSrvs   []*namedServer
	toProfile  *latency
	toPartner  *latency
	profiles   *profileWatch
	lake       *lakeWatch
	jobs       []*streamingJob
	classifyOn bool
	profileAPI *profiles.Server
	jm         jobMetrics
	// Beam counters of classify, read from prism's Job API.
	classified, classifyDead atomic.Int64

	// stages, stopped in reverse dependency order by Shutdown.
	genStop, jobStop, actStop, watchStop context.CancelFunc
	genDone, jobDone, actDone, watchDone sync.WaitGroup
	shutOnce                             sync.Once
	shutErr                              error
}

// namedServer is an HTTP server of the stack (rules API, profile API, metrics).
type namedServer struct {
	name   string
	srv    *http.Server
	served chan error
}

// Start brings the platform up: emulators, provisioning, rule set v1,
// services, pipelines, activate, receivers, the generator and the status
// line. ctx bounds start-up only; the stack runs until Shutdown. On error
// whatever was started is stopped again.
func Start(ctx context.Context, cfg Config) (_ *Stack, err error) {
	cfg = cfg.withDefaults()
	s := &Stack{
		cfg: cfg, log: cfg.Logger, Names: infra.Default(), start: time.Now(),
		Receivers: map[string]*Receiver{}, FileDrops: map[string]string{},
		Registry: prometheus.NewRegistry(), colReg: prometheus.NewRegistry(), actReg: prometheus.NewRegistry(),
		colServed: make(chan error, 1),
	}
	defer func() {
		if err != nil {
			// Bounded, so a failed start returns its error promptly even if
			// a part that started does not stop cleanly.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), startFailStop)
			defer cancel()
			if serr := s.Shutdown(sctx); serr != nil {
				s.log.Warn("stopping what started before the failure", "err", serr)
			}
		}
	}()
	s.toProfile = newLatency("segmentflow_local_collector_to_profile_seconds", "Collector receipt to profile write (meta:updated_at - meta:received_at).", s.Registry)
	s.toPartner = newLatency("segmentflow_local_collector_to_partner_seconds", "Collector receipt to arrival at a local partner receiver.", s.Registry)

	if err := s.startEmulators(ctx); err != nil {
		return nil, err
	}
	rs, err := s.publishRuleSet(ctx)
	if err != nil {
		return nil, err
	}
	s.Partners = rs.Partners
	if err := s.startCollector(ctx); err != nil {
		return nil, err
	}
	if err := s.startRulesAPI(); err != nil {
		return nil, err
	}
	if err := s.startProfileAPI(ctx); err != nil {
		return nil, err
	}
	if err := s.startActivate(ctx); err != nil {
		return nil, err
	}
	if err := s.startPipelines(); err != nil {
		return nil, err
	}
	if err := s.startGenerator(ctx); err != nil {
		return nil, err
	}
	s.startWatchers()
	s.started = true
	return s, nil
}

// startFailStop bounds the shutdown of a failed start.
const startFailStop = 30 * time.Second

func (s *Stack) startEmulators(ctx context.Context) error {
	cfg := s.cfg
	gcsDir := ""
	if cfg.DataDir != "" {
		gcsDir = filepath.Join(cfg.DataDir, "gcs")
		if err := os.MkdirAll(gcsDir, 0o755); err != nil {
			return fmt.Errorf("localstack: data dir: %w", err)
		}
	}
	var err error
	if s.PubSub, err = emulators.StartPubSub(cfg.PubSubAddr); err != nil {
		return err
	}
	if s.Bigtable, err = emulators.StartBigtable(cfg.BigtableAddr); err != nil {
		return err
	}
	if s.GCS, err = emulators.StartGCS(cfg.GCSAddr, gcsDir); err != nil {
		return err
	}
	partners, err := partnerIDs(cfg.RuleSet)
	if err != nil {
		return err
	}
	pcfg := emulators.Config{Project: cfg.Project, Instance: cfg.Instance, Names: s.Names, Partners: partners}
	if err := emulators.Provision(ctx, pcfg, s.PubSub, s.Bigtable, s.GCS); err != nil {
		return err
	}
	if s.psClient, err = s.PubSub.Client(context.WithoutCancel(ctx), cfg.Project); err != nil {
		return err
	}
	if s.btClient, err = s.Bigtable.Client(context.WithoutCancel(ctx), cfg.Project, cfg.Instance); err != nil {
		return err
	}
	if s.gcs, err = s.GCS.Client(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	return nil
}

// partnerIDs are the partners of a rule-set document (their activation
// topics are provisioned with the rest).
func partnerIDs(doc []byte) ([]string, error) {
	if len(doc) == 0 {
		return nil, errors.New("localstack: no rule set to publish as version 1")
	}
	rs, err := rules.Parse(doc)
	if err != nil {
		return nil, fmt.Errorf("localstack: example rule set: %w", err)
	}
	ids := make([]string, len(rs.Partners))
	for i, p := range rs.Partners {
		ids[i] = p.ID
	}
	return ids, nil
}

// publishRuleSet publishes the example rule set as version 1 when the
// repository is empty (a --data directory keeps earlier versions) and
// returns the current one.
func (s *Stack) publishRuleSet(ctx context.Context) (*rules.RuleSet, error) {
	store := rulestore.New(s.gcs, s.Names.Buckets.Rules)
	n, err := store.CurrentNumber(ctx)
	if err != nil {
		return nil, fmt.Errorf("localstack: rules repository: %w", err)
	}
	if n == 0 {
		if _, err := store.Publish(ctx, s.cfg.RuleSet, 0, "segmentflow local", "example rule set"); err != nil {
			return nil, fmt.Errorf("localstack: publish example rule set: %w", err)
		}
	}
	cur, err := store.Current(ctx)
	if err != nil {
		return nil, fmt.Errorf("localstack: current rule set: %w", err)
	}
	rs, err := rules.Parse(cur.Document)
	if err != nil {
		return nil, fmt.Errorf("localstack: rule set version %d: %w", cur.Number, err)
	}
	return rs, nil
}

func (s *Stack) startCollector(ctx context.Context) error {
	// Listen first: a taken port then fails before the collector's clients
	// exist, and Shutdown only waits for a Serve that was started.
	ln, err := net.Listen("tcp", s.cfg.CollectorAddr)
	if err != nil {
		return fmt.Errorf("localstack: collector: listen %s: %w", s.cfg.CollectorAddr, err)
	}
	col, err := collector.New(ctx, collector.Config{
		Node:        "local",
		Names:       s.Names,
		Sources:     []collector.Source{{ID: "dev", WriteKey: s.cfg.WriteKey}},
		Primary:     collector.Target{Project: s.cfg.Project, Endpoint: s.PubSub.Addr},
		GCSEndpoint: s.GCS.URL,
		Registry:    s.colReg,
		Logger:      s.log,
	})
	if err != nil {
		ln.Close()
		return fmt.Errorf("localstack: collector: %w", err)
	}
	s.col, s.colLn = col, ln
	s.CollectorURL = "http://" + ln.Addr().String()
	go func() { s.colServed <- col.Serve(ln) }()
	return nil
}

func (s *Stack) startRulesAPI() error {
	cred, err := rulesapi.ParseTokenFlag(s.cfg.RulesToken + "=publisher:local")
	if err != nil {
		return fmt.Errorf("localstack: rules token: %w", err)
	}
	auth, err := rulesapi.NewAuth([]rulesapi.Credential{cred})
	if err != nil {
		return err
	}
	var users []rules.User
	if len(s.cfg.SampleUsers) > 0 {
		var byID map[string]rules.User
		if err := json.Unmarshal(s.cfg.SampleUsers, &byID); err != nil {
			return fmt.Errorf("localstack: sample users: %w", err)
		}
		for _, id := range slices.Sorted(maps.Keys(byID)) {
			users = append(users, byID[id])
		}
	}
	srv, err := rulesapi.New(rulesapi.Config{
		Store: rulestore.New(s.gcs, s.Names.Buckets.Rules), Auth: auth, Console: web.Console(),
		SampleUsers: users, Logger: s.log,
	})
	if err != nil {
		return err
	}
	addr, err := s.serve("rules API", s.cfg.RulesAddr, srv.Handler())
	if err != nil {
		return err
	}
	s.RulesURL = "http://" + addr
	return nil
}

// serve serves h on addr until Shutdown and returns the bound address.
func (s *Stack) serve(name, addr string, h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("localstack: %s: listen %s: %w", name, addr, err)
	}
	ns := &namedServer{name: name, served: make(chan error, 1), srv: &http.Server{
		Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: time.Minute,
	}}
	go func() {
		err := ns.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		ns.served <- err
	}()
	s.httpSrvs = append(s.httpSrvs, ns)
	return ln.Addr().String(), nil
}

func (s *Stack) startProfileAPI(ctx context.Context) error {
	srv, err := profiles.New(ctx, profiles.Config{
		Profiles: bigtablestore.NewProfiles(s.btClient, s.Names.Tables.Profiles),
		Rules:    rulestore.New(s.gcs, s.Names.Buckets.Rules),
		Logger:   s.log,
	})
	if err != nil {
		return err
	}
	s.profileAPI = srv
	addr, err := s.serve("profile API", s.cfg.ProfilesAddr, srv.Handler())
	if err != nil {
		return err
	}
	s.ProfilesURL = "http://" + addr
	return nil
}

// emulatorStreams is the StreamingPull streams per partner subscription
// on the emulator (see activate.Limits.Streams).
const emulatorStreams = 8

// startActivate starts a receiver per HTTP partner (or uses the partner's
// real endpoint), a directory per file-drop partner, and activate for all.
func (s *Stack) startActivate(ctx context.Context) error {
	acfg, err := activate.ParseConfig(nil)
	if err != nil {
		return err
	}
	// pstest hands out about 100 messages/s per StreamingPull stream, far
	// below what the local pipelines produce at a few hundred events/s.
	acfg.Defaults.Streams = emulatorStreams
	for _, p := range s.Partners {
		pc := acfg.For(p.ID)
		switch p.DeliveryKind() {
		case rules.PartnerHTTP:
			pc.HMACKey = s.cfg.PartnerKey
			addr, path, local, err := receiverAddr(p.Endpoint, s.cfg)
			if err != nil {
				return fmt.Errorf("localstack: partner %s: %w", p.ID, err)
			}
			if !local {
				s.log.Info("partner endpoint is not local; delivering to it", "partner", p.ID, "endpoint", p.Endpoint)
				break
			}
			level := slog.LevelInfo
			if s.cfg.Generate > 0 {
				level = slog.LevelDebug
			}
			r, err := startReceiver(p.ID, addr, path, []byte(s.cfg.PartnerKey), s.toPartner, level, s.log)
			if err != nil {
				return err
			}
			s.Receivers[p.ID] = r
			pc.Endpoint = r.URL
		case rules.PartnerFileDrop:
			dir, err := s.fileDropDir(p.ID)
			if err != nil {
				return err
			}
			s.FileDrops[p.ID] = dir
			pc.Path = dir
		}
		acfg.Partners[p.ID] = pc
	}
	svc, err := activate.New(activate.Options{
		PubSub: s.psClient, GCS: s.gcs, Names: s.Names, Partners: s.Partners,
		Config: acfg, Registry: s.actReg, Logger: s.log,
	})
	if err != nil {
		return err
	}
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.actStop = cancel
	s.actDone.Add(1)
	go func() {
		defer s.actDone.Done()
		if err := svc.Run(actx); err != nil {
			s.log.Error("activate stopped", "err", err)
		}
	}()
	return nil
}

// receiverAddr decides where a partner's receiver listens: on the
// endpoint's own loopback host:port (so the rule set works as published) or
// on cfg.ReceiverAddr. local is false for a non-loopback endpoint, which
// activate then delivers to as it is.
func receiverAddr(endpoint string, cfg Config) (addr, path string, local bool, err error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return "", "", false, fmt.Errorf("endpoint %q is not a URL", endpoint)
	}
	ip := net.ParseIP(u.Hostname())
	loopback := u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback())
	switch {
	case !cfg.ReceiversOnRuleSetPorts:
		return cfg.ReceiverAddr, u.Path, true, nil
	case loopback:
		return u.Host, u.Path, true, nil
	}
	return "", "", false, nil
}

func (s *Stack) fileDropDir(id string) (string, error) {
	var dir string
	var err error
	if s.cfg.DataDir != "" {
		dir = filepath.Join(s.cfg.DataDir, "partners", id)
		err = os.MkdirAll(dir, 0o755)
	} else {
		dir, err = os.MkdirTemp("", "segmentflow-"+id+"-")
	}
	if err != nil {
		return "", fmt.Errorf("localstack: file drop of %s: %w", id, err)
	}
	return dir, nil
}

// startGenerator seeds the users table with the players' statistics (what
// the stats pipeline would have computed) and starts the synthetic game.
func (s *Stack) startGenerator(ctx context.Context) error {
	if s.cfg.Generate <= 0 {
		return nil
	}
	players := Players(s.cfg.Users, 1)
	users := bigtablestore.NewUsers(s.btClient, s.Names.Tables.Users)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, p := range players {
		g.Go(func() error {
			if err := users.PutStats(gctx, p.ID, p.Stats); err != nil {
				return err
			}
			return users.PutTraits(gctx, p.ID, p.Traits)
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("localstack: seed users: %w", err)
	}
	s.Generator = NewGenerator(GeneratorConfig{CollectorURL: s.CollectorURL, WriteKey: s.cfg.WriteKey, Rate: s.cfg.Generate, Users: s.cfg.Users}, players)
	gctx2, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.genStop = cancel
	s.genDone.Add(1)
	go func() {
		defer s.genDone.Done()
		s.Generator.Run(gctx2)
	}()
	return nil
}

// startWatchers starts the lake and profile scans and the status line.
func (s *Stack) startWatchers() {
	ctx, cancel := context.WithCancel(context.Background())
	s.watchStop = cancel
	s.startPurge(ctx)
	s.lake = newLakeWatch(s.gcs, s.Names.Buckets.Lake, s.Names.LakePrefixes.Raw, s.start)
	s.every(ctx, 5*time.Second, func(ctx context.Context) {
		if err := s.lake.scan(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("lake scan", "err", err)
		}
	})
	if pw, err := newProfileWatch(s.btClient, s.Names, s.toProfile); err == nil {
		s.profiles = pw
		s.every(ctx, time.Second, func(ctx context.Context) {
			if err := s.profiles.scan(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("profile scan", "err", err)
			}
		})
	} else {
		s.log.Warn("profile watch", "err", err)
	}
	s.every(ctx, 2*time.Second, func(ctx context.Context) {
		c, err := s.jm.counters(ctx, "classify")
		if err != nil {
			if ctx.Err() == nil {
				s.log.Debug("prism job metrics", "err", err)
			}
			return
		}
		// The counters only grow; while jobs are being cancelled (a restart,
		// shutdown) prism can answer without them, which would print 0.
		storeMax(&s.classified, c["classified"])
		storeMax(&s.classifyDead, c["dead_lettered"])
	})
	if s.cfg.StatusEvery > 0 {
		s.every(ctx, s.cfg.StatusEvery, func(context.Context) {
			fmt.Fprintln(s.cfg.Out, s.Status().Line())
		})
	}
}

// startPurge bounds the Pub/Sub emulator's memory: every PubSubPurge it
// forgets the messages that every subscription has settled. The drain at
// shutdown only counts unacked messages, which stay.
func (s *Stack) startPurge(ctx context.Context) {
	if s.cfg.PubSubPurge <= 0 {
		return
	}
	if _, ok := s.PubSub.ForgetSettled(); !ok {
		s.log.Warn("Pub/Sub emulator memory is unbounded: this build uses the stock pstest (run tools/prism-patch.sh, or build without GOWORK=off)")
		return
	}
	s.every(ctx, s.cfg.PubSubPurge, func(context.Context) {
		if n, _ := s.PubSub.ForgetSettled(); n > 0 {
			s.log.Debug("pubsub emulator: forgot settled messages", "n", n)
		}
	})
}

func storeMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

func (s *Stack) every(ctx context.Context, d time.Duration, f func(context.Context)) {
	s.watchDone.Add(1)
	go func() {
		defer s.watchDone.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				f(ctx)
			}
		}
	}()
}

// Shutdown stops the stack in order: the generator and the collector first
// (every accepted event is then in Pub/Sub), a bounded drain of the
// subscriptions, the pipelines, activate, the HTTP services and receivers,
// and the emulators last. It is safe to call more than once.
func (s *Stack) Shutdown(ctx context.Context) error {
	s.shutOnce.Do(func() { s.shutErr = s.shutdown(ctx) })
	return s.shutErr
}

func (s *Stack) shutdown(ctx context.Context) error {
	var errs []error
	stop := func(cancel context.CancelFunc, wg *sync.WaitGroup) {
		if cancel != nil {
			cancel()
		}
		wg.Wait()
	}
	stop(s.genStop, &s.genDone)
	if s.col != nil {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := s.col.Shutdown(cctx); err != nil {
			errs = append(errs, err)
		}
		cancel()
		// Serve may not have reached its http.Server when Shutdown ran (a
		// start that failed right after it), and would then serve on:
		// closing the listener ends it either way.
		_ = s.colLn.Close()
		select {
		case err := <-s.colServed:
			if err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("localstack: collector did not stop: %w", ctx.Err()))
		}
	}
	if s.started && s.PubSub != nil && len(s.jobs) > 0 {
		s.drain(ctx, s.cfg.DrainTimeout)
	}
	// Cancelling the jobs makes prism and the SDK log errors that are
	// normal here (QuietCancellations logs them at info).
	endStop := beginStop()
	defer endStop()
	stop(s.jobStop, &s.jobDone)
	stop(s.actStop, &s.actDone)
	stop(s.watchStop, &s.watchDone)
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, ns := range s.httpSrvs {
		if err := ns.srv.Shutdown(hctx); err != nil {
			errs = append(errs, fmt.Errorf("localstack: %s: %w", ns.name, err))
		} else if err := <-ns.served; err != nil {
			errs = append(errs, fmt.Errorf("localstack: %s: %w", ns.name, err))
		}
	}
	for _, r := range s.Receivers {
		if err := r.shutdown(hctx); err != nil {
			errs = append(errs, err)
		}
	}
	if s.profileAPI != nil {
		s.profileAPI.Close()
	}
	s.jm.close()
	if s.lake != nil {
		fmt.Fprintln(s.cfg.Out, s.Status().Line())
	}
	if s.psClient != nil {
		_ = s.psClient.Close()
	}
	if s.btClient != nil {
		_ = s.btClient.Close()
	}
	if s.gcs != nil {
		_ = s.gcs.Close()
	}
	if s.GCS != nil {
		s.GCS.Close()
	}
	if s.Bigtable != nil {
		s.Bigtable.Close()
	}
	if s.PubSub != nil {
		if err := s.PubSub.Close(); err != nil {
			errs = append(errs, fmt.Errorf("localstack: pubsub emulator: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Classifying reports whether the classify pipeline runs in this build.
func (s *Stack) Classifying() bool { return s.classifyOn }
