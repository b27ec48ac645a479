package lakewriter

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/segmentflow/segmentflow/emulators/emulatortest"
)

// stage writes one part of lines into staging as writeFn does.
func stage(t *testing.T, st *store, l layout, w window, shard int, created time.Time, lines ...string) partMeta {
	t.Helper()
	p := newPart()
	for _, ln := range lines {
		if err := p.add([]byte(ln), created.UnixMilli()); err != nil {
			t.Fatal(err)
		}
	}
	body, err := p.finish()
	if err != nil {
		t.Fatal(err)
	}
	name := l.partName(w, shard, created, randomID(), p.events, int64(len(body)), p.minPub)
	if err := st.write(context.Background(), name, func(wr io.Writer) error { _, err := wr.Write(body); return err }); err != nil {
		t.Fatal(err)
	}
	pm, ok := parsePartName(name)
	if !ok {
		t.Fatalf("part name %s does not parse", name)
	}
	return pm
}

// readLake returns every line of every object under dest by object, checking
// each is a complete gzip stream.
func readLake(t *testing.T, st *store, glob string) map[string][]string {
	t.Helper()
	names, err := st.list(context.Background(), glob)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, n := range names {
		body, err := st.read(context.Background(), n)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = gunzipLines(t, n, body)
	}
	return out
}

func gunzipLines(t *testing.T, name string, body []byte) []string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s: not gzip: %v", name, err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: truncated gzip: %v", name, err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(raw) > 0 && raw[len(raw)-1] != '\n' {
		t.Fatalf("%s: last line not terminated", name)
	}
	return lines
}

func localLayout(t *testing.T) (*store, layout) {
	dir := t.TempDir()
	st, err := openStore(context.Background(), dir, "")
	if err != nil {
		t.Fatal(err)
	}
	return st, layout{Dest: dir + "/raw/", Staging: dir + "/staging/raw/", Interval: time.Minute}
}

func TestRollClosedWindowsIntoHourPrefixes(t *testing.T) {
	st, l := localLayout(t)
	r := &roller{st: st, l: l, maxBytes: 1 << 20, grace: 5 * time.Second}
	t0 := time.Date(2026, 12, 2, 8, 59, 0, 0, time.UTC)
	w1, w2, w3 := l.window(t0), l.window(t0.Add(time.Minute)), l.window(t0.Add(2*time.Minute))
	stage(t, st, l, w1, 1, t0, `{"n":1}`, `{"n":2}`)
	stage(t, st, l, w1, 1, t0.Add(time.Second), `{"n":3}`)
	stage(t, st, l, w2, 1, t0.Add(time.Minute), `{"n":4}`)
	stage(t, st, l, w3, 1, t0.Add(2*time.Minute), `{"n":5}`)
	stage(t, st, l, w1, 2, t0, `{"n":6}`) // another shard: not this pass

	// w1 and w2 are closed (end + grace passed), w3 is not.
	now := l.end(w2).Add(6 * time.Second)
	res, err := r.rollShard(context.Background(), 1, now)
	if err != nil {
		t.Fatal(err)
	}
	if res.Objects != 2 || res.Events != 4 {
		t.Fatalf("rolled %d objects, %d events; want 2, 4", res.Objects, res.Events)
	}
	if want := l.end(w3).Add(5 * time.Second); !res.NextDue.Equal(want) {
		t.Fatalf("next due %v, want %v", res.NextDue, want)
	}
	got := readLake(t, st, l.Dest+"*/*/*/*/*.json.gz")
	want := map[string][]string{
		l.Dest + "2026/12/02/08/085900-01.json.gz": {`{"n":1}`, `{"n":2}`, `{"n":3}`},
		l.Dest + "2026/12/02/09/090000-01.json.gz": {`{"n":4}`},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("lake = %v\nwant %v", got, want)
	}
	left, _ := st.list(context.Background(), l.shardDir(1)+"*/*")
	if len(left) != 1 || !strings.Contains(left[0], windowID(w3)) {
		t.Fatalf("staging left %v, want only the open window's part", left)
	}

	// Once a rolled window is an interval past its roll, its empty folder
	// goes; that of the window rolled just now stays.
	if _, err := r.rollShard(context.Background(), 1, l.end(w2).Add(5*time.Second+l.Interval+time.Second)); err != nil {
		t.Fatal(err)
	}
	dirs, _ := filepath.Glob(l.shardDir(1) + "*")
	if len(dirs) != 1 || filepath.Base(dirs[0]) != windowID(w3) {
		t.Fatalf("staging folders %v, want only the open window's %s", dirs, windowID(w3))
	}
}

