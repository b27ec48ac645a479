package lakewriter

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/periodic"

	"github.com/segmentflow/segmentflow/emulators"
	"github.com/segmentflow/segmentflow/emulators/emulatortest"
)

func TestMain(m *testing.M) { ptest.Main(m) }

func init() {
	register.DoFn3x0[beam.EventTime, int64, func(Record)](&genFn{})
	register.Emitter1[Record]()
}

// genFn turns a sequence index into a record whose body names it and says
// when it was made; every BadEvery-th body is not JSON, for the bad rows.
type genFn struct{ BadEvery int64 }

func (fn *genFn) ProcessElement(_ beam.EventTime, i int64, emit func(Record)) {
	now := time.Now()
	id := fmt.Sprintf("m-%d", i)
	body := fmt.Sprintf(`{"messageId":%q,"made":%d,"pad":"%s"}`, id, now.UnixMilli(), strings.Repeat("x", int(i%7)))
	if fn.BadEvery > 0 && i%fn.BadEvery == 0 {
		body = "not json " + id
	}
	emit(Record{ID: id, Data: []byte(body), PublishMillis: now.UnixMilli()})
}

// streamInto runs a pipeline that offers n records, one every step, to
// Write with opts, and waits until it has rolled everything (prism keeps an
// unbounded pipeline running until its processing-time timers have fired).
func streamInto(t *testing.T, opts Options, n int64, step time.Duration, badEvery int64) metrics.QueryResults {
	t.Helper()
	p, s := beam.NewPipelineWithRoot()
	start := time.Now().Add(500 * time.Millisecond)
	seq := periodic.Sequence(s, beam.Create(s, periodic.NewSequenceDefinition(start, start.Add(time.Duration(n)*step), step)))
	if err := Write(s, beam.ParDo(s, &genFn{BadEvery: badEvery}, seq), opts); err != nil {
		t.Fatal(err)
	}
	res, err := ptest.RunWithMetrics(p)
	if err != nil {
		t.Fatalf("pipeline: %v", err)
	}
	return res.Metrics().Query(func(r metrics.SingleResult) bool { return r.Namespace() == "lake" })
}

func counter(q metrics.QueryResults, name string) int64 {
	var n int64
	for _, c := range q.Counters() {
		if c.Name() == name {
			n += c.Result()
		}
	}
	return n
}

var objectRE = regexp.MustCompile(`^(\d{4})/(\d{2})/(\d{2})/(\d{2})/(\d{2})(\d{2})(\d{2})-(\d{2})(?:-(\d+))?\.json\.gz$`)

// lakeObject is one final object as found in the lake.
type lakeObject struct {
	Name   string
	Window time.Time
	Shard  int
	Roll   int
	Size   int64
	Lines  []string
}

// lakeObjects reads every object under dest (a URL ending in '/'), checking
// that its name is a valid layout name and its body a complete gzip stream
// of newline-terminated lines.
func lakeObjects(t *testing.T, st *store, dest string, interval time.Duration) []lakeObject {
	t.Helper()
	ctx := context.Background()
	names, err := st.list(ctx, dest+"*/*/*/*/*")
	if err != nil {
		t.Fatal(err)
	}
	var out []lakeObject
	for _, n := range names {
		rel := strings.TrimPrefix(n, dest)
		m := objectRE.FindStringSubmatch(rel)
		if m == nil {
			t.Fatalf("%s: not a lake object name", n)
		}
		a := make([]int, 10)
		for i := 1; i < len(m); i++ {
			a[i], _ = strconv.Atoi(m[i])
		}
		if m[4] != m[5] {
			t.Errorf("%s: window hour %s under hour prefix %s", n, m[5], m[4])
		}
		w := time.Date(a[1], time.Month(a[2]), a[3], a[5], a[6], a[7], 0, time.UTC)
		if !w.Equal(w.Truncate(interval)) {
			t.Errorf("%s: window %v not aligned to %v", n, w, interval)
		}
		body, err := st.read(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, lakeObject{Name: n, Window: w, Shard: a[8], Roll: a[9], Size: int64(len(body)), Lines: gunzipLines(t, n, body)})
	}
	return out
}

