package lake

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"google.golang.org/api/iterator"

	"github.com/segmentflow/segmentflow/emulators"
	"github.com/segmentflow/segmentflow/emulators/emulatortest"
	"github.com/segmentflow/segmentflow/infra"
)

func TestMain(m *testing.M) { ptest.Main(m) }

// env is a Pub/Sub and a GCS emulator provisioned as infra/ would.
type env struct {
	names infra.Names
	ps    *emulators.PubSub
	gcs   *emulators.GCS
	gcsc  *storage.Client
	// ids maps a Pub/Sub message id to the messageId in its body.
	mu  sync.Mutex
	ids map[string]string
}

func newEnv(t *testing.T, gcsDir string) *env {
	t.Helper()
	ps := emulatortest.PubSub(t)
	e := &env{names: infra.Default(), ps: ps, ids: map[string]string{}}
	e.startGCS(t, gcsDir)
	emulatortest.Provision(t, emulators.Config{Names: e.names, AckDeadline: 10 * time.Second}, ps, nil, e.gcs)
	return e
}

func (e *env) startGCS(t *testing.T, dir string) {
	t.Helper()
	e.gcs = emulatortest.GCS(t, dir)
	e.gcsc = emulatortest.StorageClient(t, e.gcs)
}

func (e *env) config() Config {
	cfg := Defaults()
	cfg.Lake = "gs://" + e.names.Buckets.Lake
	cfg.PubSubEndpoint = e.ps.Addr
	cfg.GCSEndpoint = e.gcs.URL
	cfg.RollInterval = time.Second
	cfg.RollGrace = time.Second
	cfg.Shards = 2
	// The subscription's own deadline: a failed run's messages come again
	// in seconds, not a minute.
	cfg.AckDeadline = 10 * time.Second
	return cfg
}

// publish offers n events named prefix-0.. at a steady rate, as the
// collector would (body and attributes), and returns when all are published.
func (e *env) publish(prefix string, n int, every time.Duration) {
	topic := fmt.Sprintf("projects/%s/topics/%s", e.names.ProjectLocal, e.names.Topics.Events)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		now := time.Now().UTC()
		body := fmt.Sprintf(`{"type":"track","messageId":%q,"userId":"u%d","event":"user-opened-app","timestamp":%q,"properties":{"i":%d}}`,
			id, i%10, now.Format(time.RFC3339Nano), i)
		sid := e.ps.Server.Publish(topic, []byte(body), map[string]string{
			"message_id": id, "event_time": now.Format("2006-01-02T15:04:05.000Z07:00"), "type": "track", "event": "user-opened-app",
		})
		e.mu.Lock()
		e.ids[sid] = id
		e.mu.Unlock()
		<-tick.C
	}
}

// acked is the body ids of every message the subscription has acknowledged.
func (e *env) acked() map[string]bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]bool{}
	for _, m := range e.ps.Server.Messages() {
		if m.Acks > 0 {
			out[e.ids[m.ID]] = true
		}
	}
	return out
}

// job is Build running on prism.
type job struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// run starts Build on prism; the test's end stops it.
func run(t *testing.T, cfg Config) *job {
	t.Helper()
	p, s := beam.NewPipelineWithRoot()
	if err := Build(s, cfg); err != nil {
		t.Fatal(err)
	}
	// Cancel, never a deadline: a deadline makes prism's worker panic.
	ctx, cancel := context.WithCancel(context.Background())
	j := &job{cancel: cancel, done: make(chan struct{})}
	go func() {
		_, j.err = prism.Execute(ctx, p)
		close(j.done)
	}()
	t.Cleanup(func() { j.stop() })
	return j
}

// wait waits up to limit for the job to end on its own.
func (j *job) wait(limit time.Duration) (error, bool) {
	select {
	case <-j.done:
		return j.err, true
	case <-time.After(limit):
		return nil, false
	}
}

// stop cancels the job and waits for it to end.
func (j *job) stop() error {
	j.cancel()
	if err, ok := j.wait(2 * time.Minute); ok {
		return err
	}
	return errors.New("pipeline did not stop within 2 minutes of its cancellation")
}

var objectRE = regexp.MustCompile(`^raw/(\d{4}/\d{2}/\d{2}/(\d{2}))/((\d{2})\d{4})-\d{2}(-\d+)?\.json\.gz$`)

// lakeView is what a reader of the bucket sees: final objects under raw/
// and the writer's parts under staging/.
type lakeView struct {
	objects map[string][]string // final object -> body ids
	staged  map[string][]string // part -> body ids
}

func (v lakeView) events() map[string][]string {
	where := map[string][]string{}
	for name, ids := range v.objects {
		for _, id := range ids {
			where[id] = append(where[id], name)
		}
	}
	return where
}

// view reads the bucket. Every final object must be a valid layout name
// and a complete gzip NDJSON stream of events. A part the roller removes
// while it is being read makes the whole view be read again.
func (e *env) view(t *testing.T) lakeView {
	t.Helper()
	for attempt := 0; ; attempt++ {
		v, err := e.tryView(t)
		if err == nil {
			return v
		}
		if !errors.Is(err, storage.ErrObjectNotExist) || attempt > 20 {
			t.Fatal(err)
		}
	}
}

