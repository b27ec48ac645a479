// Command lake measures the lake pipeline's write throughput on the
// in-process prism runner: it loads a backlog of events into an in-process
// Pub/Sub emulator, runs pipelines/lake against it into a GCS emulator (or a
// local directory) and reports how fast the backlog becomes durable
// (acknowledged: its part is written) and how fast it is rolled into final
// objects. It then reads the lake back and checks every event is there
// exactly once, so a figure is never reported for a run that lost data.
//
//	go run ./bench/lake [--events 20000] [--size 500] [--lake DIR] [--readers 1]
package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"google.golang.org/api/iterator"

	"github.com/segmentflow/segmentflow/emulators"
	"github.com/segmentflow/segmentflow/infra"
	"github.com/segmentflow/segmentflow/pipelines/lake"
)

func main() {
	events := flag.Int("events", 20_000, "events in the backlog (pstest slows down with a large backlog: each pull scans it)")
	size := flag.Int("size", 500, "approximate bytes of one event's JSON")
	dir := flag.String("lake", "", "local lake directory (default: a bucket on an in-process GCS emulator)")
	readers := flag.Int("readers", 1, "concurrent Pub/Sub pull loops")
	shards := flag.Int("shards", 4, "objects per window")
	roll := flag.Duration("roll_interval", 10*time.Second, "processing-time window of an object")
	rollBytes := flag.Int64("roll_bytes", 128<<20, "size at which an object is rolled early")
	limit := flag.Duration("timeout", 5*time.Minute, "give up after this long")
	flag.Parse()
	beam.Init()
	logLevel.Set(slog.LevelWarn)
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: &logLevel})))
	if err := run(*events, *size, *dir, *readers, *shards, *roll, *rollBytes, *limit); err != nil {
		fmt.Fprintln(os.Stderr, "bench/lake:", err)
		os.Exit(1)
	}
}

// logLevel is raised before the benchmark cancels its job, whose
// cancellation prism reports as a failed bundle.
var logLevel slog.LevelVar

// pollEvery is how often the acknowledgements are counted; reading them
// takes the emulator's lock, so not much more often than this.
var pollEvery = 250 * time.Millisecond

