// Package rulesapi is the rules repository's REST API and the web console
// (`segmentflow rules`): versions, history, validate, dry run, publish and
// rollback over io/rulestore, with bearer-token (or basic) auth by role.
package rulesapi

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/segmentflow/segmentflow/io/rulestore"
	"github.com/segmentflow/segmentflow/rules"
)

// Config configures a Server.
type Config struct {
	// Store is the rules repository.
	Store *rulestore.Store
	// Auth authenticates callers; required (there is no anonymous write path).
	Auth *Auth
	// Console holds the console's static files (index.html at the root);
	// nil serves no console.
	Console fs.FS
	// SampleUsers feed the trait names listed for the editor and the sample
	// user of the dry-run form; optional.
	SampleUsers []rules.User
	// Registry receives the server's metrics; a new one when nil.
	Registry *prometheus.Registry
	// Logger for access and audit logs; slog.Default() when nil.
	Logger *slog.Logger
	// Now is the clock of dry runs; time.Now when nil.
	Now func() time.Time
}

// Server serves the rules API.
type Server struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	mux     *http.ServeMux
}

// maxBody bounds request bodies; a rule set is a few kilobytes.
const maxBody = 2 << 20

// New returns a server over cfg.Store.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Auth == nil {
		return nil, errors.New("rulesapi: Store and Auth are required")
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
	s.routes()
	return s, nil
}

// Handler is the whole HTTP surface: API, console, health and metrics.
func (s *Server) Handler() http.Handler { return s.mux }

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	m.HandleFunc("GET /readyz", s.readyz)
	m.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{}))

	s.handle("GET /v1/rulesets/current", RoleViewer, s.getCurrent)
	s.handle("PUT /v1/rulesets/current", RolePublisher, s.putCurrent)
	s.handle("GET /v1/rulesets", RoleViewer, s.list)
	s.handle("POST /v1/rulesets:validate", RoleViewer, s.validate)
	s.handle("POST /v1/rulesets:test", RoleEditor, s.dryRun)
	s.handle("GET /v1/rulesets/{version}", RoleViewer, s.getVersion)
	// ServeMux wildcards are whole segments, so "{version}:rollback" is
	// matched as one segment and split in the handler.
	s.handle("POST /v1/rulesets/{action}", RolePublisher, s.postVersionAction)
	s.handle("GET /v1/schema", RoleViewer, s.schema)
	s.handle("GET /v1/whoami", RoleViewer, s.whoami)

	if s.cfg.Console != nil {
		m.Handle("GET /", http.FileServerFS(s.cfg.Console))
	}
}

type principalKey struct{}

// handle registers an API route that needs at least role.
func (s *Server) handle(pattern string, role Role, h func(w http.ResponseWriter, r *http.Request, p Principal)) {
	s.mux.Handle(pattern, s.metrics.instrument(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.cfg.Auth.Authenticate(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="segmentflow-rules"`)
			writeError(w, http.StatusUnauthorized, "unauthenticated", "a valid bearer token (or basic user) is required")
			return
		}
		if p.Role < role {
			if role >= RoleEditor && r.Method != http.MethodGet {
				s.log.WarnContext(r.Context(), "audit: change refused", "who", p.Name, "role", p.Role.String(),
					"method", r.Method, "path", r.URL.Path, "needs", role.String())
			}
			writeError(w, http.StatusForbidden, "forbidden", p.Role.String()+" may not do this; it needs "+role.String())
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		h(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)), p)
	})))
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if _, err := s.cfg.Store.CurrentNumber(ctx); err != nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "rules bucket: "+err.Error())
		return
	}
	w.Write([]byte("ok\n"))
}

func (s *Server) whoami(w http.ResponseWriter, _ *http.Request, p Principal) {
	writeJSON(w, http.StatusOK, map[string]string{"name": p.Name, "role": p.Role.String()})
}

// apiError is the body of every error response.
type apiError struct {
	Error   string `json:"error"`
	Code    string `json:"code"`
	Current *int64 `json:"current_version,omitempty"`
	// Problems are the compile problems of an invalid rule set.
	Problems []rules.Problem `json:"problems,omitempty"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{Error: msg, Code: code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