func (e *env) tryView(t *testing.T) (lakeView, error) {
	ctx := context.Background()
	v := lakeView{objects: map[string][]string{}, staged: map[string][]string{}}
	b := e.gcsc.Bucket(e.names.Buckets.Lake)
	// Staging first: a roll writes its object before it removes the parts,
	// so an event being rolled meanwhile is seen in one place or the other.
	for _, prefix := range []string{e.names.LakePrefixes.Staging + "lake/raw/", e.names.LakePrefixes.Raw} {
		it := b.Objects(ctx, &storage.Query{Prefix: prefix})
		for {
			a, err := it.Next()
			if err == iterator.Done {
				break
			}
			if err != nil {
				return v, err
			}
			if strings.HasSuffix(a.Name, "_manifest.json") {
				continue
			}
			r, err := b.Object(a.Name).NewReader(ctx)
			if err != nil {
				return v, fmt.Errorf("read %s: %w", a.Name, err)
			}
			body, err := io.ReadAll(r)
			r.Close()
			if err != nil {
				return v, fmt.Errorf("read %s: %w", a.Name, err)
			}
			ids := eventIDs(t, a.Name, body)
			if prefix == e.names.LakePrefixes.Raw {
				m := objectRE.FindStringSubmatch(a.Name)
				if m == nil {
					t.Fatalf("%s: not a lake object name", a.Name)
				}
				if m[2] != m[4] {
					t.Fatalf("%s: window of hour %s under the prefix of hour %s", a.Name, m[4], m[2])
				}
				v.objects[a.Name] = ids
			} else {
				v.staged[a.Name] = ids
			}
		}
	}
	return v, nil
}

func eventIDs(t *testing.T, name string, body []byte) []string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s: not gzip: %v", name, err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: truncated gzip: %v", name, err)
	}
	if len(raw) > 0 && raw[len(raw)-1] != '\n' {
		t.Fatalf("%s: last line not terminated", name)
	}
	var ids []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		var ev struct {
			MessageID string `json:"messageId"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || ev.MessageID == "" {
			t.Fatalf("%s: line %q is not an event: %v", name, sc.Text(), err)
		}
		ids = append(ids, ev.MessageID)
	}
	return ids
}

// waitLake polls until want events are in final objects and nothing is left
// staged, checking on the way that every acknowledged message is already in
// the bucket (staged or final): Pub/Sub must never hold an ack for data the
// lake does not have.
func (e *env) waitLake(t *testing.T, want int, limit time.Duration) lakeView {
	t.Helper()
	end := time.Now().Add(limit)
	for {
		acked := e.acked()
		v := e.view(t)
		present := v.events()
		for _, ids := range v.staged {
			for _, id := range ids {
				present[id] = append(present[id], "staged")
			}
		}
		for id := range acked {
			if len(present[id]) == 0 {
				t.Fatalf("%s acknowledged but in neither a lake object nor a staged part", id)
			}
		}
		if len(v.events()) >= want && len(v.staged) == 0 {
			return v
		}
		if time.Now().After(end) {
			t.Fatalf("after %v: %d of %d events in the lake, %d parts staged", limit, len(v.events()), want, len(v.staged))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func checkExactlyOnce(t *testing.T, v lakeView, prefix string, n int) {
	t.Helper()
	where := v.events()
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		if len(where[id]) != 1 {
			t.Errorf("%s in %d objects %v, want exactly one", id, len(where[id]), where[id])
		}
	}
	if len(where) != n {
		t.Errorf("%d distinct events in the lake, want %d", len(where), n)
	}
}

// The pipeline end to end on pstest and fake-gcs: a stream over several
// one-second windows lands in the right hour prefixes, every event exactly
// once, and is acknowledged only once it is in the bucket.
func TestLakeEndToEnd(t *testing.T) {
	e := newEnv(t, "")
	j := run(t, e.config())
	const n = 300
	e.publish("ev", n, 15*time.Millisecond)
	v := e.waitLake(t, n, 2*time.Minute)
	checkExactlyOnce(t, v, "ev", n)
	windows := map[string]bool{}
	for name := range v.objects {
		windows[objectRE.FindStringSubmatch(name)[3]] = true
	}
	if len(windows) < 3 {
		t.Errorf("objects in %d windows %v, want at least 3 for a 4.5 s stream of 1 s windows", len(windows), windows)
	}
	// The last bundle is acknowledged by the reader's next pull.
	deadline := time.Now().Add(time.Minute)
	for len(e.acked()) < n && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if got := len(e.acked()); got != n {
		t.Errorf("%d of %d messages acknowledged", got, n)
	}
	if err, ended := j.wait(0); ended {
		t.Errorf("pipeline ended by itself: %v", err)
	}
}

// The GCS store goes away in the middle of a stream: bundles fail, the job
// stops, nothing it could not write is acknowledged. A second run on the
// restarted store (same data) rolls what the first one staged and reads
// what was redelivered: every event ends up exactly once, in complete
// objects.
func TestLakeRestartAfterStorageOutage(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, dir)
	j := run(t, e.config())
	const n = 300
	published := make(chan struct{})
	go func() {
		e.publish("ev", n, 15*time.Millisecond)
		close(published)
	}()
	// Let part of the stream land, then take the store away.
	deadline := time.Now().Add(time.Minute)
	for len(e.acked()) < n/4 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if len(e.acked()) == 0 {
		t.Fatal("nothing acknowledged before the outage")
	}
	e.gcs.Close()
	err, failed := j.wait(time.Minute)
	if !failed || err == nil {
		t.Fatalf("the first run did not fail with its store gone (ended: %v, %v)", failed, err)
	}
	<-published
	ackedBefore := e.acked()
	t.Logf("first run failed: %.200s; %d of %d messages acknowledged", err, len(ackedBefore), n)
	if len(ackedBefore) == n {
		t.Fatal("every message was acknowledged before the outage: nothing to recover")
	}

	e.startGCS(t, dir)
	j = run(t, e.config())
	v := e.waitLake(t, n, 3*time.Minute)
	checkExactlyOnce(t, v, "ev", n)
}
