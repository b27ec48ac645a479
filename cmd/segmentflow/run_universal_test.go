package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// TestRunOnStandaloneJobServer builds the standalone prism job server, the
// same Job API a Flink job server speaks, and runs the batch test pipeline
// to completion through it with --runner=universal, the workers looping
// back into this process.
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