// eventLine is what genFn wrote, as the lake holds it.
type eventLine struct {
	MessageID string `json:"messageId"`
	Made      int64  `json:"made"`
}

// checkEvents checks that the objects hold every good record of 0..n-1
// exactly once, each in the window it was staged in (made before the
// window's end: a record is staged after it is made).
func checkEvents(t *testing.T, objs []lakeObject, n, badEvery int64, interval time.Duration) map[time.Time]bool {
	t.Helper()
	seen := map[string]string{}
	windows := map[time.Time]bool{}
	for _, o := range objs {
		windows[o.Window] = true
		for _, ln := range o.Lines {
			var e eventLine
			if err := json.Unmarshal([]byte(ln), &e); err != nil {
				t.Fatalf("%s: line %q is not JSON: %v", o.Name, ln, err)
			}
			if prev, dup := seen[e.MessageID]; dup {
				t.Errorf("%s twice: in %s and %s", e.MessageID, prev, o.Name)
			}
			seen[e.MessageID] = o.Name
			if made := time.UnixMilli(e.Made); !made.Before(o.Window.Add(interval)) {
				t.Errorf("%s made at %v is in %s, a window that ended before", e.MessageID, made, o.Name)
			}
		}
	}
	for i := int64(0); i < n; i++ {
		id := fmt.Sprintf("m-%d", i)
		_, ok := seen[id]
		if bad := badEvery > 0 && i%badEvery == 0; ok == bad {
			t.Errorf("%s in lake: %v, want %v", id, ok, !bad)
		}
	}
	return windows
}

func stagingLeft(t *testing.T, st *store, staging string) []string {
	t.Helper()
	var left []string
	for _, kind := range []string{kindRaw, kindBadRows} {
		names, err := st.list(context.Background(), staging+kind+"/*/*/*")
		if err != nil {
			t.Fatal(err)
		}
		left = append(left, names...)
	}
	return left
}

// A stream over several one-second windows on a local lake: every event once,
// in the right window and hour prefix, bad records in bad rows, nothing left
// staged, and metrics that match what is in the lake.
func TestWriteStreamLocal(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dest: dir + "/raw", BadRows: dir + "/badrows/lake", Staging: dir + "/staging/lake", Interval: time.Second, Shards: 2}
	const n, badEvery = 250, 25
	q := streamInto(t, opts, n, 20*time.Millisecond, badEvery)

	st, err := openStore(context.Background(), dir, "")
	if err != nil {
		t.Fatal(err)
	}
	objs := lakeObjects(t, st, dir+"/raw/", time.Second)
	if w := checkEvents(t, objs, n, badEvery, time.Second); len(w) < 4 {
		t.Errorf("events in %d windows, want at least 4 for a 5 s stream of 1 s windows", len(w))
	}
	bad := lakeObjects(t, st, dir+"/badrows/lake/", time.Second)
	var badIDs []string
	for _, o := range bad {
		for _, ln := range o.Lines {
			var br badRow
			if err := json.Unmarshal([]byte(ln), &br); err != nil {
				t.Fatalf("bad row %q: %v", ln, err)
			}
			payload, _ := base64.StdEncoding.DecodeString(br.Payload)
			if br.Reason == "" || string(payload) != "not json "+br.MessageID {
				t.Errorf("bad row %+v: want a reason and the original payload", br)
			}
			badIDs = append(badIDs, br.MessageID)
		}
	}
	if len(badIDs) != n/badEvery {
		t.Errorf("%d bad rows, want %d", len(badIDs), n/badEvery)
	}
	if left := stagingLeft(t, st, dir+"/staging/lake/"); len(left) > 0 {
		t.Errorf("staging not empty: %v", left)
	}

	var events, size int64
	for _, o := range append(objs, bad...) {
		size += o.Size
	}
	for _, o := range objs {
		events += int64(len(o.Lines))
	}
	if got := counter(q, "objects_written"); got != int64(len(objs)+len(bad)) {
		t.Errorf("objects_written %d, lake holds %d", got, len(objs)+len(bad))
	}
	if got := counter(q, "bytes_written"); got != size {
		t.Errorf("bytes_written %d, lake holds %d", got, size)
	}
	// events_written counts raw events and bad rows alike.
	if got := counter(q, "events_written"); got != events+int64(len(badIDs)) {
		t.Errorf("events_written %d, lake holds %d + %d bad rows", got, events, len(badIDs))
	}
	if got := counter(q, "bad_rows"); got != int64(len(badIDs)) {
		t.Errorf("bad_rows %d, want %d", got, len(badIDs))
	}
	var lags int64
	for _, d := range q.Distributions() {
		if d.Name() == "publish_to_commit_ms" {
			lags += d.Result().Count
			if d.Result().Min < 0 || d.Result().Max > 60_000 {
				t.Errorf("publish_to_commit_ms %+v out of range", d.Result())
			}
		}
	}
	if lags != int64(len(objs)+len(bad)) {
		t.Errorf("%d lag samples for %d objects", lags, len(objs)+len(bad))
	}
}

