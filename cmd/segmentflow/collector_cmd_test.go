package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/segmentflow/segmentflow/emulators"
	"github.com/segmentflow/segmentflow/emulators/emulatortest"
	"github.com/segmentflow/segmentflow/event"
	"github.com/segmentflow/segmentflow/infra"
	"github.com/segmentflow/segmentflow/io/failover"
)

// collectorEnv is pstest and fake-gcs on free loopback ports, provisioned
// from infra names, and a subscription reader on the events topic.
type collectorEnv struct {
	ps    *emulators.PubSub
	gcs   *emulators.GCS
	psc   *pubsub.Client
	names infra.Names
}

func startCollectorEnv(t *testing.T) *collectorEnv {
	t.Helper()
	ps := emulatortest.PubSub(t)
	g := emulatortest.GCS(t, "")
	n := infra.Default()
	emulatortest.Provision(t, emulators.Config{Project: "p", Names: n}, ps, nil, g)
	return &collectorEnv{ps: ps, gcs: g, psc: emulatortest.PubSubClient(t, ps, "p"), names: n}
}

// receive reads the classify subscription of the events topic until it has
// want messages or the (generous) bound passes.
func (e *collectorEnv) receive(t *testing.T, want int) []*pubsub.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := make(chan *pubsub.Message, want)
	go func() {
		_ = e.psc.Subscriber(e.names.Subscriptions.Classify).Receive(ctx, func(_ context.Context, m *pubsub.Message) {
			m.Ack()
			select {
			case got <- m:
			default:
			}
		})
	}()
	var out []*pubsub.Message
	for len(out) < want {
		select {
		case m := <-got:
			out = append(out, m)
		case <-ctx.Done():
			t.Fatalf("%d of %d messages on the events topic", len(out), want)
		}
	}
	return out
}

// TestCollectorCommand runs `segmentflow collector` through realMain, as the
// binary would, against the emulators: a gzip batch with Basic auth lands on
// the events topic with its attributes, a wrong key is refused, and SIGINT
// stops it with exit status 0 after a graceful shutdown.
func TestCollectorCommand(t *testing.T) {
	env := startCollectorEnv(t)
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- realMain([]string{"collector",
			"--addr", "127.0.0.1:0", "--project", "p",
			"--pubsub-endpoint", env.ps.Addr, "--gcs-endpoint", env.gcs.Host,
			"--write-key", "wk-test=ios-app", "--node-id", "node-t",
		}, pw, &stderr)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no startup line: %v (exit %d, stderr %s)", err, <-done, stderr.String())
	}
	go io.Copy(io.Discard, pr)
	base := regexp.MustCompile(`http://\S+`).FindString(line)
	if base == "" {
		t.Fatalf("startup line %q has no URL", line)
	}

	now := time.Now().UTC()
	var batch []map[string]any
	for i := range 3 {
		batch = append(batch, map[string]any{
			"type": "track", "event": "user-watched-ad", "userId": "u1",
			"messageId": fmt.Sprintf("m-%d", i), "timestamp": now.Format(time.RFC3339Nano),
			"properties": map[string]any{"ad_id": "ad-1"},
		})
	}
	body, _ := json.Marshal(map[string]any{"batch": batch, "sentAt": now.Format(time.RFC3339Nano)})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(body)
	zw.Close()

	post := func(key string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/batch", bytes.NewReader(gz.Bytes()))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Content-Encoding", "gzip")
		req.SetBasicAuth(key, "")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, b := post("wk-test"); code != http.StatusOK || !strings.Contains(b, `"success":true`) {
		t.Fatalf("batch: %d %s", code, b)
	}
	if code, _ := post("nope"); code != http.StatusUnauthorized {
		t.Fatalf("unknown key: %d, want 401", code)
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		res, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", p, res.StatusCode)
		}
	}

	msgs := env.receive(t, 3)
	seen := map[string]bool{}
	for _, m := range msgs {
		ev, err := event.Unmarshal(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Source != "ios-app" || ev.Collector == nil || ev.Collector.Node != "node-t" || m.Attributes[event.AttrMessageID] != ev.MessageID || m.Attributes[event.AttrEvent] != "user-watched-ad" {
			t.Fatalf("message %+v attrs %v", ev, m.Attributes)
		}
		seen[ev.MessageID] = true
	}
	if len(seen) != 3 {
		t.Fatalf("message ids %v", seen)
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("collector did not stop on SIGINT")
	}
}

// TestCollectorReplayFailover writes a failover object as a collector does
// while Pub/Sub is down, then runs `segmentflow collector replay-failover`:
// the events reach the topic and the object is removed.
func TestCollectorReplayFailover(t *testing.T) {
	env := startCollectorEnv(t)
	ctx := context.Background()
	gc, err := env.gcs.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	var lines [][]byte
	at := time.Now().UTC()
	for i := range 4 {
		ev := event.Event{Type: event.Track, MessageID: fmt.Sprintf("f-%d", i), UserID: "u2", Event: "user-opened-app", ReceivedAt: at, EventTime: at}
		b, err := event.Marshal(&ev)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, b)
	}
	store := failover.NewStore(gc, env.names.Buckets.Lake, env.names.LakePrefixes.Failover, "node-x", failover.StoreOptions{})
	if _, err := store.Write(ctx, lines); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	code := realMain([]string{"collector", "replay-failover", "--project", "p",
		"--pubsub-endpoint", env.ps.Addr, "--gcs-endpoint", env.gcs.URL}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "replayed 4 events from 1 failover objects") {
		t.Fatalf("report %q", stdout.String())
	}
	msgs := env.receive(t, 4)
	for _, m := range msgs {
		if !strings.HasPrefix(m.Attributes[event.AttrMessageID], "f-") {
			t.Fatalf("attrs %v", m.Attributes)
		}
	}
	it := gc.Bucket(env.names.Buckets.Lake).Objects(ctx, &storage.Query{Prefix: env.names.LakePrefixes.Failover})
	if _, err := it.Next(); err != iterator.Done {
		t.Fatalf("failover objects left after the replay (err %v)", err)
	}
}
