package rulesapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"time"

	"github.com/segmentflow/segmentflow/event"
	"github.com/segmentflow/segmentflow/io/rulestore"
	"github.com/segmentflow/segmentflow/rules"
)

// dryRunRequest is the body of POST /v1/rulesets:test.
type dryRunRequest struct {
	// RuleSet is the draft to try (object, or YAML/JSON text); the current
	// version when absent.
	RuleSet json.RawMessage `json:"ruleset,omitempty"`
	// Event is one Segment-format message; type defaults to track and
	// messageId to "dry-run".
	Event json.RawMessage `json:"event"`
	// User is the user view rules see (traits and stats).
	User rules.User `json:"user"`
	// Segments the user is in before the event: a list of ids, or an
	// object of id -> membership as the profile stores it.
	Segments json.RawMessage `json:"segments,omitempty"`
	// Now is the evaluation time; the event's time when absent.
	Now *time.Time `json:"now,omitempty"`
}

type ruleOutcome struct {
	ID      string `json:"id"`
	Segment string `json:"segment"`
	Matched bool   `json:"matched"`
	// Filtered means the rule's events pre-filter excluded this event.
	Filtered bool `json:"filtered"`
}

type segmentOut struct {
	ID           string    `json:"id"`
	AssignedAt   time.Time `json:"assigned_at"`
	Rule         string    `json:"rule,omitempty"`
	RulesVersion int64     `json:"rules_version,omitempty"`
	ExpiresAt    time.Time `json:"expires_at,omitzero"`
}

type dryRunResponse struct {
	// Version is what the run compiled as: the current version, or the
	// next one for a draft.
	Version        int64                   `json:"version"`
	Draft          bool                    `json:"draft"`
	EventName      string                  `json:"event_name"`
	EventTime      time.Time               `json:"event_time"`
	Now            time.Time               `json:"now"`
	Interested     bool                    `json:"interested"`
	Rules          []ruleOutcome           `json:"rules"`
	Evaluated      int                     `json:"evaluated"`
	Matched        int                     `json:"matched"`
	Errors         int                     `json:"errors"`
	Before         []segmentOut            `json:"before"`
	After          []segmentOut            `json:"after"`
	Added          []string                `json:"added"`
	Removed        []string                `json:"removed"`
	Changed        bool                    `json:"changed"`
	PartnerChanges map[string]rules.Change `json:"partner_changes"`
}

func (s *Server) dryRun(w http.ResponseWriter, r *http.Request, _ Principal) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	var req dryRunRequest
	if err := jsonStrict(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "test body: "+err.Error())
		return
	}
	cur, err := s.cfg.Store.CurrentNumber(r.Context())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	res := dryRunResponse{Version: cur}
	var doc []byte
	if len(bytes.TrimSpace(req.RuleSet)) == 0 || string(req.RuleSet) == "null" {
		v, err := s.cfg.Store.Current(r.Context())
		if errors.Is(err, rulestore.ErrNotFound) {
			writeError(w, http.StatusBadRequest, "bad_request", "no rule set is published yet; send a draft in \"ruleset\"")
			return
		}
		if err != nil {
			s.internal(w, r, err)
			return
		}
		doc = v.Document
	} else {
		doc = docOf([]byte(`{"ruleset":` + string(req.RuleSet) + `}`))
		res.Version, res.Draft = cur+1, true
	}
	rs, err := rules.Parse(doc)
	var eng *rules.Engine
	if err == nil {
		eng, err = rules.Compile(rs, res.Version)
	}
	if err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, apiError{
			Error: "the rule set does not compile", Code: "invalid", Problems: problemsOf(err),
		})
		return
	}
	ev, err := sampleEvent(req.Event, s.cfg.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_event", err.Error())
		return
	}
	res.EventName, res.EventTime = ev.EventName(), ev.EventTime
	res.Now = ev.EventTime
	if req.Now != nil {
		res.Now = *req.Now
	}
	st, err := initialState(req.Segments, ev.EventTime)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_segments", err.Error())
		return
	}

	res.Interested = eng.Interested(res.EventName)
	matches, stats := eng.Evaluate(&ev, &req.User, res.Now)
	res.Evaluated, res.Matched, res.Errors = stats.Evaluated, stats.Matched, stats.Errors
	matched := map[string]bool{}
	for _, m := range matches {
		matched[m.Rule] = true
	}
	for _, rule := range rs.Rules {
		res.Rules = append(res.Rules, ruleOutcome{
			ID: rule.ID, Segment: rule.Segment, Matched: matched[rule.ID],
			Filtered: len(rule.Events) > 0 && !slices.Contains(rule.Events, res.EventName),
		})
	}

	before := eng.View(st, res.Now)
	res.Changed = eng.Merge(&st, matches, res.Now)
	after := eng.View(st, res.Now)
	res.Added, res.Removed = rules.Diff(before, after)
	res.Before, res.After = segmentsOut(before), segmentsOut(after)
	res.PartnerChanges = eng.PartnerChanges(ev.UserKey(), before, after, ev.EventTime, res.Version)
	if res.Added == nil {
		res.Added = []string{}
	}
	if res.Removed == nil {
		res.Removed = []string{}
	}
	writeJSON(w, http.StatusOK, res)
}

// sampleEvent parses a sample message as the collector would, filling what
// a hand-written sample usually leaves out.
func sampleEvent(raw json.RawMessage, now time.Time) (event.Event, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return event.Event{}, errors.New(`"event" is required: a Segment message like {"type":"track","event":"user-clicked-on-ad","userId":"u1"}`)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return event.Event{}, fmt.Errorf("event: %w", err)
	}
	if _, ok := m["type"]; !ok {
		m["type"] = "track"
	}
	if _, ok := m["messageId"]; !ok {
		m["messageId"] = "dry-run"
	}
	if _, ok := m["userId"]; !ok {
		if _, ok := m["anonymousId"]; !ok {
			m["userId"] = "dry-run-user"
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return event.Event{}, fmt.Errorf("event: %w", err)
	}
	ev, err := event.Parse(b, "", event.Received{At: now}, event.Limits{})
	if err != nil {
		return event.Event{}, fmt.Errorf("event: %w", err)
	}
	if ev.EventTime.IsZero() {
		ev.EventTime = event.CorrectedTime(ev.Timestamp, ev.OriginalTimestamp, ev.SentAt, now)
	}
	return ev, nil
}

// initialState builds the merge state of the user before the sample event.
func initialState(raw json.RawMessage, at time.Time) (rules.State, error) {
	st := rules.State{Segments: map[string]rules.Membership{}}
	if len(bytes.TrimSpace(raw)) == 0 || string(raw) == "null" {
		return st, nil
	}
	var ids []string
	if err := json.Unmarshal(raw, &ids); err == nil {
		// A plain list: members since an hour before the event, so the event
		// is the latest match in any group it touches.
		for _, id := range ids {
			t := at.Add(-time.Hour)
			st.Segments[id] = rules.Membership{AssignedAt: t, LastMatchedAt: t, Rule: "(given)"}
		}
		return st, nil
	}
	if err := json.Unmarshal(raw, &st.Segments); err != nil {
		return st, fmt.Errorf(`segments: want ["id", ...] or {"id": {"assigned_at": ...}}: %w`, err)
	}
	return st, nil
}

func segmentsOut(view map[string]rules.Membership) []segmentOut {
	out := make([]segmentOut, 0, len(view))
	for id, m := range view {
		out = append(out, segmentOut{ID: id, AssignedAt: m.AssignedAt, Rule: m.Rule, RulesVersion: m.RulesVersion, ExpiresAt: m.ExpiresAt})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