// Size-based rolling on the GCS emulator: with a limit of a few parts, a
// window's shard is cut into several objects, none over the limit.
func TestWriteRollsBySizeOnGCS(t *testing.T) {
	ctx := context.Background()
	g := emulatortest.GCS(t, "")
	c := emulatortest.StorageClient(t, g)
	if err := c.Bucket("lake").Create(ctx, "local", nil); err != nil {
		t.Fatal(err)
	}
	const limit = 400
	opts := Options{Dest: "gs://lake/raw/", BadRows: "gs://lake/badrows/lake/", Staging: "gs://lake/staging/lake/",
		Interval: 2 * time.Second, Shards: 1, MaxBytes: limit, GCSEndpoint: g.URL}
	const n = 120
	streamInto(t, opts, n, 25*time.Millisecond, 0)

	st, err := openStore(ctx, "gs://lake/", g.URL)
	if err != nil {
		t.Fatal(err)
	}
	objs := lakeObjects(t, st, "gs://lake/raw/", 2*time.Second)
	checkEvents(t, objs, n, 0, 2*time.Second)
	rolls := 0
	for _, o := range objs {
		if o.Size > limit {
			t.Errorf("%s is %d bytes, over the %d limit", o.Name, o.Size, limit)
		}
		if o.Roll > 0 {
			rolls++
		}
	}
	if rolls == 0 {
		t.Errorf("no object rolled by size among %d", len(objs))
	}
	if left := stagingLeft(t, st, "gs://lake/staging/lake/"); len(left) > 0 {
		t.Errorf("staging not empty: %v", left)
	}
}

