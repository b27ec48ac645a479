package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/segmentflow/segmentflow/event"
	"github.com/segmentflow/segmentflow/pipelines/reconcile"
)

// TestRunOnStandaloneJobServer builds the standalone prism job server, the
// same Job API a Flink job server speaks, and runs the batch test pipeline
// and reconcile to completion through it with --runner=universal, the
// workers looping back into this process.
func TestRunOnStandaloneJobServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the prism job server")
	}
	dir := t.TempDir()
	prism := filepath.Join(dir, "prism")
	// With go.work this is the patched prism of .cache/beam-patched, else
	// the module cache's; either way the version go.mod pins.
	build := exec.Command("go", "build", "-o", prism, "github.com/apache/beam/sdks/v2/go/cmd/prism")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build prism: %v\n%s", err, out)
	}
	port := freePort(t)
	server := exec.Command(prism, "--job_port="+strconv.Itoa(port), "--serve_http=false", "--log_level=warn")
	logPath := filepath.Join(dir, "prism.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	server.Stdout, server.Stderr = logFile, logFile
	if err := server.Start(); err != nil {
		t.Fatalf("starting prism: %v", err)
	}
	defer func() {
		_ = server.Process.Kill()
		_ = server.Wait()
	}()
	endpoint := fmt.Sprintf("localhost:%d", port)
	waitListening(t, endpoint, 60*time.Second)

	out := filepath.Join(dir, "counts.txt")
	in := filepath.Join("..", "..", "testdata", "events", "sample.ndjson")
	// Bounds the wait only; the run takes a few seconds.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr syncBuffer
	err = runWith(ctx, testSpecs(), []string{"eventcount", "--input=" + in, "--output=" + out,
		"--runner=universal", "--endpoint=" + endpoint, "--environment_type=LOOPBACK"}, &stdout, &stderr)
	if err != nil {
		serverLog, _ := os.ReadFile(logPath)
		t.Fatalf("run on the job server: %v\n%s\nprism:\n%s", err, stderr.String(), serverLog)
	}
	if got, want := readCounts(t, out), expectedCounts(t, in); !reflect.DeepEqual(got, want) {
		t.Errorf("counts = %q, want %q", got, want)
	}

	// A real batch pipeline through the same server: reconcile over a
	// small local lake (duplicates and a bad line) to Parquet.
	lake := filepath.Join(dir, "lake")
	ids := writeSmallLake(t, lake)
	var rout, rerr syncBuffer
	err = runWith(ctx, testSpecs(), []string{"reconcile", "--lake=" + lake, "--shards_per_hour=1",
		"--runner=universal", "--endpoint=" + endpoint, "--environment_type=LOOPBACK"}, &rout, &rerr)
	if err != nil {
		serverLog, _ := os.ReadFile(logPath)
		t.Fatalf("reconcile on the job server: %v\n%s\nprism:\n%s", err, rerr.String(), serverLog)
	}
	rows, err := parquet.ReadFile[reconcile.Row](filepath.Join(lake, "events", "date=2026-12-01", "hour=10", "part-00000-of-00001.parquet"))
	if err != nil {
		t.Fatalf("reconcile output: %v", err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, r.MessageID)
	}
	slices.Sort(got)
	if !slices.Equal(got, ids) {
		t.Errorf("reconciled message ids %v, want %v", got, ids)
	}
	if _, err := os.Stat(filepath.Join(lake, "badrows", "reconcile", "raw", "2026", "12", "01", "10", "w-0.json.gz")); err != nil {
		t.Errorf("the bad line's row: %v", err)
	}
}

// writeSmallLake writes one raw object of normalized events, each message
// twice and one line that is not JSON, and returns the distinct ids.
func writeSmallLake(t *testing.T, lake string) []string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	at := time.Date(2026, 12, 1, 10, 15, 0, 0, time.UTC)
	var ids []string
	for i := range 5 {
		id := fmt.Sprintf("m%d", i)
		ids = append(ids, id)
		e := event.Event{Type: event.Track, MessageID: id, UserID: "u1", Event: "user-opened-app",
			Timestamp: at, SentAt: at, ReceivedAt: at, EventTime: at}
		b, err := event.Marshal(&e)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(zw, "%s\n%s\n", b, b)
	}
	fmt.Fprintln(zw, "{not json")
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(lake, "raw", "2026", "12", "01", "10", "w-0.json.gz")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return ids
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitListening waits until addr accepts connections, at most limit.
func waitListening(t *testing.T, addr string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job server at %s not up after %v: %v", addr, limit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
