package localstack

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"google.golang.org/api/iterator"

	"github.com/segmentflow/segmentflow/io/bigtablestore"
	"github.com/segmentflow/segmentflow/rules"
)

func TestMain(m *testing.M) { ptest.Main(m) }

var httpc = &http.Client{Timeout: 30 * time.Second}

// e2e is the stack under test and helpers that talk to it over its real
// HTTP APIs and emulators.
type e2e struct {
	t  *testing.T
	st *Stack
}

// startE2E starts a stack on free ports with the game rule set; each
// option may change its Config before the start.
func startE2E(t *testing.T, options ...func(*Config)) *e2e {
	t.Helper()
	doc, err := os.ReadFile("../testdata/rulesets/game.yaml")
	if err != nil {
		t.Fatal(err)
	}
	free := "127.0.0.1:0"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := Config{
		CollectorAddr: free, RulesAddr: free, ProfilesAddr: free,
		PubSubAddr: free, BigtableAddr: free, GCSAddr: free, ReceiverAddr: free,
		RuleSet:  doc,
		LakeRoll: 2 * time.Second,
		// Shutdown's drain is not under test here; keep cleanup short.
		DrainTimeout: 5 * time.Second,
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	for _, o := range options {
		o(&cfg)
	}
	st, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := st.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return &e2e{t: t, st: st}
}

// do sends one request and decodes a JSON reply into out (when not nil).
func (e *e2e) do(method, url string, body []byte, header map[string]string, out any) int {
	e.t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := httpc.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: %d %s: %v", method, url, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

// track posts a batch to the collector with the write key as Basic user.
func (e *e2e) batch(msgs ...map[string]any) (int, map[string]any) {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"batch": msgs, "sentAt": time.Now().UTC().Format(time.RFC3339Nano)})
	var reply map[string]any
	code := e.do(http.MethodPost, e.st.CollectorURL+"/v1/batch", body, map[string]string{"Authorization": basic("dev")}, &reply)
	return code, reply
}

func basic(key string) string {
	req, _ := http.NewRequest(http.MethodGet, "http://x", nil)
	req.SetBasicAuth(key, "")
	return req.Header.Get("Authorization")
}

