package profiles

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/segmentflow/segmentflow/emulators"
	"github.com/segmentflow/segmentflow/emulators/emulatortest"
	"github.com/segmentflow/segmentflow/infra"
	"github.com/segmentflow/segmentflow/io/bigtablestore"
	"github.com/segmentflow/segmentflow/io/rulestore"
	"github.com/segmentflow/segmentflow/rules"
)

// rulesV1: ad-clicker (child of engaged) lasts 2 h, ad-watcher 1 h.
const rulesV1 = `
segments:
  - id: engaged
  - id: ad-clicker
    parent: engaged
    ttl: 2h
  - id: ad-watcher
    ttl: 1h
rules:
  - id: clicks
    segment: ad-clicker
    when: 'event.name == "user-clicked-on-ad"'
  - id: watches
    segment: ad-watcher
    when: 'event.name == "user-watched-ad"'
`

// rulesV2 shortens ad-clicker to 1 h and makes ad-watcher permanent.
const rulesV2 = `
segments:
  - id: engaged
  - id: ad-clicker
    parent: engaged
    ttl: 1h
  - id: ad-watcher
rules:
  - id: clicks
    segment: ad-clicker
    when: 'event.name == "user-clicked-on-ad"'
  - id: watches
    segment: ad-watcher
    when: 'event.name == "user-watched-ad"'
`

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

type stack struct {
	// stopBigtable stops the emulator; bttest's Close is not idempotent.
	stopBigtable func()
	profiles     *bigtablestore.Profiles
	rules        *rulestore.Store
}