// A bundle whose bad-rows part cannot be written fails as a whole: its
// events part, written first, is removed, so the redelivered records are not
// staged twice, and nothing reaches the lake.
func TestWriteFailedBundleLeavesNoPart(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dest: dir + "/raw", BadRows: dir + "/badrows/lake", Staging: dir + "/staging/lake", Interval: time.Second, Shards: 1}
	// A file where the bad-rows staging folder belongs: every write under it fails.
	if err := os.MkdirAll(dir+"/staging/lake", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/staging/lake/badrows", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p, s := beam.NewPipelineWithRoot()
	recs := beam.Create(s,
		Record{ID: "a", Data: []byte(`{"a":1}`), PublishMillis: 1},
		Record{ID: "b", Data: []byte(`not json`), PublishMillis: 1},
		Record{ID: "c", Data: []byte(`{"c":1}`), PublishMillis: 1})
	if err := Write(s, recs, opts); err != nil {
		t.Fatal(err)
	}
	if err := ptest.Run(p); err == nil {
		t.Fatal("pipeline succeeded with an unwritable bad-rows folder")
	}
	st, err := openStore(context.Background(), dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if left := stagingLeft(t, st, dir+"/staging/lake/"); len(left) > 0 {
		t.Errorf("a failed bundle left parts: %v", left)
	}
	if objs := lakeObjects(t, st, dir+"/raw/", time.Second); len(objs) > 0 {
		t.Errorf("a failed bundle reached the lake: %v", objs)
	}
}

// A restarted pipeline finishes what an earlier run left: parts staged in a
// window long closed and a roll interrupted after its manifest. Each of
// those events ends up in the lake exactly once, next to the new stream.
func TestWriteRestartRollsWhatAnEarlierRunStaged(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	opts := Options{Dest: dir + "/raw", BadRows: dir + "/badrows/lake", Staging: dir + "/staging/lake", Interval: time.Second, Shards: 2}
	o, err := opts.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStore(ctx, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	l := o.layouts()[kindRaw]
	old := l.window(time.Now().Add(-time.Hour))
	mk := func(id string, at time.Time) string {
		return fmt.Sprintf(`{"messageId":%q,"made":%d}`, id, at.UnixMilli())
	}
	// Shard 0: two parts of an old window, never rolled.
	stage(t, st, l, old, 0, old.Start, mk("old-1", old.Start), mk("old-2", old.Start))
	stage(t, st, l, old, 0, old.Start.Add(time.Millisecond), mk("old-3", old.Start))
	// Shard 1: a roll that crashed after writing its manifest.
	a := stage(t, st, l, old, 1, old.Start, mk("old-4", old.Start))
	b := stage(t, st, l, old, 1, old.Start.Add(time.Millisecond), mk("old-5", old.Start))
	writeManifest(t, st, l.manifestName(old, 1), manifest{Final: l.finalName(old, 1, 0), Parts: []string{a.Name, b.Name}})
	// Bad rows of the old window: the new stream has none, so only the
	// start-up kick rolls them.
	bl := o.layouts()[kindBadRows]
	stage(t, st, bl, old, 1, old.Start, `{"reason":"old","message_id":"old-bad"}`)

	const n = 60
	streamInto(t, opts, n, 20*time.Millisecond, 0)

	objs := lakeObjects(t, st, dir+"/raw/", time.Second)
	checkEvents(t, objs, n, 0, time.Second)
	found := map[string]string{}
	for _, ob := range objs {
		for _, ln := range ob.Lines {
			var e eventLine
			json.Unmarshal([]byte(ln), &e)
			if strings.HasPrefix(e.MessageID, "old-") {
				found[e.MessageID] = path.Base(ob.Name)
				if !ob.Window.Equal(old.Start) {
					t.Errorf("%s in %s, want its own window %v", e.MessageID, ob.Name, old.Start)
				}
			}
		}
	}
	if len(found) != 5 {
		t.Errorf("earlier run's events in the lake: %v, want old-1..old-5", found)
	}
	if bad := lakeObjects(t, st, dir+"/badrows/lake/", time.Second); len(bad) != 1 || len(bad[0].Lines) != 1 {
		t.Errorf("bad rows %+v, want the earlier run's one line", bad)
	}
	if left := stagingLeft(t, st, dir+"/staging/lake/"); len(left) > 0 {
		t.Errorf("staging not empty: %v", left)
	}
}

// The same stream on S3 through Beam's s3 file system (gofakes3 serving
// the S3 API over HTTP).
func TestWriteStreamS3(t *testing.T) {
	s3 := emulators.StartS3()
	defer s3.Close()
	if err := s3.CreateBucket("lake"); err != nil {
		t.Fatal(err)
	}
	for k, v := range s3.Env() {
		t.Setenv(k, v)
	}
	const limit = 600
	opts := Options{Dest: "s3://lake/raw/", BadRows: "s3://lake/badrows/lake/", Staging: "s3://lake/staging/lake/",
		Interval: time.Second, Shards: 2, MaxBytes: limit}
	const n = 150
	q := streamInto(t, opts, n, 20*time.Millisecond, 0)

	st, err := openStore(context.Background(), "s3://lake/", "")
	if err != nil {
		t.Fatal(err)
	}
	objs := lakeObjects(t, st, "s3://lake/raw/", time.Second)
	if w := checkEvents(t, objs, n, 0, time.Second); len(w) < 2 {
		t.Errorf("events in %d windows, want at least 2", len(w))
	}
	for _, o := range objs {
		if o.Size > limit {
			t.Errorf("%s is %d bytes, over the %d limit", o.Name, o.Size, limit)
		}
	}
	if got := counter(q, "objects_written"); got != int64(len(objs)) {
		t.Errorf("objects_written %d, lake holds %d", got, len(objs))
	}
	if left := stagingLeft(t, st, "s3://lake/staging/lake/"); len(left) > 0 {
		t.Errorf("staging not empty: %v", left)
	}
}
