package activate

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/storage"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/segmentflow/segmentflow/emulators"
	"github.com/segmentflow/segmentflow/emulators/emulatortest"
	"github.com/segmentflow/segmentflow/infra"
	"github.com/segmentflow/segmentflow/io/partner"
	"github.com/segmentflow/segmentflow/rules"
)

// stack is the real emulators (pstest over gRPC, fake-gcs over HTTP) with
// topics, subscriptions and buckets created from infra names.
type stack struct {
	ps    *pubsub.Client
	gcs   *storage.Client
	names infra.Names
}

func startStack(t *testing.T, partners ...string) *stack {
	t.Helper()
	ps := emulatortest.PubSub(t)
	g := emulatortest.GCS(t, "")
	names := infra.Default()
	emulatortest.Provision(t, emulators.Config{Project: "local", Names: names, Partners: partners, AckDeadline: 10 * time.Second}, ps, nil, g)
	return &stack{ps: emulatortest.PubSubClient(t, ps, "local"), gcs: emulatortest.StorageClient(t, g), names: names}
}

func (s *stack) publish(t *testing.T, partnerID string, data []byte) time.Time {
	t.Helper()
	ctx := context.Background()
	pub := s.ps.Publisher(s.names.ActivationTopic(partnerID))
	at := time.Now()
	if _, err := pub.Publish(ctx, &pubsub.Message{Data: data}).Get(ctx); err != nil {
		t.Fatal(err)
	}
	return at
}

