// Package activate delivers profile changes to partners (DESIGN.md, Partner
// delivery). Each partner gets an independent loop: its own Pub/Sub
// subscription (activation-<partner>-activate), lanes (concurrency),
// rate limiter, batching, retry state and circuit breaker, so one partner's
// outage or slowness never delays another. Messages are acked only once the
// partner accepted their change or it is stored as a dead letter.
package activate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/storage"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/segmentflow/segmentflow/infra"
	"github.com/segmentflow/segmentflow/io/partner"
	"github.com/segmentflow/segmentflow/rules"
)

// Options configure a Service.
type Options struct {
	// PubSub reads the activation subscriptions (nil is allowed for a
	// service used only to redrive).
	PubSub *pubsub.Client
	// GCS holds the dead-letter stores and gs:// file drops.
	GCS *storage.Client
	// Names are the resource names (infra.Default() when zero).
	Names infra.Names
	// LakeBucket holds dead letters under deadletter/<partner>/
	// (Names.Buckets.Lake when empty).
	LakeBucket string
	// Partners come from the rule set.
	Partners []rules.Partner
	// Only, when set, restricts the service to these partner ids.
	Only []string
	// Config is the deployment config (secrets and limits).
	Config Config
	// Registry receives the metrics (a new registry when nil).
	Registry prometheus.Registerer
	// HTTPClient is used by HTTP sinks (a default client when nil).
	HTTPClient *http.Client
	// Logger (slog.Default() when nil).
	Logger *slog.Logger
}

// Service runs the delivery loops of the configured partners.
type Service struct {
	loops []*loop
	log   *slog.Logger
}

