package rulesapi

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/segmentflow/segmentflow/io/rulestore"
	"github.com/segmentflow/segmentflow/rules"
)

// versionResponse is a version as the API returns it.
type versionResponse struct {
	*rulestore.Version
	Current int64 `json:"current_version"`
}

func (s *Server) getCurrent(w http.ResponseWriter, r *http.Request, _ Principal) {
	v, err := s.cfg.Store.Current(r.Context())
	if errors.Is(err, rulestore.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "no rule set is published yet; PUT one with If-Match: \"0\"")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	w.Header().Set("ETag", etag(v.Number))
	writeJSON(w, http.StatusOK, versionResponse{Version: v, Current: v.Number})
}

func (s *Server) getVersion(w http.ResponseWriter, r *http.Request, _ Principal) {
	n, err := strconv.ParseInt(r.PathValue("version"), 10, 64)
	if err != nil || n <= 0 {
		writeError(w, http.StatusNotFound, "not_found", "no such version: "+r.PathValue("version"))
		return
	}
	v, err := s.cfg.Store.Get(r.Context(), n)
	if errors.Is(err, rulestore.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "no such version: "+r.PathValue("version"))
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	cur, err := s.cfg.Store.CurrentNumber(r.Context())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, versionResponse{Version: v, Current: cur})
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, _ Principal) {
	h, err := s.cfg.Store.List(r.Context())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	cur := int64(0)
	if len(h) > 0 {
		cur = h[0].Version
	}
	writeJSON(w, http.StatusOK, map[string]any{"current_version": cur, "versions": h})
}

func (s *Server) putCurrent(w http.ResponseWriter, r *http.Request, p Principal) {
	c, err := readChange(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if c.Expected == nil {
		writeError(w, http.StatusPreconditionRequired, "precondition_required",
			`say which version this change is based on: If-Match: "N" or "expected_version": N (0 for the first)`)
		return
	}
	v, err := s.cfg.Store.Publish(r.Context(), c.Doc, *c.Expected, p.Name, c.Message)
	s.published(w, r, p, rulestore.ActionPublish, *c.Expected, 0, v, err)
}

// postVersionAction serves POST /v1/rulesets/{version}:rollback.
func (s *Server) postVersionAction(w http.ResponseWriter, r *http.Request, p Principal) {
	ver, action, ok := strings.Cut(r.PathValue("action"), ":")
	n, err := strconv.ParseInt(ver, 10, 64)
	if !ok || action != "rollback" || err != nil || n <= 0 {
		writeError(w, http.StatusNotFound, "not_found", "unknown action; POST /v1/rulesets/{version}:rollback")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	var req struct {
		Expected *int64 `json:"expected_version"`
		Message  string `json:"message"`
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := jsonStrict(body, &req); err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", "rollback body: "+err.Error())
			return
		}
	}
	if req.Expected == nil && r.Header.Get("If-Match") != "" {
		e, err := parseETag(r.Header.Get("If-Match"))
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
		req.Expected = &e
	}
	if req.Expected == nil {
		writeError(w, http.StatusPreconditionRequired, "precondition_required",
			`say which version the rollback replaces: If-Match: "N" or {"expected_version": N}`)
		return
	}
	v, err := s.cfg.Store.Rollback(r.Context(), n, *req.Expected, p.Name, req.Message)
	if errors.Is(err, rulestore.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "no such version: "+ver)
		return
	}
	s.published(w, r, p, rulestore.ActionRollback, *req.Expected, n, v, err)
}

// published answers a publish or rollback and audits it, whatever the outcome.
func (s *Server) published(w http.ResponseWriter, r *http.Request, p Principal, action string, expected, from int64, v *rulestore.Version, err error) {
	ctx := r.Context()
	var conflict *rulestore.ConflictError
	var invalid *rulestore.InvalidError
	switch {
	case err == nil:
		s.metrics.publishes.WithLabelValues(action, "ok").Inc()
		s.log.InfoContext(ctx, "audit: rules "+action, "who", p.Name, "role", p.Role.String(),
			"version", v.Number, "parent", v.Parent, "rollback_of", from, "message", v.Message)
		w.Header().Set("ETag", etag(v.Number))
		writeJSON(w, http.StatusCreated, versionResponse{Version: v, Current: v.Number})
	case errors.As(err, &conflict):
		s.metrics.publishes.WithLabelValues(action, "conflict").Inc()
		s.log.InfoContext(ctx, "audit: rules "+action+" refused: conflict", "who", p.Name,
			"expected", expected, "current", conflict.Current)
		cur := conflict.Current
		writeJSON(w, http.StatusConflict, apiError{
			Error: "the rule set changed since you loaded it: version " + strconv.FormatInt(cur, 10) +
				" is current; reload, reapply your change and publish again",
			Code: "conflict", Current: &cur,
		})
	case errors.As(err, &invalid):
		s.metrics.publishes.WithLabelValues(action, "invalid").Inc()
		s.log.InfoContext(ctx, "audit: rules "+action+" refused: invalid", "who", p.Name, "err", invalid.Err)
		writeJSON(w, http.StatusUnprocessableEntity, apiError{
			Error: "the rule set does not compile; nothing was published", Code: "invalid", Problems: problemsOf(invalid.Err),
		})
	default:
		s.metrics.publishes.WithLabelValues(action, "error").Inc()
		s.internal(w, r, err)
	}
}

// problemsOf turns a parse or compile error into per-rule problems.
func problemsOf(err error) []rules.Problem {
	var ce *rules.CompileError
	if errors.As(err, &ce) {
		return ce.Problems
	}
	return []rules.Problem{{Message: err.Error()}}
}

func (s *Server) internal(w http.ResponseWriter, r *http.Request, err error) {
	s.log.ErrorContext(r.Context(), "rulesapi: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "internal", err.Error())
}