func (s *stack) letters(t *testing.T, partnerID string) []partner.Letter {
	t.Helper()
	ctx := context.Background()
	dl := partner.NewDeadLetters(s.gcs, s.names.Buckets.Lake, s.names.LakePrefixes.Deadletter, partnerID)
	names, err := dl.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []partner.Letter
	for _, n := range names {
		l, err := dl.Get(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
	return out
}

// receiver is a partner's HTTP endpoint. It verifies every signature, and
// records a change only when it answers 200 (what "delivered" means to a
// partner). behave decides the answer of each request: a status, or 0 to
// hang until the client gives up.
type receiver struct {
	*httptest.Server
	key    []byte
	behave func(body []byte) int
	badSig atomic.Int32
	mu     sync.Mutex
	got    []rules.Change
	at     []time.Time
	reqAt  []time.Time
}

func newReceiver(t *testing.T, key string, behave func(body []byte) int) *receiver {
	r := &receiver{key: []byte(key), behave: behave}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.reqAt = append(r.reqAt, time.Now())
	r.mu.Unlock()
	if !partner.Verify(r.key, body, req.Header.Get(partner.SignatureHeader)) {
		r.badSig.Add(1)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	status := 200
	if r.behave != nil {
		status = r.behave(body)
	}
	switch status {
	case 0:
		<-req.Context().Done() // hang past the client's timeout
		return
	case 200:
	case 429:
		w.Header().Set("Retry-After", "1")
		fallthrough
	default:
		http.Error(w, fmt.Sprintf("answer %d", status), status)
		return
	}
	var batch []rules.Change
	if err := json.Unmarshal(body, &batch); err != nil {
		var c rules.Change
		if err := json.Unmarshal(body, &c); err != nil {
			http.Error(w, "bad json", 400)
			return
		}
		batch = []rules.Change{c}
	}
	r.mu.Lock()
	now := time.Now()
	for _, c := range batch {
		r.got = append(r.got, c)
		r.at = append(r.at, now)
	}
	r.mu.Unlock()
}

func (r *receiver) received() ([]rules.Change, []time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]rules.Change(nil), r.got...), append([]time.Time(nil), r.at...)
}

func testChange(user string, v int64) []byte {
	b, _ := json.Marshal(rules.Change{UserID: user, Segments: []string{"gamer"}, Added: []string{"gamer"}, Removed: []string{},
		EventTime: time.Now().UTC(), Version: v})
	return b
}

func quietLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

const testConfig = `
defaults:
  concurrency: 2
  batch_count: 20
  batch_wait: 20ms
  timeout: 200ms
  retry: {initial: 50ms, max_interval: 300ms, budget: 8s}
  breaker: {failures: 3, open_for: 300ms}
partners:
  healthy:  {hmac_key: k-healthy}
  flaky:    {hmac_key: k-flaky}
  hanging:  {hmac_key: k-hanging}
  picky:    {hmac_key: k-picky, batch_mode: single, concurrency: 1}
  gone:     {hmac_key: k-gone, retry: {budget: 1s}}
`

func startService(t *testing.T, s *stack, reg *prometheus.Registry, partners []rules.Partner) (*Service, func()) {
	t.Helper()
	cfg, err := ParseConfig([]byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(Options{PubSub: s.ps, GCS: s.gcs, Names: s.names, Partners: partners, Config: cfg, Registry: reg, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	return svc, func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(15 * time.Second):
			t.Error("service did not stop")
		}
	}
}

// Three partners, one answering 503 for a while, one hanging past its
// timeout for a while, one healthy. The healthy one must get every change
// within 2 s of publication throughout; the others get everything after
// recovery; nobody that answered 200 gets a change twice.
func TestIsolationAndRecovery(t *testing.T) {
	s := startStack(t, "healthy", "flaky", "hanging")
	outage := 2 * time.Second
	start := time.Now()
	healthy := newReceiver(t, "k-healthy", nil)
	flaky := newReceiver(t, "k-flaky", func([]byte) int {
		if time.Since(start) < outage {
			return 503
		}
		return 200
	})
	hanging := newReceiver(t, "k-hanging", func([]byte) int {
		if time.Since(start) < outage {
			return 0
		}
		return 200
	})
	reg := prometheus.NewRegistry()
	svc, stop := startService(t, s, reg, []rules.Partner{
		{ID: "healthy", Endpoint: healthy.URL, Segments: []string{"gamer"}},
		{ID: "flaky", Endpoint: flaky.URL, Segments: []string{"gamer"}},
		{ID: "hanging", Endpoint: hanging.URL, Segments: []string{"gamer"}},
	})
	defer stop()

	// Publish through the outage and past it: 120 changes over ~3 s.
	const n = 120
	published := map[string]time.Time{}
	for i := range n {
		user := fmt.Sprintf("u%03d", i)
		data := testChange(user, 1)
		published[user] = s.publish(t, "healthy", data)
		s.publish(t, "flaky", data)
		s.publish(t, "hanging", data)
		time.Sleep(25 * time.Millisecond)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		h, _ := healthy.received()
		f, _ := flaky.received()
		g, _ := hanging.received()
		if len(h) >= n && len(f) >= n && len(g) >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s: healthy %d, flaky %d, hanging %d of %d (dead letters: flaky %d, hanging %d)",
				len(h), len(f), len(g), n, len(s.letters(t, "flaky")), len(s.letters(t, "hanging")))
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // let a duplicate, if any, arrive

	got, at := healthy.received()
	var worst time.Duration
	for i, c := range got {
		lat := at[i].Sub(published[c.UserID])
		worst = max(worst, lat)
		if lat > 2*time.Second {
			t.Errorf("healthy partner got %s %v after publication (> 2 s)", c.UserID, lat)
		}
	}
	t.Logf("healthy partner: worst latency %v while the others were failing", worst)
	for name, r := range map[string]*receiver{"healthy": healthy, "flaky": flaky, "hanging": hanging} {
		got, _ := r.received()
		seen := map[string]int{}
		for _, c := range got {
			seen[c.UserID]++
		}
		for user := range published {
			if seen[user] != 1 {
				t.Errorf("%s: %s delivered %d times, want exactly once", name, user, seen[user])
			}
		}
		if r.badSig.Load() != 0 {
			t.Errorf("%s: %d requests with a bad signature", name, r.badSig.Load())
		}
		if l := s.letters(t, name); len(l) != 0 {
			t.Errorf("%s: %d dead letters, want none (the outage is shorter than the budget)", name, len(l))
		}
	}
	m := svc.loops[0].m
	if d := testutil.ToFloat64(m.delivered.WithLabelValues("healthy")); d != n {
		t.Errorf("delivered metric of healthy = %v, want %d", d, n)
	}
	for _, id := range []string{"flaky", "hanging"} {
		if r := testutil.ToFloat64(m.retried.WithLabelValues(id)); r == 0 {
			t.Errorf("retried metric of %s = 0 after its outage", id)
		}
	}
	for _, id := range []string{"healthy", "flaky", "hanging"} {
		if p := testutil.ToFloat64(m.pending.WithLabelValues(id)); p != 0 {
			t.Errorf("%s: %v messages still pending (not acked)", id, p)
		}
	}
	if c := testutil.CollectAndCount(m.queueAge); c != 3 {
		t.Errorf("queue-age series: %d, want one per partner", c)
	}
}

// 429 with Retry-After is honoured, a 400 goes to dead letters at once, an
// exhausted budget dead-letters with the last answer, a malformed message
// is dead-lettered, a user's versions never go backwards, and redrive
// re-delivers what was dead-lettered.
func TestRefusalsDeadLettersOrderingAndRedrive(t *testing.T) {
	s := startStack(t, "healthy", "picky", "gone")
	var acceptAll atomic.Bool
	var first atomic.Bool
	picky := newReceiver(t, "k-picky", func(body []byte) int {
		if first.CompareAndSwap(false, true) {
			return 429
		}
		if !acceptAll.Load() && strings.Contains(string(body), `"bad-`) {
			return 400
		}
		return 200
	})
	gone := newReceiver(t, "k-gone", func([]byte) int { return 503 })
	healthy := newReceiver(t, "k-healthy", nil)
	reg := prometheus.NewRegistry()
	svc, stop := startService(t, s, reg, []rules.Partner{
		{ID: "healthy", Endpoint: healthy.URL},
		{ID: "picky", Endpoint: picky.URL},
		{ID: "gone", Endpoint: gone.URL},
	})
	defer stop()

	for _, u := range []string{"ok-1", "bad-1", "ok-2", "bad-2"} {
		s.publish(t, "picky", testChange(u, 1))
	}
	s.publish(t, "picky", []byte("not json"))
	s.publish(t, "gone", testChange("g-1", 1))
	for _, v := range []int64{3, 1, 5, 2, 6, 4} {
		s.publish(t, "healthy", testChange("o1", v))
	}
	waitFor(t, 45*time.Second, "picky deliveries and dead letters", func() bool {
		got, _ := picky.received()
		return len(got) == 2 && len(s.letters(t, "picky")) == 3
	})
	picky.mu.Lock()
	if len(picky.reqAt) < 2 || picky.reqAt[1].Sub(picky.reqAt[0]) < 950*time.Millisecond {
		t.Errorf("request after the 429 came %v later, want >= 1 s (Retry-After: 1)", picky.reqAt[1].Sub(picky.reqAt[0]))
	}
	picky.mu.Unlock()
	reasons := map[string]int{}
	for _, l := range s.letters(t, "picky") {
		reasons[l.Reason]++
		switch l.Reason {
		case partner.ReasonRejected:
			if l.Status != 400 || !strings.Contains(l.ResponseBody, "answer 400") || len(l.Changes) != 1 ||
				!strings.HasPrefix(l.Changes[0].UserID, "bad-") || l.Attempts > 2 || len(l.MessageIDs) != 1 {
				t.Errorf("rejected letter %+v", l)
			}
		case partner.ReasonMalformed:
			if l.Raw != "not json" || l.Error == "" {
				t.Errorf("malformed letter %+v", l)
			}
		}
	}
	if reasons[partner.ReasonRejected] != 2 || reasons[partner.ReasonMalformed] != 1 {
		t.Errorf("letter reasons %v, want 2 rejected and 1 malformed", reasons)
	}

	waitFor(t, 45*time.Second, "exhausted dead letter of gone", func() bool { return len(s.letters(t, "gone")) == 1 })
	if l := s.letters(t, "gone")[0]; l.Reason != partner.ReasonExhausted || l.Status != 503 || l.Attempts < 2 {
		t.Errorf("gone letter %+v, want retries_exhausted with status 503", l)
	}

	waitFor(t, 30*time.Second, "newest version of o1", func() bool {
		got, _ := healthy.received()
		return len(got) > 0 && got[len(got)-1].Version == 6
	})
	time.Sleep(200 * time.Millisecond)
	got, _ := healthy.received()
	for i := 1; i < len(got); i++ {
		if got[i].Version <= got[i-1].Version {
			t.Errorf("o1 version %d delivered after %d", got[i].Version, got[i-1].Version)
		}
	}

	acceptAll.Store(true)
	rep, err := svc.Redrive(context.Background(), "picky")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Letters != 3 || rep.Delivered != 2 || rep.Failed != 0 || rep.Skipped != 1 {
		t.Errorf("redrive report %+v, want 3 letters, 2 delivered, 1 skipped", rep)
	}
	users := map[string]int{}
	pg, _ := picky.received()
	for _, c := range pg {
		users[c.UserID]++
	}
	for _, u := range []string{"ok-1", "ok-2", "bad-1", "bad-2"} {
		if users[u] != 1 {
			t.Errorf("picky got %s %d times after redrive, want once", u, users[u])
		}
	}
	if left := s.letters(t, "picky"); len(left) != 1 || left[0].Reason != partner.ReasonMalformed {
		t.Errorf("letters left after redrive: %+v, want only the malformed one", left)
	}
	if picky.badSig.Load()+healthy.badSig.Load()+gone.badSig.Load() != 0 {
		t.Error("a request had a bad signature")
	}
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
