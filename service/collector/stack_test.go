package collector_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/segmentflow/segmentflow/emulators"
	"github.com/segmentflow/segmentflow/event"
	"github.com/segmentflow/segmentflow/infra"
	"github.com/segmentflow/segmentflow/service/collector"
)

const project = "local"

// stack is a collector on loopback in front of real pstest and
// fake-gcs-server emulators.
type stack struct {
	t     testing.TB
	names infra.Names
	ps    *emulators.PubSub
	gcs   *emulators.GCS
	col   *collector.Collector
	url   string
	store *storage.Client

	psOnce, gcsOnce sync.Once
}

// stopPubSub takes Pub/Sub down (pstest panics when closed twice).
func (s *stack) stopPubSub() { s.psOnce.Do(func() { s.ps.Close() }) }

// stopGCS takes GCS down.
func (s *stack) stopGCS() { s.gcsOnce.Do(s.gcs.Close) }

func startStack(t testing.TB, mod func(*collector.Config)) *stack {
	t.Helper()
	ctx := context.Background()
	s := &stack{t: t, names: infra.Default()}
	var err error
	if s.ps, err = emulators.StartPubSub("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stopPubSub)
	if s.gcs, err = emulators.StartGCS("127.0.0.1:0", ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stopGCS)
	if err := emulators.Provision(ctx, emulators.Config{Project: project, Names: s.names}, s.ps, nil, s.gcs); err != nil {
		t.Fatal(err)
	}
	if s.store, err = s.gcs.Client(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.store.Close() })
	cfg := collector.Config{
		Node:           "node-1",
		Names:          s.names,
		Sources:        []collector.Source{{ID: "ios-app", WriteKey: "key-ios"}, {ID: "web", WriteKey: "key-web"}},
		Primary:        collector.Target{Project: project, Endpoint: s.ps.Addr},
		GCSEndpoint:    s.gcs.URL,
		ReplayInterval: -1,
		Logger:         slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	cfg.Batch.Timeout = 500 * time.Millisecond
	cfg.FailoverTimeout = 2 * time.Second
	cfg.BreakerOpen = time.Second
	if mod != nil {
		mod(&cfg)
	}
	s.col, err = collector.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.url = "http://" + ln.Addr().String()
	go func() {
		if err := s.col.Serve(ln); err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.col.Shutdown(ctx)
	})
	return s
}

type request struct {
	path     string
	key      string // Basic user name; empty: none
	body     []byte
	gzip     bool
	method   string
	encoding string
}

type response struct {
	status int
	header http.Header
	body   []byte
	reply  map[string]any
}

var client = &http.Client{Timeout: 30 * time.Second}

func (s *stack) do(r request) response {
	s.t.Helper()
	body := r.body
	if r.gzip {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(body)
		zw.Close()
		body = buf.Bytes()
	}
	method := r.method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequest(method, s.url+r.path, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if r.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if r.encoding != "" {
		req.Header.Set("Content-Encoding", r.encoding)
	}
	if r.key != "" {
		req.SetBasicAuth(r.key, "")
	}
	resp, err := client.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, r.path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := response{status: resp.StatusCode, header: resp.Header, body: b}
	_ = json.Unmarshal(b, &out.reply)
	return out
}

// published returns the events on the `events` topic of ps, decoded.
func (s *stack) published(ps *emulators.PubSub) map[string]published {
	return topicEvents(s.t, ps, s.names.Topics.Events)
}

type published struct {
	ev    event.Event
	attrs map[string]string
}

func topicEvents(t testing.TB, ps *emulators.PubSub, topic string) map[string]published {
	t.Helper()
	full := fmt.Sprintf("projects/%s/topics/%s", project, topic)
	out := map[string]published{}
	for _, m := range ps.Server.Messages() {
		if m.Topic != full {
			continue
		}
		ev, err := event.Unmarshal(m.Data)
		if err != nil {
			t.Fatalf("message on %s is not an event: %v: %s", topic, err, m.Data)
		}
		out[ev.MessageID] = published{ev: ev, attrs: m.Attributes}
	}
	return out
}

// dlq returns the bad rows on `events-dlq`.
func (s *stack) dlq() []map[string]any {
	full := fmt.Sprintf("projects/%s/topics/%s", project, s.names.Topics.EventsDLQ)
	var rows []map[string]any
	for _, m := range s.ps.Server.Messages() {
		if m.Topic != full {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal(m.Data, &r); err != nil {
			s.t.Fatalf("dlq message is not JSON: %v", err)
		}
		r["_attrs"] = m.Attributes
		rows = append(rows, r)
	}
	return rows
}

// objects lists the lake bucket's objects under prefix.
func (s *stack) objects(prefix string) []string {
	s.t.Helper()
	it := s.store.Bucket(s.names.Buckets.Lake).Objects(context.Background(), &storage.Query{Prefix: prefix})
	var names []string
	for {
		a, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			s.t.Fatal(err)
		}
		names = append(names, a.Name)
	}
	sort.Strings(names)
	return names
}

// objectLines reads a gzip NDJSON object.
func (s *stack) objectLines(name string) [][]byte {
	s.t.Helper()
	rd, err := s.store.Bucket(s.names.Buckets.Lake).Object(name).NewReader(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	defer rd.Close()
	zr, err := gzip.NewReader(rd)
	if err != nil {
		s.t.Fatalf("%s is not gzip: %v", name, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		s.t.Fatal(err)
	}
	var lines [][]byte
	for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		if len(l) > 0 {
			lines = append(lines, l)
		}
	}
	return lines
}

var seq atomic.Int64

// msg is one valid track message with a fresh messageId.
func msg(name string) (string, map[string]any) {
	id := fmt.Sprintf("m-%d-%d", time.Now().UnixNano(), seq.Add(1))
	return id, map[string]any{
		"type": "track", "messageId": id, "userId": "u-1", "event": name,
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano), "properties": map[string]any{"ad": "a-7"},
	}
}

func batchBody(msgs ...map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"batch": msgs, "sentAt": time.Now().UTC().Format(time.RFC3339Nano)})
	return b
}

// batchOf builds a body of n valid messages and returns their ids.
func batchOf(n int) ([]byte, []string) {
	var ids []string
	var ms []map[string]any
	for range n {
		id, m := msg("user-watched-ad")
		ids = append(ids, id)
		ms = append(ms, m)
	}
	return batchBody(ms...), ids
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