func newStack(t *testing.T) *stack {
	t.Helper()
	n := infra.Default()
	// Started by hand: a test stops it early, and bttest's Close must run once.
	bt, err := emulators.StartBigtable("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stopBT := sync.OnceFunc(bt.Close)
	t.Cleanup(stopBT)
	g := emulatortest.GCS(t, "")
	emulatortest.Provision(t, emulators.Config{Project: "p", Instance: "i", Names: n}, nil, bt, g)
	btc := emulatortest.BigtableClient(t, bt, "p", "i")
	gc := emulatortest.StorageClient(t, g)
	return &stack{stopBigtable: stopBT, profiles: bigtablestore.NewProfiles(btc, n.Tables.Profiles), rules: rulestore.New(gc, n.Buckets.Rules)}
}

// putU1 writes u1 as the pipeline left it at t0+10m: engaged, ad-clicker
// (last matched t0+10m) and ad-watcher (last matched t0), each with the
// expiry of rulesV1.
func (s *stack) putU1(t *testing.T) {
	t.Helper()
	clicker := rules.Membership{AssignedAt: t0, LastMatchedAt: t0.Add(10 * time.Minute), Rule: "clicks", RulesVersion: 1, ExpiresAt: t0.Add(130 * time.Minute)}
	engaged := rules.Membership{AssignedAt: t0, Rule: "clicks", RulesVersion: 1}
	watcher := rules.Membership{AssignedAt: t0, LastMatchedAt: t0, Rule: "watches", RulesVersion: 1, ExpiresAt: t0.Add(time.Hour)}
	segs := map[string]rules.Membership{"engaged": engaged, "ad-clicker": clicker, "ad-watcher": watcher}
	err := s.profiles.Put(context.Background(), bigtablestore.StoredProfile{
		Profile: rules.Profile{UserID: "u1", Segments: segs, UpdatedAt: t0.Add(10 * time.Minute), Version: 3},
		State:   rules.State{Segments: segs},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func serve(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	srv, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return srv, hs
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

func getProfile(t *testing.T, base, id string) rules.ProfileDoc {
	t.Helper()
	code, body := get(t, base+"/v1/profiles/"+id)
	if code != http.StatusOK {
		t.Fatalf("GET profile %s: %d %s", id, code, body)
	}
	var d rules.ProfileDoc
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("profile body %q: %v", body, err)
	}
	return d
}

// waitVersion waits for the server to follow the repository to version n.
// The bound only limits how long a broken watch is waited for.
func waitVersion(t *testing.T, srv *Server, n int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for srv.RulesVersion() != n {
		if time.Now().After(deadline) {
			t.Fatalf("rules version %d, want %d", srv.RulesVersion(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestProfileFollowsRuleSetTTLs(t *testing.T) {
	ctx := context.Background()
	s := newStack(t)
	s.putU1(t)
	if _, err := s.rules.Publish(ctx, []byte(rulesV1), 0, "test", "v1"); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(90 * time.Minute)
	srv, hs := serve(t, Config{Profiles: s.profiles, Rules: s.rules, RulesPoll: 50 * time.Millisecond, Now: func() time.Time { return now }})
	waitVersion(t, srv, 1)

	// At t0+90m under v1: ad-watcher (1 h from t0) has expired, ad-clicker
	// (2 h from t0+10m) has not.
	want := rules.ProfileDoc{UserID: "u1", UpdatedAt: t0.Add(10 * time.Minute), Version: 3, Segments: []rules.SegmentRef{
		{ID: "ad-clicker", AssignedAt: t0}, {ID: "engaged", AssignedAt: t0},
	}}
	if d := cmp.Diff(want, getProfile(t, hs.URL, "u1")); d != "" {
		t.Fatalf("v1 profile (-want +got):\n%s", d)
	}

	// v2: ad-clicker's 1 h from t0+10m has run out; ad-watcher no longer
	// expires, so it is back although the row says it expired.
	if _, err := s.rules.Publish(ctx, []byte(rulesV2), 1, "test", "v2"); err != nil {
		t.Fatal(err)
	}
	waitVersion(t, srv, 2)
	want.Segments = []rules.SegmentRef{{ID: "ad-watcher", AssignedAt: t0}, {ID: "engaged", AssignedAt: t0}}
	if d := cmp.Diff(want, getProfile(t, hs.URL, "u1")); d != "" {
		t.Fatalf("v2 profile (-want +got):\n%s", d)
	}

	// The wire format is DESIGN.md's, field for field.
	_, body := get(t, hs.URL+"/v1/profiles/u1")
	var raw map[string]any
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatal(err)
	}
	wantRaw := map[string]any{
		"user_id": "u1", "updated_at": "2026-12-01T10:10:00Z", "version": 3.0,
		"segments": []any{
			map[string]any{"id": "ad-watcher", "assigned_at": "2026-12-01T10:00:00Z"},
			map[string]any{"id": "engaged", "assigned_at": "2026-12-01T10:00:00Z"},
		},
	}
	if d := cmp.Diff(wantRaw, raw); d != "" {
		t.Fatalf("wire format (-want +got):\n%s", d)
	}
}

func TestExpiredParentTakesDescendants(t *testing.T) {
	ctx := context.Background()
	s := newStack(t)
	s.putU1(t)
	// engaged gets a ttl: 1 h from its assignment at t0 (the row does not
	// track its latest match), so at t0+90m it and its child ad-clicker go.
	doc := strings.Replace(rulesV1, "  - id: engaged\n", "  - id: engaged\n    ttl: 1h\n", 1)
	if _, err := s.rules.Publish(ctx, []byte(doc), 0, "test", "engaged ttl"); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(90 * time.Minute)
	srv, hs := serve(t, Config{Profiles: s.profiles, Rules: s.rules, RulesPoll: 50 * time.Millisecond, Now: func() time.Time { return now }})
	waitVersion(t, srv, 1)
	if got := getProfile(t, hs.URL, "u1"); len(got.Segments) != 0 {
		t.Fatalf("segments %v, want none", got.Segments)
	}
}

func TestWithoutRuleSetStoredExpiryDecides(t *testing.T) {
	s := newStack(t)
	s.putU1(t)
	now := t0.Add(90 * time.Minute)
	_, hs := serve(t, Config{Profiles: s.profiles, Now: func() time.Time { return now }})
	got := getProfile(t, hs.URL, "u1")
	want := []rules.SegmentRef{{ID: "ad-clicker", AssignedAt: t0}, {ID: "engaged", AssignedAt: t0}}
	if d := cmp.Diff(want, got.Segments); d != "" {
		t.Fatalf("segments (-want +got):\n%s", d)
	}
}

func TestNotFoundHealthReadyMetrics(t *testing.T) {
	s := newStack(t)
	s.putU1(t)
	_, hs := serve(t, Config{Profiles: s.profiles, Rules: s.rules, RulesPoll: 50 * time.Millisecond})

	code, body := get(t, hs.URL+"/v1/profiles/nobody")
	if code != http.StatusNotFound || !strings.Contains(body, `"not_found"`) {
		t.Fatalf("unknown user: %d %s", code, body)
	}
	getProfile(t, hs.URL, "u1")
	// A user id with a slash arrives escaped and is looked up whole.
	if code, body := get(t, hs.URL+"/v1/profiles/a%2Fb"); code != http.StatusNotFound || !strings.Contains(body, "no profile for user a/b") {
		t.Fatalf("escaped id: %d %s", code, body)
	}
	if code, _ := get(t, hs.URL+"/healthz"); code != http.StatusOK {
		t.Fatalf("healthz %d", code)
	}
	if code, body := get(t, hs.URL+"/readyz"); code != http.StatusOK {
		t.Fatalf("readyz %d %s", code, body)
	}
	_, metrics := get(t, hs.URL+"/metrics")
	for _, line := range []string{
		`segmentflow_profiles_lookups_total{result="found"} 1`,
		`segmentflow_profiles_lookups_total{result="not_found"} 2`,
		`segmentflow_profiles_requests_total{code="404",route="/v1/profiles/{userId}"} 2`,
	} {
		if !strings.Contains(metrics, line) {
			t.Errorf("metrics lack %q:\n%s", line, metrics)
		}
	}

	// Without Bigtable the service is not ready, and lookups say 503.
	s.stopBigtable()
	if code, body := get(t, hs.URL+"/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz without bigtable: %d %s", code, body)
	}
	if code, body := get(t, hs.URL+"/v1/profiles/u1"); code != http.StatusServiceUnavailable {
		t.Fatalf("lookup without bigtable: %d %s", code, body)
	}
}
