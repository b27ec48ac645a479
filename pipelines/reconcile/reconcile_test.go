package reconcile

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/parquet-go/parquet-go"

	"github.com/segmentflow/segmentflow/event"
)

func TestMain(m *testing.M) { ptest.Main(m) }

// lakeFixture is a small lake: what was written where, and what reconcile
// must make of it.
type lakeFixture struct {
	// objects maps a path relative to the lake root to its NDJSON lines
	// (gzipped when written); raw bytes override for corrupt objects.
	objects map[string][]string
	corrupt map[string][]byte
	// want maps a partition file prefix (date=.../hour=..) to message ids.
	want map[string][]string
	dups int
	bad  map[string][]event.Code // source object -> reasons in line order
}

func normalized(id string, eventTime, receivedAt time.Time, name string) string {
	e := event.Event{
		Type: event.Track, MessageID: id, UserID: "u-" + id, Event: name,
		Properties: map[string]any{"ad": "a1", "n": 3},
		Context:    map[string]any{"app": map[string]any{"version": "1.2"}},
		Timestamp:  eventTime, SentAt: receivedAt, ReceivedAt: receivedAt, EventTime: eventTime,
		Source: "src-dev", Collector: &event.Collector{Node: "c1", ClientIP: "10.0.0.1"},
	}
	b, err := event.Marshal(&e)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func newFixture() lakeFixture {
	h10 := time.Date(2026, 12, 1, 10, 5, 0, 0, time.UTC)
	h11 := time.Date(2026, 12, 1, 11, 59, 59, 0, time.UTC)
	lateDay := time.Date(2026, 11, 28, 23, 30, 0, 0, time.UTC) // offline device, days late
	f := lakeFixture{objects: map[string][]string{}, corrupt: map[string][]byte{}, want: map[string][]string{}, bad: map[string][]event.Code{}}

	var a, b []string
	for i := 0; i < 30; i++ {
		id := fmt.Sprintf("m%03d", i)
		et := h10.Add(time.Duration(i) * time.Minute) // spans hour 10 and 11
		line := normalized(id, et, et.Add(2*time.Second), "user-watched-ad")
		if i%2 == 0 {
			a = append(a, line)
		} else {
			b = append(b, line)
		}
		f.want[partition(et)] = append(f.want[partition(et)], id)
	}
	// At-least-once delivery: m000..m004 again in the second raw object with a
	// later receivedAt, and m010 a third time through the failover store.
	for i := 0; i < 5; i++ {
		id := fmt.Sprintf("m%03d", i)
		et := h10.Add(time.Duration(i) * time.Minute)
		b = append(b, normalized(id, et, et.Add(time.Hour), "user-watched-ad"))
		f.dups++
	}
	late := normalized("late-1", lateDay, h11, "user-opened-app")
	f.want[partition(lateDay)] = []string{"late-1"}
	b = append(b, "", "{not json", `{"type":"track","event":"x","eventTime":"2026-12-01T10:00:00Z","receivedAt":"2026-12-01T10:00:00Z"}`,
		`{"type":"track","messageId":"raw-sdk","event":"x"}`)
	f.bad["raw/2026/12/01/10/w1-0.json.gz"] = []event.Code{event.CodeInvalidJSON, CodeMissingMessageID, CodeNotNormalized}

	et10 := h10.Add(10 * time.Minute)
	f.objects["raw/2026/12/01/10/w0-0.json.gz"] = a
	f.objects["raw/2026/12/01/10/w1-0.json.gz"] = b
	f.objects["failover/2026/12/01/11/c1-1.json.gz"] = []string{normalized("m010", et10, et10.Add(3*time.Second), "user-watched-ad"), late}
	f.dups++
	f.want[partition(h11)] = append(f.want[partition(h11)], "h11-last")
	f.objects["raw/2026/12/01/12/w0-0.json.gz"] = []string{normalized("h11-last", h11, h11.Add(time.Minute), "user-skipped-ad")}

	// A truncated object: its readable lines go on, the rest is one bad row.
	var full bytes.Buffer
	zw := gzip.NewWriter(&full)
	for i := 0; i < 200; i++ {
		fmt.Fprintln(zw, normalized(fmt.Sprintf("t%03d", i), h10, h10, "user-played-card"))
	}
	zw.Close()
	f.corrupt["raw/2026/12/01/12/w9-0.json.gz"] = full.Bytes()[:full.Len()/2]
	f.bad["raw/2026/12/01/12/w9-0.json.gz"] = []event.Code{CodeUnreadable}
	return f
}

func (f lakeFixture) write(t *testing.T, lake string) {
	t.Helper()
	for rel, lines := range f.objects {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write([]byte(strings.Join(lines, "\n") + "\n"))
		zw.Close()
		writeFile(t, filepath.Join(lake, rel), buf.Bytes())
	}
	for rel, b := range f.corrupt {
		writeFile(t, filepath.Join(lake, rel), b)
	}
	// Objects the pipeline must not read.
	writeFile(t, filepath.Join(lake, "events-not-raw/x.json.gz"), []byte("ignored"))
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func counters(t *testing.T, res beam.PipelineResult) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	for _, c := range res.Metrics().AllMetrics().Counters() {
		if c.Namespace() == "reconcile" {
			got[c.Name()] += c.Result()
		}
	}
	return got
}

// readPartitions reads every Parquet file under dir: partition -> message ids.
func readPartitions(t *testing.T, dir string) (map[string][]string, map[string]Row) {
	t.Helper()
	ids := map[string][]string{}
	rows := map[string]Row{}
	files, err := filepath.Glob(filepath.Join(dir, "date=*", "hour=*", "part-*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range files {
		rs, err := parquet.ReadFile[Row](p)
		if err != nil {
			t.Fatalf("read %s: %v", p, err)
		}
		rel, _ := filepath.Rel(dir, filepath.Dir(p))
		for _, r := range rs {
			if _, dup := rows[r.MessageID]; dup {
				t.Errorf("message %s written twice", r.MessageID)
			}
			rows[r.MessageID] = r
			ids[rel] = append(ids[rel], r.MessageID)
		}
	}
	for k := range ids {
		sort.Strings(ids[k])
	}
	return ids, rows
}

func TestReconcileLocalLake(t *testing.T) {
	lake := t.TempDir()
	f := newFixture()
	f.write(t, lake)

	p, s := beam.NewPipelineWithRoot()
	if err := Build(s, Config{Lake: lake, ShardsPerHour: 2}); err != nil {
		t.Fatal(err)
	}
	res, err := ptest.RunWithMetrics(p)
	if err != nil {
		t.Fatalf("run: %v", err)
	}

	ids, rows := readPartitions(t, filepath.Join(lake, "events"))
	// The truncated object contributes whatever lines precede the cut.
	truncated := 0
	for id := range rows {
		if strings.HasPrefix(id, "t") {
			truncated++
			ids["date=2026-12-01/hour=10"] = remove(ids["date=2026-12-01/hour=10"], id)
		}
	}
	if truncated == 0 || truncated >= 200 {
		t.Errorf("truncated object: %d lines written, want some but not all 200", truncated)
	}
	for k := range f.want {
		sort.Strings(f.want[k])
	}
	if !equalMap(ids, f.want) {
		t.Errorf("partitions:\n got %v\nwant %v", ids, f.want)
	}

	// The first delivery wins and every field survives the trip to Parquet.
	m0 := rows["m000"]
	if m0.ReceivedAt != time.Date(2026, 12, 1, 10, 5, 2, 0, time.UTC).UnixMilli() {
		t.Errorf("m000 kept receivedAt %v, want the first delivery", time.UnixMilli(m0.ReceivedAt).UTC())
	}
	if m0.UserID != "u-m000" || m0.Event != "user-watched-ad" || m0.CollectorNode != "c1" || m0.Source != "src-dev" || m0.Timestamp == nil {
		t.Errorf("m000 row lost fields: %+v", m0)
	}
	var props map[string]any
	if err := json.Unmarshal([]byte(m0.Properties), &props); err != nil || props["ad"] != "a1" {
		t.Errorf("m000 properties %q: %v", m0.Properties, err)
	}

	// Bad rows: one object per source, original payload and a typed reason.
	for src, want := range f.bad {
		got := readBadRows(t, filepath.Join(lake, "badrows", "reconcile", src))
		var codes []event.Code
		for _, r := range got {
			codes = append(codes, r.Reason)
			if r.Source != filepath.Join(lake, src) {
				t.Errorf("bad row source %q, want %q", r.Source, filepath.Join(lake, src))
			}
		}
		if fmt.Sprint(codes) != fmt.Sprint(want) {
			t.Errorf("bad rows of %s: %v, want %v", src, codes, want)
		}
		if src == "raw/2026/12/01/10/w1-0.json.gz" && got[0].Payload != "{not json" {
			t.Errorf("bad row payload %q, want the original line", got[0].Payload)
		}
	}

	c := counters(t, res)
	wantWritten := int64(len(rows))
	if c["written"] != wantWritten || c["duplicates"] != int64(f.dups) || c["bad"] != 4 || c["in"] != c["written"]+c["duplicates"]+c["bad"] {
		t.Errorf("counters %v: want written=%d duplicates=%d bad=4 and in balanced", c, wantWritten, f.dups)
	}

	// A rerun over the same lake rewrites the same files with the same content.
	p2, s2 := beam.NewPipelineWithRoot()
	if err := Build(s2, Config{Lake: lake, ShardsPerHour: 2}); err != nil {
		t.Fatal(err)
	}
	if err := ptest.Run(p2); err != nil {
		t.Fatalf("rerun: %v", err)
	}
	again, _ := readPartitions(t, filepath.Join(lake, "events"))
	if n := countIDs(again); n != len(rows) {
		t.Errorf("rerun wrote %d events, want %d", n, len(rows))
	}
}

func TestReconcileEmptyLake(t *testing.T) {
	lake := t.TempDir()
	p, s := beam.NewPipelineWithRoot()
	if err := Build(s, Config{Lake: lake}); err != nil {
		t.Fatal(err)
	}
	if err := ptest.Run(p); err != nil {
		t.Fatalf("an empty lake is not an error: %v", err)
	}
	if files, _ := filepath.Glob(filepath.Join(lake, "events", "*")); len(files) != 0 {
		t.Errorf("empty lake wrote %v", files)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{{}, {Lake: "/x", ShardsPerHour: -1}, {Lake: "/x", Date: "1.12.2026"},
		{Lake: "/x", Date: "2026-12-01", Days: -1}, {Lake: "/x", Date: "2026-12-01", Lateness: -time.Hour}} {
		if _, err := c.resolve(); err == nil {
			t.Errorf("%+v: want an error", c)
		}
	}
	r, err := Config{Lake: "gs://b/pre/", ShardsPerHour: 1}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(r.Inputs) != "[gs://b/pre/raw/"+allHours+" gs://b/pre/failover/"+allHours+"]" || r.Output != "gs://b/pre/events" || r.To != 0 {
		t.Errorf("resolved %+v", r)
	}

	// A dated run reads the processing days from the day before to lateness
	// after, in every tree, and bounds the event times it writes.
	r, err = Config{Lake: "gs://b", Failover: []string{"gs://standby/failover/"}, Date: "2026-12-01", Lateness: 48 * time.Hour}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, tree := range []string{"gs://b/raw/", "gs://b/failover/", "gs://standby/failover/"} {
		for _, d := range []string{"2026/11/30", "2026/12/01", "2026/12/02", "2026/12/03"} {
			want = append(want, tree+d+"/*/*.json.gz")
		}
	}
	if fmt.Sprint(r.Inputs) != fmt.Sprint(want) {
		t.Errorf("dated inputs\n got %v\nwant %v", r.Inputs, want)
	}
	if from, to := time.UnixMilli(r.From).UTC(), time.UnixMilli(r.To).UTC(); !from.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) || to.Sub(from) != 24*time.Hour {
		t.Errorf("dated bounds %v..%v, want the UTC day 2026-12-01", from, to)
	}
}

// A dated run writes only its dates' partitions, reads the extra failover
// trees, and counts the other dates' events as outside.
func TestReconcileDated(t *testing.T) {
	lake := t.TempDir()
	f := newFixture()
	f.write(t, lake)
	standby := t.TempDir()
	h10 := time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	fmt.Fprintln(zw, normalized("sb-1", h10, h10.Add(time.Second), "user-opened-app"))
	fmt.Fprintln(zw, normalized("m020", h10, h10.Add(2*time.Hour), "user-watched-ad")) // a later copy
	// Copies whose event times straddle midnight: the first received is
	// kept, so "eve" belongs to 12-01 and "morn" to 12-02, in both runs.
	midnight := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	fmt.Fprintln(zw, normalized("eve", midnight.Add(-100*time.Millisecond), midnight, "user-opened-app"))
	fmt.Fprintln(zw, normalized("eve", midnight.Add(100*time.Millisecond), midnight.Add(time.Minute), "user-opened-app"))
	fmt.Fprintln(zw, normalized("morn", midnight.Add(100*time.Millisecond), midnight.Add(time.Second), "user-opened-app"))
	fmt.Fprintln(zw, normalized("morn", midnight.Add(-100*time.Millisecond), midnight.Add(time.Minute), "user-opened-app"))
	zw.Close()
	writeFile(t, filepath.Join(standby, "2026/12/01/23/c2-1.json.gz"), buf.Bytes())
	// An object of a processing day the run must not read at all.
	writeFile(t, filepath.Join(lake, "raw/2026/11/20/10/w0-0.json.gz"), []byte("not even gzip"))

	p, s := beam.NewPipelineWithRoot()
	if err := Build(s, Config{Lake: lake, Failover: []string{standby}, Date: "2026-12-01", ShardsPerHour: 2}); err != nil {
		t.Fatal(err)
	}
	res, err := ptest.RunWithMetrics(p)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	ids, rows := readPartitions(t, filepath.Join(lake, "events"))
	for part := range ids {
		if !strings.HasPrefix(part, "date=2026-12-01/") {
			t.Errorf("dated run wrote partition %s", part)
		}
	}
	if _, ok := rows["sb-1"]; !ok {
		t.Error("the standby failover tree's event is missing")
	}
	if _, ok := rows["late-1"]; ok {
		t.Error("late-1 (event date 2026-11-28) was written by the 2026-12-01 run")
	}
	if _, ok := rows["eve"]; !ok {
		t.Error("eve (kept copy at 23:59:59.900) is missing from the 2026-12-01 run")
	}
	if _, ok := rows["morn"]; ok {
		t.Error("morn (kept copy at 00:00:00.100 the next day) was written by the 2026-12-01 run")
	}
	c := counters(t, res)
	if c["outside"] != 2 || c["duplicates"] != int64(f.dups)+3 || c["in"] != c["written"]+c["duplicates"]+c["bad"]+c["outside"] {
		t.Errorf("counters %v: want outside=2 (late-1, morn), duplicates=%d, and in balanced", c, f.dups+3)
	}

	// The next date's run writes morn and not eve.
	p, s = beam.NewPipelineWithRoot()
	if err := Build(s, Config{Lake: lake, Failover: []string{standby}, Date: "2026-12-02", ShardsPerHour: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := ptest.RunWithMetrics(p); err != nil {
		t.Fatalf("run 2026-12-02: %v", err)
	}
	ids, _ = readPartitions(t, filepath.Join(lake, "events"))
	var next []string
	for part, got := range ids {
		if strings.HasPrefix(part, "date=2026-12-02/") {
			next = append(next, got...)
		}
	}
	if fmt.Sprint(next) != "[morn]" {
		t.Errorf("the 2026-12-02 run wrote %v, want [morn]", next)
	}
	if _, err := os.Stat(filepath.Join(lake, "badrows", "reconcile", "raw/2026/11/20/10/w0-0.json.gz")); err == nil {
		t.Error("an object outside the processing days was read")
	}
}

func readBadRows(t *testing.T, path string) []BadRow {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("bad rows: %v", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var out []BadRow
	dec := json.NewDecoder(zr)
	for dec.More() {
		var r BadRow
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func remove(s []string, v string) []string {
	out := s[:0]
	for _, x := range s {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

func equalMap(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if fmt.Sprint(v) != fmt.Sprint(b[k]) {
			return false
		}
	}
	return true
}

func countIDs(m map[string][]string) int {
	n := 0
	for _, v := range m {
		n += len(v)
	}
	return n
}