func TestRollBySize(t *testing.T) {
	st, l := localLayout(t)
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	w := l.window(t0)
	var parts []partMeta
	var all []string
	for i := 0; i < 10; i++ {
		line := fmt.Sprintf(`{"i":%d,"pad":"%s"}`, i, strings.Repeat("x", i))
		all = append(all, line)
		parts = append(parts, stage(t, st, l, w, 0, t0.Add(time.Duration(i)*time.Millisecond), line))
	}
	// Room for about three parts per object.
	r := &roller{st: st, l: l, maxBytes: parts[0].Bytes*3 + 2, grace: time.Second}
	res, err := r.rollShard(context.Background(), 0, l.end(w).Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got := readLake(t, st, l.Dest+"*/*/*/*/*.json.gz")
	if res.Objects < 3 || len(got) != res.Objects {
		t.Fatalf("%d objects (%d listed) for 10 parts with room for 3 each", res.Objects, len(got))
	}
	var lines []string
	for name, ls := range got {
		if n, _ := st.fs.Size(context.Background(), name); n > r.maxBytes {
			t.Errorf("%s is %d bytes, limit %d", name, n, r.maxBytes)
		}
		lines = append(lines, ls...)
	}
	sort.Strings(lines)
	sort.Strings(all)
	if fmt.Sprint(lines) != fmt.Sprint(all) {
		t.Fatalf("lines %v\nwant %v", lines, all)
	}
	for _, n := range []string{"100000-00.json.gz", "100000-00-1.json.gz", "100000-00-2.json.gz"} {
		if _, ok := got[l.Dest+"2026/12/02/10/"+n]; !ok {
			t.Errorf("missing %s in %v", n, got)
		}
	}
}

// A crash after the final object was written but before its parts were all
// removed must not roll the remaining parts a second time.
func TestRollResumesAfterCrash(t *testing.T) {
	ctx := context.Background()
	st, l := localLayout(t)
	r := &roller{st: st, l: l, maxBytes: 1 << 20, grace: time.Second}
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	w := l.window(t0)
	a := stage(t, st, l, w, 3, t0, `{"a":1}`)
	b := stage(t, st, l, w, 3, t0.Add(time.Millisecond), `{"b":1}`)
	final := l.finalName(w, 3, 0)

	// Crash 1: manifest written, final object not yet.
	writeManifest(t, st, l.manifestName(w, 3), manifest{Final: final, Parts: []string{a.Name, b.Name}})
	// Crash 2 happens in the next pass after the final object and the first
	// part's removal: simulate by running the first pass, then recreating the
	// state a crash would leave.
	now := l.end(w).Add(2 * time.Second)
	if _, err := r.rollShard(ctx, 3, now); err != nil {
		t.Fatal(err)
	}
	got := readLake(t, st, l.Dest+"*/*/*/*/*.json.gz")
	if fmt.Sprint(got[final]) != `[{"a":1} {"b":1}]` || len(got) != 1 {
		t.Fatalf("after redo: %v", got)
	}

	c := stage(t, st, l, w, 3, t0.Add(2*time.Millisecond), `{"c":1}`)
	d := stage(t, st, l, w, 3, t0.Add(3*time.Millisecond), `{"d":1}`)
	final1 := l.finalName(w, 3, 1)
	writeManifest(t, st, l.manifestName(w, 3), manifest{Final: final1, Parts: []string{c.Name, d.Name}})
	if err := st.write(ctx, final1, func(wr io.Writer) error {
		for _, p := range []partMeta{c, d} {
			if _, err := st.copyTo(ctx, wr, p.Name); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.remove(ctx, c.Name); err != nil {
		t.Fatal(err)
	}
	// A late part, staged after the window was rolled.
	stage(t, st, l, w, 3, t0.Add(4*time.Millisecond), `{"e":1}`)
	res, err := r.rollShard(ctx, 3, now)
	if err != nil {
		t.Fatal(err)
	}
	got = readLake(t, st, l.Dest+"*/*/*/*/*.json.gz")
	want := map[string][]string{
		final:                {`{"a":1}`, `{"b":1}`},
		final1:               {`{"c":1}`, `{"d":1}`},
		l.finalName(w, 3, 2): {`{"e":1}`},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("lake = %v\nwant %v", got, want)
	}
	if res.Objects != 1 || res.Events != 1 {
		t.Fatalf("second pass rolled %d objects / %d events, want the late part only", res.Objects, res.Events)
	}
	if left, _ := st.list(ctx, l.shardDir(3)+"*/*"); len(left) != 0 {
		t.Fatalf("staging not empty: %v", left)
	}
}

func writeManifest(t *testing.T, st *store, name string, m manifest) {
	t.Helper()
	body := fmt.Sprintf(`{"final":%q,"parts":[%q,%q]}`, m.Final, m.Parts[0], m.Parts[1])
	if err := st.write(context.Background(), name, func(w io.Writer) error { _, err := io.WriteString(w, body); return err }); err != nil {
		t.Fatal(err)
	}
}

// A write that fails half way leaves nothing behind under the final name.
func TestWriteIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := openStore(ctx, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, "x", "obj.json.gz")
	boom := errors.New("boom")
	err = st.write(ctx, name, func(w io.Writer) error {
		io.WriteString(w, "half")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(name))
	if len(entries) != 0 {
		t.Fatalf("left %v behind", entries)
	}
}

// The same roll against the GCS emulator through the storage client.
func TestRollOnGCSEmulator(t *testing.T) {
	ctx := context.Background()
	g := emulatortest.GCS(t, "")
	c := emulatortest.StorageClient(t, g)
	if err := c.Bucket("lake").Create(ctx, "local", nil); err != nil {
		t.Fatal(err)
	}
	st, err := openStore(ctx, "gs://lake/raw/", g.URL)
	if err != nil {
		t.Fatal(err)
	}
	l := layout{Dest: "gs://lake/raw/", Staging: "gs://lake/staging/raw/", Interval: 10 * time.Second}
	r := &roller{st: st, l: l, maxBytes: 1 << 20, grace: time.Second}
	t0 := time.Date(2026, 12, 2, 23, 59, 50, 0, time.UTC)
	w1, w2 := l.window(t0), l.window(t0.Add(10*time.Second))
	stage(t, st, l, w1, 0, t0, `{"n":1}`)
	stage(t, st, l, w1, 0, t0.Add(time.Second), `{"n":2}`)
	stage(t, st, l, w2, 0, t0.Add(10*time.Second), `{"n":3}`)
	res, err := r.rollShard(ctx, 0, l.end(w2).Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got := readLake(t, st, "gs://lake/raw/*/*/*/*/*.json.gz")
	want := map[string][]string{
		"gs://lake/raw/2026/12/02/23/235950-00.json.gz": {`{"n":1}`, `{"n":2}`},
		"gs://lake/raw/2026/12/03/00/000000-00.json.gz": {`{"n":3}`},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || res.Objects != 2 {
		t.Fatalf("lake = %v (%d objects)\nwant %v", got, res.Objects, want)
	}
	if left, _ := st.list(ctx, l.shardDir(0)+"*/*"); len(left) != 0 {
		t.Fatalf("staging not empty: %v", left)
	}
}
