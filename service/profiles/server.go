// Package profiles is the profile lookup API for ad decisions (`segmentflow
// profiles`): `GET /v1/profiles/{userId}` reads the user's row of Bigtable
// `profiles` and serves the segments the user is in at the time of the
// request, with the current rule set's ttls applied.
package profiles

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/segmentflow/segmentflow/io/bigtablestore"
	"github.com/segmentflow/segmentflow/io/rulestore"
	"github.com/segmentflow/segmentflow/rules"
)

// Config configures a Server.
type Config struct {
	// Profiles is the `profiles` table; required.
	Profiles *bigtablestore.Profiles
	// Rules is the rules repository the server follows for segment ttls and
	// the catalog; nil serves the stored view with the ttls it was written
	// with.
	Rules *rulestore.Store
	// RulesPoll is how often the current-version pointer is polled; 2 s
	// when zero.
	RulesPoll time.Duration
	// LookupTimeout bounds one Bigtable read; 2 s when zero.
	LookupTimeout time.Duration
	// Registry receives the server's metrics; a new one when nil.
	Registry *prometheus.Registry
	// Logger; slog.Default() when nil.
	Logger *slog.Logger
	// Now is the clock ttls are judged by; time.Now when nil.
	Now func() time.Time
}

// Server serves the profile API. Start it with New, stop it with Close.
type Server struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	mux     *http.ServeMux
	// engine is the compiled current rule set; nil until one is loaded.
	engine  atomic.Pointer[rules.Engine]
	watcher *rulestore.Watcher
}

// New starts following cfg.Rules (when set) and returns the server.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Profiles == nil {
		return nil, errors.New("profiles: Config.Profiles is required")
	}
	if cfg.RulesPoll <= 0 {
		cfg.RulesPoll = 2 * time.Second
	}
	if cfg.LookupTimeout <= 0 {
		cfg.LookupTimeout = 2 * time.Second
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, log: cfg.Logger, metrics: newMetrics(cfg.Registry), mux: http.NewServeMux()}
	if cfg.Rules != nil {
		// The watcher outlives the request that built the server, so it
		// gets a context of its own that only Close ends.
		s.watcher = rulestore.Watch(context.WithoutCancel(ctx), cfg.Rules, cfg.RulesPoll, s.loadRules)
	}
	s.routes()
	return s, nil
}

// Close stops following the rules repository.
func (s *Server) Close() {
	if s.watcher != nil {
		s.watcher.Stop()
	}
}

// Handler is the whole HTTP surface: the API, health and metrics.
func (s *Server) Handler() http.Handler { return s.mux }

// RulesVersion is the rule-set version in force (0: none loaded).
func (s *Server) RulesVersion() int64 {
	if e := s.engine.Load(); e != nil {
		return e.Version()
	}
	return 0
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{}))
	s.mux.Handle("GET /v1/profiles/{userId}", s.metrics.instrument("/v1/profiles/{userId}", http.HandlerFunc(s.getProfile)))
}

func (s *Server) getProfile(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("userId")
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.LookupTimeout)
	defer cancel()
	sp, err := s.cfg.Profiles.GetServed(ctx, id)
	if err != nil {
		s.metrics.lookups.WithLabelValues("error").Inc()
		s.log.ErrorContext(r.Context(), "profile lookup failed", "user_id", id, "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "profile store unavailable")
		return
	}
	if sp == nil {
		s.metrics.lookups.WithLabelValues("not_found").Inc()
		writeError(w, http.StatusNotFound, "not_found", "no profile for user "+id)
		return
	}
	s.metrics.lookups.WithLabelValues("found").Inc()
	p := sp.Profile
	p.Segments = served(s.engine.Load(), p.Segments, s.cfg.Now())
	writeJSON(w, http.StatusOK, p.Doc())
}

// readyz is ready when Bigtable answers and the last poll of the rules
// repository succeeded (an empty repository is fine: there is nothing to
// follow yet).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	// A point read of a key no user has: one round trip, no data.
	if _, err := s.cfg.Profiles.GetServed(ctx, "\x00readyz"); err != nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "bigtable: "+err.Error())
		return
	}
	if s.watcher != nil {
		if err := s.watcher.Err(); err != nil {
			writeError(w, http.StatusServiceUnavailable, "unavailable", "rules repository: "+err.Error())
			return
		}
	}
	w.Write([]byte("ok\n"))
}

type apiError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{Error: msg, Code: code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
