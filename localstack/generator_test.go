package localstack

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPlayersDeterministic(t *testing.T) {
	a, b := Players(50, 42), Players(50, 42)
	ids := map[string]bool{}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].Traits["birthDate"] != b[i].Traits["birthDate"] || a[i].Stats.Daily != b[i].Stats.Daily {
			t.Fatalf("player %d differs between two runs of one seed: %+v vs %+v", i, a[i], b[i])
		}
		if ids[a[i].ID] {
			t.Fatalf("duplicate player id %s", a[i].ID)
		}
		ids[a[i].ID] = true
		if _, err := time.Parse("2006-01-02", a[i].Traits["birthDate"].(string)); err != nil {
			t.Fatalf("player %s: birthDate %v: %v", a[i].ID, a[i].Traits["birthDate"], err)
		}
	}
	if c := Players(50, 43); c[0].Traits["birthDate"] == a[0].Traits["birthDate"] && c[1].Traits["birthDate"] == a[1].Traits["birthDate"] && c[2].Traits["birthDate"] == a[2].Traits["birthDate"] {
		t.Fatal("another seed gave the same population")
	}
}

// decodeBatch reads a /v1/batch body the way the collector's parser sees it.
func decodeBatch(t *testing.T, body []byte) (msgs []map[string]any, ok bool) {
	t.Helper()
	var b struct {
		Batch  []map[string]any `json:"batch"`
		SentAt string           `json:"sentAt"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, false
	}
	if _, err := time.Parse(time.RFC3339Nano, b.SentAt); err != nil {
		t.Fatalf("batch sentAt %q: %v", b.SentAt, err)
	}
	return b.Batch, true
}

// TestGeneratorIdentifyFirst: a player's first message is its identify
// call, which carries the traits rules read.
func TestGeneratorIdentifyFirst(t *testing.T) {
	g := NewGenerator(GeneratorConfig{Rate: 100, Seed: 5, OfflineShare: 1e-9, MalformedShare: 1e-9, DuplicateShare: 1e-9}, Players(30, 1))
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	first := map[string]map[string]any{}
	for tick := range 20 {
		for _, r := range g.bodies(now.Add(time.Duration(tick)*50*time.Millisecond), 20) {
			ms, _ := decodeBatch(t, r.body)
			for _, m := range ms {
				if u := m["userId"].(string); first[u] == nil {
					first[u] = m
				}
			}
		}
	}
	if len(first) < 10 {
		t.Fatalf("only %d players played", len(first))
	}
	for u, m := range first {
		if m["type"] != "identify" || m["traits"].(map[string]any)["birthDate"] == nil {
			t.Fatalf("first message of %s is %v %v, want identify with traits", u, m["type"], m["event"])
		}
	}
}

func TestGeneratorBodies(t *testing.T) {
	players := Players(20, 1)
	g := NewGenerator(GeneratorConfig{Rate: 100, Users: 20, Seed: 7, OfflineShare: 0.5, MalformedShare: 0.2, DuplicateShare: 0.3, BatchSize: 10}, players)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	var msgs []map[string]any
	bad, dups := 0, 0
	for tick := range 40 {
		for _, r := range g.bodies(now.Add(time.Duration(tick)*50*time.Millisecond), 25) {
			ms, ok := decodeBatch(t, r.body)
			if !ok {
				if r.messages != 0 {
					t.Fatalf("an unparseable body claims %d messages", r.messages)
				}
				bad++
				continue
			}
			if len(ms) != r.messages || len(ms) > 10 {
				t.Fatalf("body has %d messages, request says %d (batch size 10)", len(ms), r.messages)
			}
			msgs = append(msgs, ms...)
		}
	}
	seen := map[string]int{}
	identified := map[string]bool{}
	broken := 0
	for _, m := range msgs {
		id, _ := m["messageId"].(string)
		seen[id]++
		user, hasUser := m["userId"].(string)
		_, tsErr := time.Parse(time.RFC3339Nano, m["timestamp"].(string))
		if !hasUser || tsErr != nil {
			broken++
			continue
		}
		switch m["type"] {
		case "identify":
			identified[user] = true
			if m["traits"] == nil {
				t.Fatalf("identify without traits: %v", m)
			}
		case "track":
		default:
			t.Fatalf("unexpected type %v", m["type"])
		}
	}
	for _, n := range seen {
		if n > 1 {
			dups++
		}
	}
	if dups == 0 || g.Stats.Duplicates.Load() == 0 {
		t.Fatalf("no duplicate batch at a 30%% duplicate share (%d repeated ids)", dups)
	}
	if broken == 0 || bad == 0 {
		t.Fatalf("no malformed input at a 20%% share: %d broken messages, %d broken bodies", broken, bad)
	}

	// Devices that went offline send their held events once they are back
	// (30 s to 3 min later), with their original timestamps.
	heldBefore := len(g.held)
	if heldBefore == 0 {
		t.Fatal("no device went offline at a 50% offline share")
	}
	later := now.Add(4 * time.Minute)
	var late int
	for _, r := range g.bodies(later, 0) {
		ms, _ := decodeBatch(t, r.body)
		for _, m := range ms {
			ts, err := time.Parse(time.RFC3339Nano, m["timestamp"].(string))
			if err == nil && later.Sub(ts) >= 3*time.Minute {
				late++
			}
		}
	}
	if late == 0 || len(g.held) != 0 || g.Stats.Late.Load() == 0 {
		t.Fatalf("offline devices did not send late: %d late events, %d devices still holding", late, len(g.held))
	}
}

// TestGeneratorRun sends to a collector stand-in that checks the write key
// and answers as the collector does, and compares the generator's counts
// with what the server saw.
func TestGeneratorRun(t *testing.T) {
	var (
		mu       sync.Mutex
		received int
		badKey   atomic.Int64
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, _, ok := r.BasicAuth(); !ok || user != "k1" || r.URL.Path != "/v1/batch" {
			badKey.Add(1)
			http.Error(w, "unknown write key", http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		ms, ok := decodeBatch(t, body)
		if !ok {
			http.Error(w, `{"success":false}`, http.StatusBadRequest)
			return
		}
		// Refuse every user-less message one by one, as the collector does.
		var errs []map[string]any
		for i, m := range ms {
			if _, ok := m["userId"]; !ok {
				errs = append(errs, map[string]any{"index": i, "code": "missing_id"})
			}
		}
		mu.Lock()
		received += len(ms) - len(errs)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"success": len(errs) == 0, "errors": errs})
	}))
	defer srv.Close()

	g := NewGenerator(GeneratorConfig{CollectorURL: srv.URL, WriteKey: "k1", Rate: 400, Seed: 3, MalformedShare: 0.05}, Players(100, 3))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.Run(ctx); close(done) }()
	deadline := time.Now().Add(60 * time.Second)
	for g.Stats.Accepted.Load() < 200 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if g.Stats.Accepted.Load() < 200 {
		t.Fatalf("only %d messages accepted", g.Stats.Accepted.Load())
	}
	if badKey.Load() != 0 {
		t.Fatalf("%d requests without the write key", badKey.Load())
	}
	if got := g.Stats.Accepted.Load(); got != int64(received) {
		t.Fatalf("generator counts %d accepted, the server accepted %d", got, received)
	}
	if g.Stats.Refused.Load() == 0 {
		t.Fatal("no refused message counted at a 5% malformed share")
	}
}