func run(n, size int, dir string, readers, shards int, roll time.Duration, rollBytes int64, limit time.Duration) error {
	ctx := context.Background()
	names := infra.Default()
	ps, err := emulators.StartPubSub("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ps.Close()
	var g *emulators.GCS
	if dir == "" {
		if g, err = emulators.StartGCS("127.0.0.1:0", ""); err != nil {
			return err
		}
		defer g.Close()
	}
	if err := emulators.Provision(ctx, emulators.Config{Names: names}, ps, nil, g); err != nil {
		return err
	}

	topic := fmt.Sprintf("projects/%s/topics/%s", names.ProjectLocal, names.Topics.Events)
	var rawBytes int64
	for i := 0; i < n; i++ {
		body := eventBody(i, size)
		rawBytes += int64(len(body)) + 1 // its newline in the lake
		ps.Server.Publish(topic, body, map[string]string{"message_id": fmt.Sprintf("ev-%d", i), "type": "track"})
	}

	cfg := lake.Defaults()
	cfg.PubSubEndpoint = ps.Addr
	cfg.Readers, cfg.Shards, cfg.RollInterval, cfg.RollBytes = readers, shards, roll, rollBytes
	cfg.RollGrace = min(2*time.Second, roll)
	var lk lakeReader
	if g != nil {
		c, err := g.Client(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		cfg.Lake, cfg.GCSEndpoint = "gs://"+names.Buckets.Lake, g.URL
		lk = gcsLake{b: c.Bucket(names.Buckets.Lake), prefix: names.LakePrefixes.Raw}
	} else {
		d, err := os.MkdirTemp(dir, "bench-lake-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		cfg.Lake = d
		lk = localLake{root: filepath.Join(d, names.LakePrefixes.Raw)}
	}
	p, s := beam.NewPipelineWithRoot()
	if err := lake.Build(s, cfg); err != nil {
		return err
	}

	// Cancel, never a deadline: a deadline makes prism's worker panic.
	jctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := prism.Execute(jctx, p)
		done <- err
	}()
	stopJob := func() {
		logLevel.Set(slog.LevelError + 4)
		cancel()
		select {
		case <-done:
		case <-time.After(time.Minute):
		}
	}
	defer stopJob()

	// Durable = acknowledged: the reader acks a message only after the part
	// holding it is written.
	var firstAck, allAcked time.Time
	for allAcked.IsZero() {
		select {
		case err := <-done:
			return fmt.Errorf("pipeline ended early: %v", err)
		case <-time.After(pollEvery):
		}
		if time.Since(start) > limit {
			return fmt.Errorf("timed out with %d of %d events acknowledged", acked(ps), n)
		}
		switch a := acked(ps); {
		case a >= n:
			allAcked = time.Now()
		case a > 0 && firstAck.IsZero():
			firstAck = time.Now()
		}
	}
	if firstAck.IsZero() {
		firstAck = start
	}

	// Rolled: every event in a final object.
	var lines int
	var objects int
	var objBytes int64
	for {
		if time.Since(start) > limit {
			return fmt.Errorf("timed out with %d of %d events rolled", lines, n)
		}
		lines, objects, objBytes, err = lk.count(ctx, n)
		if err != nil {
			return err
		}
		if lines >= n {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	allRolled := time.Now()
	stopJob()

	ingest := allAcked.Sub(firstAck).Seconds()
	target := "gcs-emulator"
	if dir != "" {
		target = "local"
	}
	fmt.Printf("lake write on prism: %d events of ~%d B (%.1f MB raw), %s, %d reader(s), %d shards, roll %v\n",
		n, size, float64(rawBytes)/1e6, target, readers, shards, roll)
	fmt.Printf("  durable (acked):   %8.0f events/s  %6.2f MB/s raw  (%.1f s from first to last ack; %.1f s incl. start-up)\n",
		float64(n)/ingest, float64(rawBytes)/1e6/ingest, ingest, allAcked.Sub(start).Seconds())
	fmt.Printf("  rolled (objects):  %d objects, %.1f MB gzip (%.1fx), all rolled %.1f s after start (window + grace + roll)\n",
		objects, float64(objBytes)/1e6, float64(rawBytes)/float64(max(objBytes, 1)), allRolled.Sub(start).Seconds())
	fmt.Printf("  check: every event exactly once in the lake\n")
	return nil
}

func acked(ps *emulators.PubSub) int {
	a := 0
	for _, m := range ps.Server.Messages() {
		if m.Acks > 0 {
			a++
		}
	}
	return a
}

var words = strings.Fields("level score coins gems reward streak quest boss arena skin chest " +
	"daily weekly season battle pass rank gold silver bronze combo shield potion map tile card " +
	"deck spin wheel bonus offer store bundle video rewarded interstitial banner click skip watch")

// eventBody is a normalized track event of about size bytes.
func eventBody(i, size int) []byte {
	ev := map[string]any{
		"type": "track", "messageId": fmt.Sprintf("ev-%d", i), "userId": fmt.Sprintf("user-%d", i%5000),
		"event": "user-watched-ad", "timestamp": time.Now().UTC().Format(time.RFC3339Nano),
		"properties": map[string]any{"ad_id": fmt.Sprintf("ad-%d", i%97), "seconds": i % 30},
		"context":    map[string]any{"app": map[string]any{"name": "game", "version": "3.1.4"}, "os": map[string]any{"name": "Android", "version": "15"}},
		"source":     "dev",
	}
	b, _ := json.Marshal(ev)
	if pad := size - len(b) - 12; pad > 0 {
		// Text that compresses like real properties do, not like a run of
		// one letter.
		var sb strings.Builder
		for r := rand.New(rand.NewPCG(uint64(i), 7)); sb.Len() < pad; {
			sb.WriteString(words[r.IntN(len(words))])
			sb.WriteByte(' ')
		}
		ev["props"] = sb.String()[:pad]
		b, _ = json.Marshal(ev)
	}
	return b
}

// lakeReader counts what the lake's final objects hold, failing on a
// duplicate or a line that is not one of the benchmark's events.
type lakeReader interface {
	count(ctx context.Context, n int) (lines, objects int, bytes int64, err error)
}

type tally struct {
	seen    []bool
	lines   int
	objects int
	bytes   int64
}

func newTally(n int) *tally { return &tally{seen: make([]bool, n)} }

func (t *tally) object(name string, r io.Reader, size int64) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("%s: not gzip: %w", name, err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var ev struct {
			MessageID string `json:"messageId"`
		}
		var i int
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("%s: bad line: %w", name, err)
		}
		if _, err := fmt.Sscanf(ev.MessageID, "ev-%d", &i); err != nil || i < 0 || i >= len(t.seen) {
			return fmt.Errorf("%s: unknown event %q", name, ev.MessageID)
		}
		if t.seen[i] {
			return fmt.Errorf("%s: %s twice in the lake", name, ev.MessageID)
		}
		t.seen[i] = true
		t.lines++
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	t.objects++
	t.bytes += size
	return nil
}

type gcsLake struct {
	b      *storage.BucketHandle
	prefix string
}

func (l gcsLake) count(ctx context.Context, n int) (int, int, int64, error) {
	t := newTally(n)
	it := l.b.Objects(ctx, &storage.Query{Prefix: l.prefix})
	for {
		a, err := it.Next()
		if err == iterator.Done {
			return t.lines, t.objects, t.bytes, nil
		}
		if err != nil {
			return 0, 0, 0, err
		}
		r, err := l.b.Object(a.Name).NewReader(ctx)
		if err != nil {
			return 0, 0, 0, err
		}
		err = t.object(a.Name, r, a.Size)
		r.Close()
		if err != nil {
			return 0, 0, 0, err
		}
	}
}

type localLake struct{ root string }

func (l localLake) count(_ context.Context, n int) (int, int, int64, error) {
	t := newTally(n)
	names, err := filepath.Glob(filepath.Join(l.root, "*", "*", "*", "*", "*.json.gz"))
	if err != nil {
		return 0, 0, 0, err
	}
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			return 0, 0, 0, err
		}
		st, _ := f.Stat()
		err = t.object(name, f, st.Size())
		f.Close()
		if err != nil {
			return 0, 0, 0, err
		}
	}
	return t.lines, t.objects, t.bytes, nil
}