// New builds a loop per partner. It fails on a partner it cannot deliver to
// (bad endpoint, missing secret), before anything is received.
func New(opts Options) (*Service, error) {
	if opts.Names.Topics.ActivationPrefix == "" {
		opts.Names = infra.Default()
	}
	if opts.LakeBucket == "" {
		opts.LakeBucket = opts.Names.Buckets.Lake
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.GCS == nil {
		return nil, errors.New("activate: a GCS client is needed for the dead-letter stores")
	}
	if opts.Config.Partners == nil {
		opts.Config.Defaults = DefaultLimits
	}
	m, err := newMetrics(opts.Registry)
	if err != nil {
		return nil, fmt.Errorf("activate: metrics: %w", err)
	}
	partners, err := selectPartners(opts.Partners, opts.Only)
	if err != nil {
		return nil, err
	}
	for id := range opts.Config.Partners {
		if !hasPartner(opts.Partners, id) {
			opts.Logger.Warn("activate: config names a partner the rule set does not have", "partner", id)
		}
	}
	s := &Service{log: opts.Logger}
	for _, p := range partners {
		l, err := newLoop(opts, p, m)
		if err != nil {
			return nil, err
		}
		s.loops = append(s.loops, l)
	}
	return s, nil
}

func hasPartner(ps []rules.Partner, id string) bool {
	for _, p := range ps {
		if p.ID == id {
			return true
		}
	}
	return false
}

func selectPartners(all []rules.Partner, only []string) ([]rules.Partner, error) {
	if len(only) == 0 {
		return all, nil
	}
	var out []rules.Partner
	for _, id := range only {
		found := false
		for _, p := range all {
			if p.ID == id {
				out = append(out, p)
				found = true
			}
		}
		if !found {
			ids := make([]string, len(all))
			for i, p := range all {
				ids[i] = p.ID
			}
			sort.Strings(ids)
			return nil, fmt.Errorf("activate: partner %q is not in the rule set (partners: %s)", id, strings.Join(ids, ", "))
		}
	}
	return out, nil
}

func newLoop(opts Options, p rules.Partner, m *metrics) (*loop, error) {
	pc := opts.Config.For(p.ID)
	if pc.Endpoint != "" {
		p.Endpoint = pc.Endpoint
	}
	if pc.Path != "" {
		p.Path = pc.Path
	}
	lim := pc.Limits
	if err := lim.check(); err != nil {
		return nil, fmt.Errorf("activate: partner %s: %w", p.ID, err)
	}
	var sink partner.Sink
	switch p.DeliveryKind() {
	case rules.PartnerHTTP:
		key, err := pc.Key()
		if err != nil {
			return nil, fmt.Errorf("activate: partner %s: %w", p.ID, err)
		}
		headers, err := pc.Headers()
		if err != nil {
			return nil, fmt.Errorf("activate: partner %s: %w", p.ID, err)
		}
		var limiter *rate.Limiter
		if lim.Rate > 0 {
			limiter = rate.NewLimiter(rate.Limit(lim.Rate), max(lim.Burst, 1))
		}
		hs, err := partner.NewHTTP(partner.HTTPConfig{
			Endpoint: p.Endpoint,
			Key:      key,
			Headers:  headers,
			Timeout:  time.Duration(lim.Timeout),
			Array:    lim.BatchMode == "array",
			Limiter:  limiter,
			Client:   opts.HTTPClient,
		})
		if err != nil {
			return nil, fmt.Errorf("activate: partner %s: %w", p.ID, err)
		}
		if len(key) == 0 {
			opts.Logger.Warn("activate: partner has no HMAC key; requests are not signed", "partner", p.ID)
		}
		sink = hs
	case rules.PartnerFileDrop:
		fd, err := partner.NewFileDrop(partner.FileDropConfig{Partner: p.ID, URL: p.Path, Format: lim.Format, GCS: opts.GCS})
		if err != nil {
			return nil, fmt.Errorf("activate: partner %s: %w", p.ID, err)
		}
		sink = fd
	default:
		return nil, fmt.Errorf("activate: partner %s: unknown kind %q", p.ID, p.Kind)
	}
	l := &loop{
		id:    p.ID,
		lim:   lim,
		sink:  sink,
		dl:    partner.NewDeadLetters(opts.GCS, opts.LakeBucket, opts.Names.LakePrefixes.Deadletter, p.ID),
		cb:    newBreaker(p.ID, lim.Breaker, m, opts.Logger),
		m:     m,
		log:   opts.Logger,
		retry: lim.Retry.policy(),
	}
	if opts.PubSub != nil {
		sub := opts.PubSub.Subscriber(opts.Names.ActivationSubscription(p.ID))
		sub.ReceiveSettings.MaxOutstandingMessages = lim.MaxOutstanding
		sub.ReceiveSettings.NumGoroutines = lim.Streams
		// Messages are held while a batch is retried: extend their
		// deadlines for at least the retry budget.
		sub.ReceiveSettings.MaxExtension = max(time.Hour, 2*time.Duration(lim.Retry.Budget))
		sub.ReceiveSettings.ShutdownOptions = &pubsub.ShutdownOptions{
			Behavior: pubsub.ShutdownBehaviorNackImmediately,
			Timeout:  5 * time.Second,
		}
		l.sub = sub
	}
	return l, nil
}

// Partners are the ids the service delivers to.
func (s *Service) Partners() []string {
	ids := make([]string, len(s.loops))
	for i, l := range s.loops {
		ids[i] = l.id
	}
	return ids
}

// Run runs every partner's loop until ctx ends. A loop whose subscription
// fails is restarted with backoff on its own; the others go on.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, l := range s.loops {
		if l.sub == nil {
			return errors.New("activate: Run needs a Pub/Sub client")
		}
		if err := l.sink.Connect(ctx); err != nil {
			return fmt.Errorf("activate: partner %s: connect: %w", l.id, err)
		}
	}
	for _, l := range s.loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.supervise(ctx, l)
		}()
	}
	wg.Wait()
	for _, l := range s.loops {
		_ = l.sink.Close(context.WithoutCancel(ctx))
	}
	return nil
}

func (s *Service) supervise(ctx context.Context, l *loop) {
	wait := time.Second
	for {
		s.log.Info("activate: delivering", "partner", l.id)
		err := l.run(ctx)
		if ctx.Err() != nil {
			return
		}
		s.log.Error("activate: partner loop stopped; restarting", "partner", l.id, "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}