func msg(typ, id, user string, extra map[string]any) map[string]any {
	m := map[string]any{"type": typ, "messageId": id, "timestamp": time.Now().UTC().Format(time.RFC3339Nano)}
	if user != "" {
		m["userId"] = user
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// eventually polls f until it returns nil or limit passes. The limits bound
// waiting on a loaded CI box; they are not latency assertions.
func eventually(t *testing.T, limit time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, limit, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func TestEndToEnd(t *testing.T) {
	e := startE2E(t)
	st := e.st
	ctx := context.Background()
	run := fmt.Sprint(time.Now().UnixNano())
	ios, android := "e2e-ios-"+run, "e2e-android-"+run

	// The stats pipeline's share: a user who played enough cards today to
	// be engaged.
	users := bigtablestore.NewUsers(st.btClient, st.Names.Tables.Users)
	if err := users.PutStats(ctx, ios, rules.Stats{Daily: rules.Counters{CardsPlayed: 12, AdsWatched: 4}}); err != nil {
		t.Fatal(err)
	}

	// Events through the real tracking API, one of them malformed.
	iosCtx := map[string]any{"os": map[string]any{"name": "iOS"}}
	code, reply := e.batch(
		msg("identify", "m1-"+run, ios, map[string]any{"traits": map[string]any{"birthDate": "1996-05-04"}, "context": iosCtx}),
		msg("track", "m2-"+run, ios, map[string]any{"event": "user-opened-app", "context": iosCtx}),
		msg("track", "m3-"+run, ios, map[string]any{"event": "user-played-card", "context": iosCtx, "properties": map[string]any{"card": "c1"}}),
		msg("track", "m4-"+run, android, map[string]any{"event": "user-opened-app", "context": map[string]any{"os": map[string]any{"name": "Android"}}}),
		msg("track", "bad-"+run, "", map[string]any{"event": "user-opened-app"}), // neither userId nor anonymousId
	)
	if code != http.StatusOK || reply["errors"] == nil {
		t.Fatalf("batch with one malformed message: %d %v, want 200 with per-message errors", code, reply)
	}
	if code, _ := e.batch(msg("track", "nothing-valid-"+run, ios, nil)); code != http.StatusBadRequest {
		t.Fatalf("batch of only invalid messages (a track without event): %d, want 400", code)
	}
	valid := []string{"m1-" + run, "m2-" + run, "m3-" + run, "m4-" + run}

	t.Run("dead letters", func(t *testing.T) {
		sub := st.psClient.Subscriber(st.Names.Subscriptions.EventsDLQ)
		found := make(chan map[string]any, 1)
		rctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		err := sub.Receive(rctx, func(_ context.Context, m *pubsub.Message) {
			m.Ack()
			var row map[string]any
			if json.Unmarshal(m.Data, &row) == nil && strings.Contains(fmt.Sprint(row["payload"]), "bad-"+run) {
				select {
				case found <- row:
					cancel()
				default:
				}
			}
		})
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("receive dead letters: %v", err)
		}
		select {
		case row := <-found:
			if row["reason"] == "" || row["reason"] == nil {
				t.Fatalf("dead letter without a reason: %v", row)
			}
		default:
			t.Fatal("the malformed message is not on the events-dlq topic")
		}
		if s := st.Status(); s.Refused < 1 || s.DeadLetters < 1 || s.Accepted < int64(len(valid)) {
			t.Fatalf("status %+v: want >= %d accepted, >= 1 refused and dead-lettered", s, len(valid))
		}
	})

	t.Run("lake", func(t *testing.T) {
		eventually(t, 2*time.Minute, "events in raw lake objects", func() error {
			ids, err := lakeIDs(ctx, st)
			if err != nil {
				return err
			}
			for _, id := range valid {
				if !ids[id] {
					return fmt.Errorf("message %s not in the lake yet (%d ids there)", id, len(ids))
				}
			}
			if ids["bad-"+run] {
				t.Fatal("the malformed message reached the lake")
			}
			return nil
		})
		eventually(t, time.Minute, "the status line's lake count", func() error {
			if n := st.Status().InLake; n < int64(len(valid)) {
				return fmt.Errorf("in lake %d", n)
			}
			return nil
		})
	})

	// A rule-set change through the REST API: a new segment for a probe
	// event, sent to dsp-a.
	published := publishProbeRule(t, e)

	t.Run("rules API", func(t *testing.T) {
		var cur struct {
			Current int64 `json:"current_version"`
		}
		if code := e.do(http.MethodGet, st.RulesURL+"/v1/rulesets/current", nil, map[string]string{"Authorization": "Bearer dev"}, &cur); code != http.StatusOK || cur.Current != 2 {
			t.Fatalf("current rule set: %d version %d, want 200 version 2", code, cur.Current)
		}
		if code := e.do(http.MethodGet, st.RulesURL+"/v1/rulesets/current", nil, map[string]string{"Authorization": "Bearer wrong"}, nil); code != http.StatusUnauthorized {
			t.Fatalf("wrong token: %d, want 401", code)
		}
	})

	t.Run("profiles and partners", func(t *testing.T) {
		if !st.Classifying() || st.ProfilesURL == "" {
			t.Skip("the classify pipeline or the profile API is not in this build yet")
		}
		eventually(t, 2*time.Minute, "profile of the iOS player", func() error {
			segs, err := profileSegments(e, ios)
			if err != nil {
				return err
			}
			for _, want := range []string{"os-ios", "age-25-34", "engaged"} {
				if !slices.Contains(segs, want) {
					return fmt.Errorf("segments %v lack %s", segs, want)
				}
			}
			return nil
		})
		if code := e.do(http.MethodGet, st.ProfilesURL+"/v1/profiles/nobody-"+run, nil, nil, nil); code != http.StatusNotFound {
			t.Fatalf("unknown user: %d, want 404", code)
		}
		eventually(t, 2*time.Minute, "deliveries at the partner receivers", func() error {
			c, ok := st.Receivers["dsp-a"].LastChange(ios)
			if !ok || !slices.Contains(c.Segments, "os-ios") {
				return fmt.Errorf("dsp-a has %+v for %s", c, ios)
			}
			c, ok = st.Receivers["dmp-b"].LastChange(ios)
			if !ok || !slices.Contains(c.Segments, "age-25-34") {
				return fmt.Errorf("dmp-b has %+v for %s", c, ios)
			}
			if c, ok := st.Receivers["dsp-a"].LastChange(android); !ok || !slices.Contains(c.Segments, "os-android") {
				return fmt.Errorf("dsp-a has %+v for %s", c, android)
			}
			return nil
		})
		for id, r := range st.Receivers {
			if r.BadSignatures() != 0 {
				t.Errorf("receiver %s refused %d requests for their signature", id, r.BadSignatures())
			}
		}

		// The new rule version applies without a restart: probe events are
		// sent until the profile and dsp-a show the new segment.
		var applied time.Duration
		eventually(t, time.Minute, "the new rule version", func() error {
			e.batch(msg("track", fmt.Sprintf("probe-%s-%d", run, time.Now().UnixNano()), ios, map[string]any{"event": "e2e-probe"}))
			segs, err := profileSegments(e, ios)
			if err != nil {
				return err
			}
			if !slices.Contains(segs, "e2e-probe") {
				return fmt.Errorf("segments %v", segs)
			}
			applied = time.Since(published)
			return nil
		})
		t.Logf("rule version 2 applied %s after publishing", applied.Round(time.Millisecond))
		if applied > 10*time.Second {
			t.Errorf("rule version 2 applied %s after publishing, want within 10 s", applied.Round(time.Millisecond))
		}
		eventually(t, time.Minute, "dsp-a receives the new segment", func() error {
			if c, _ := st.Receivers["dsp-a"].LastChange(ios); !slices.Contains(c.Segments, "e2e-probe") {
				return fmt.Errorf("dsp-a has %+v", c)
			}
			return nil
		})
		if s := st.Status(); s.ProfilesChanged < 2 || s.ToProfile.Count == 0 || s.ToPartner.Count == 0 {
			t.Fatalf("status %+v: want profile changes and latency samples", s)
		}
	})
}

// publishProbeRule PUTs version 2 through the REST API: the example rule set
// plus segment e2e-probe, matched by event e2e-probe and sent to dsp-a.
func publishProbeRule(t *testing.T, e *e2e) time.Time {
	t.Helper()
	rs, err := rules.Parse(e.st.cfg.RuleSet)
	if err != nil {
		t.Fatal(err)
	}
	rs.Segments = append(rs.Segments, rules.Segment{ID: "e2e-probe", Name: "Probe"})
	rs.Rules = append(rs.Rules, rules.Rule{ID: "e2e-probe", Segment: "e2e-probe", Events: []string{"e2e-probe"}, When: `event.name == "e2e-probe"`})
	for i := range rs.Partners {
		if rs.Partners[i].ID == "dsp-a" {
			rs.Partners[i].Segments = append(rs.Partners[i].Segments, "e2e-probe")
		}
	}
	doc, _ := json.Marshal(rs)
	var v struct {
		Current int64 `json:"current_version"`
	}
	code := e.do(http.MethodPut, e.st.RulesURL+"/v1/rulesets/current", doc, map[string]string{"Authorization": "Bearer dev", "If-Match": `"1"`}, &v)
	if code != http.StatusCreated || v.Current != 2 {
		t.Fatalf("publish version 2: %d %+v", code, v)
	}
	// A stale editor is refused, not silently overwritten.
	if code := e.do(http.MethodPut, e.st.RulesURL+"/v1/rulesets/current", doc, map[string]string{"Authorization": "Bearer dev", "If-Match": `"1"`}, nil); code != http.StatusConflict {
		t.Fatalf("stale publish: %d, want 409", code)
	}
	return time.Now()
}

// profileSegments reads a user's segment ids through the profile API.
func profileSegments(e *e2e, user string) ([]string, error) {
	var p struct {
		UserID   string `json:"user_id"`
		Segments []struct {
			ID string `json:"id"`
		} `json:"segments"`
	}
	if code := e.do(http.MethodGet, e.st.ProfilesURL+"/v1/profiles/"+user, nil, nil, &p); code != http.StatusOK {
		return nil, fmt.Errorf("profile %s: status %d", user, code)
	}
	ids := make([]string, len(p.Segments))
	for i, s := range p.Segments {
		ids[i] = s.ID
	}
	return ids, nil
}

// lakeIDs reads every raw lake object and returns the message ids in them.
func lakeIDs(ctx context.Context, st *Stack) (map[string]bool, error) {
	ids := map[string]bool{}
	b := st.gcs.Bucket(st.Names.Buckets.Lake)
	it := b.Objects(ctx, nil)
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return ids, nil
		}
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(a.Name, st.Names.LakePrefixes.Raw) {
			continue
		}
		r, err := b.Object(a.Name).NewReader(ctx)
		if err != nil {
			return nil, err
		}
		zr, err := gzip.NewReader(r)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("%s: %w", a.Name, err)
		}
		sc := bufio.NewScanner(zr)
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			var ev struct {
				MessageID string `json:"messageId"`
			}
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				ids[ev.MessageID] = true
			}
		}
		r.Close()
	}
}
