package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/storage"
	"golang.org/x/time/rate"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/segmentflow/segmentflow/io/failover"
	"github.com/segmentflow/segmentflow/io/pubsubsink"
)

// Collector is one tracking API node.
type Collector struct {
	cfg      Config
	log      *slog.Logger
	m        *metrics
	keys     map[string]*source
	delivery *delivery
	bad      *badRows
	replayer *failover.Replayer

	pubs    []*pubsubsink.Publisher
	clients []*pubsub.Client
	gcs     *storage.Client

	handler  http.Handler
	draining atomic.Bool

	mu       sync.Mutex
	srv      *http.Server
	stopBg   context.CancelFunc
	bg       sync.WaitGroup
	shutOnce sync.Once
	shutErr  error
}

// source is a write key's source and its rate limiter (nil: unlimited).
type source struct {
	id      string
	limiter *rate.Limiter
}

// New connects to Pub/Sub and GCS and builds the collector. It does not
// check that topics exist (the collector must start while Pub/Sub is down
// and fail over); Check does.
func New(ctx context.Context, cfg Config) (*Collector, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Collector{cfg: cfg, log: cfg.Logger.With("component", "collector", "node", cfg.Node), m: newMetrics(cfg.Registry)}
	c.keys = make(map[string]*source, len(cfg.Sources))
	for _, s := range cfg.Sources {
		r, b := s.Rate, s.Burst
		if r == 0 {
			r, b = cfg.Rate, cfg.Burst
		}
		if b <= 0 {
			b = max(1, int(2*r))
		}
		src := &source{id: s.ID}
		if r > 0 {
			src.limiter = rate.NewLimiter(rate.Limit(r), b)
		}
		c.keys[s.WriteKey] = src
	}

	primary, err := pubsubClient(ctx, cfg.Primary)
	if err != nil {
		return nil, err
	}
	c.clients = append(c.clients, primary)
	prim := pubsubsink.New(primary, cfg.Primary.Topic, cfg.Batch)
	dlq := pubsubsink.New(primary, cfg.DLQTopic, cfg.Batch)
	c.pubs = append(c.pubs, prim, dlq)
	targets := []*target{newTarget("primary", prim, cfg.BreakerOpen, c.m)}
	if cfg.Standby.Project != "" {
		standby, err := pubsubClient(ctx, cfg.Standby)
		if err != nil {
			c.closeClients()
			return nil, err
		}
		c.clients = append(c.clients, standby)
		sp := pubsubsink.New(standby, cfg.Standby.Topic, cfg.Batch)
		c.pubs = append(c.pubs, sp)
		targets = append(targets, newTarget("standby", sp, cfg.BreakerOpen, c.m))
	}

	var gopts []option.ClientOption
	if cfg.GCSEndpoint != "" {
		gopts = []option.ClientOption{option.WithEndpoint(cfg.GCSEndpoint + "/storage/v1/"), option.WithoutAuthentication(), storage.WithJSONReads()}
	}
	c.gcs, err = storage.NewClient(ctx, gopts...)
	if err != nil {
		c.closeClients()
		return nil, fmt.Errorf("collector: storage client: %w", err)
	}
	sopts := failover.StoreOptions{Timeout: cfg.FailoverTimeout}
	n := cfg.Names
	c.delivery = &delivery{targets: targets, failover: failover.NewStore(c.gcs, cfg.LakeBucket, n.LakePrefixes.Failover, cfg.Node, sopts), m: c.m}
	c.bad = &badRows{
		dlq:   newTarget("dlq", dlq, cfg.BreakerOpen, c.m),
		store: failover.NewStore(c.gcs, cfg.LakeBucket, n.LakePrefixes.Badrows, cfg.Node, sopts),
		m:     c.m, log: c.log,
	}
	c.replayer = failover.NewReplayer(c.gcs, cfg.LakeBucket, n.LakePrefixes.Failover, c.delivery, failover.ReplayOptions{
		CorruptPrefix: n.LakePrefixes.Badrows + "failover/",
		OnPublished:   func(_ string, events int) { c.m.replayed.Add(float64(events)) },
	}, c.log)
	c.handler = c.routes()

	bgCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.stopBg = cancel
	if cfg.ReplayInterval > 0 {
		c.bg.Add(1)
		go func() { defer c.bg.Done(); c.replayer.Run(bgCtx, cfg.ReplayInterval) }()
	}
	return c, nil
}

func pubsubClient(ctx context.Context, t Target) (*pubsub.Client, error) {
	var opts []option.ClientOption
	if t.Endpoint != "" {
		opts = []option.ClientOption{
			option.WithEndpoint(t.Endpoint),
			option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		}
	}
	c, err := pubsub.NewClient(ctx, t.Project, opts...)
	if err != nil {
		return nil, fmt.Errorf("collector: pubsub client for %s: %w", t.Project, err)
	}
	return c, nil
}

// Handler serves the tracking API, /healthz, /readyz and /metrics. An
// embedding server must stop sending it requests before Shutdown.
func (c *Collector) Handler() http.Handler { return c.handler }

// Check reports whether the primary topic and the lake bucket answer.
func (c *Collector) Check(ctx context.Context) error {
	if err := c.pubs[0].Connect(ctx); err != nil {
		return err
	}
	return c.delivery.failover.Connect(ctx)
}

// ReplayFailover republishes every failover object now (what
// `segmentflow collector replay-failover` runs).
func (c *Collector) ReplayFailover(ctx context.Context) (failover.Result, error) {
	return c.replayer.ReplayOnce(ctx)
}

// Serve serves on ln until Shutdown; it returns nil after a graceful stop.
func (c *Collector) Serve(ln net.Listener) error {
	srv := &http.Server{
		Handler:           c.handler,
		ReadHeaderTimeout: c.cfg.ReadHeaderTimeout,
		ReadTimeout:       c.cfg.ReadTimeout,
		WriteTimeout:      c.cfg.WriteTimeout,
		IdleTimeout:       c.cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(c.log.Handler(), slog.LevelWarn),
	}
	c.mu.Lock()
	c.srv = srv
	c.mu.Unlock()
	c.log.Info("collector listening", "addr", ln.Addr().String(), "topic", c.pubs[0].Topic())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("collector: serve: %w", err)
	}
	return nil
}

// Shutdown stops accepting requests, waits for those in flight (each
// returns only once its events are held by Pub/Sub or GCS), flushes every
// publisher and closes the clients. Nothing acknowledged is lost.
func (c *Collector) Shutdown(ctx context.Context) error {
	c.shutOnce.Do(func() { c.shutErr = c.shutdown(ctx) })
	return c.shutErr
}

func (c *Collector) shutdown(ctx context.Context) error {
	c.draining.Store(true)
	var errs []error
	c.mu.Lock()
	srv := c.srv
	c.mu.Unlock()
	if srv != nil {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("collector: http shutdown: %w", err))
		}
	}
	c.stopBg()
	c.bg.Wait()
	for _, p := range c.pubs {
		if err := p.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	c.closeClients()
	c.log.Info("collector stopped")
	return errors.Join(errs...)
}

func (c *Collector) closeClients() {
	for _, cl := range c.clients {
		_ = cl.Close()
	}
	if c.gcs != nil {
		_ = c.gcs.Close()
	}
}
