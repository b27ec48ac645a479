package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer safe for the runner's goroutines, which log
// while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunListsPipelines(t *testing.T) {
	var out, errOut syncBuffer
	err := runWith(context.Background(), testSpecs(), nil, &out, &errOut)
	if !errors.Is(err, errUsage) {
		t.Fatalf("run without a pipeline: err = %v, want a usage error", err)
	}
	for _, want := range []string{"lake", "eventcount", "--runner=dataflow", "--runner=universal"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("pipeline list lacks %q:\n%s", want, out.String())
		}
	}

	err = runWith(context.Background(), testSpecs(), []string{"nope"}, &out, &errOut)
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown pipeline: err = %v", err)
	}
}

// TestRunHelpShowsFlags: -h lists the pipeline's own flags and the common
// runner flags, and only the chosen pipeline's.
func TestRunHelpShowsFlags(t *testing.T) {
	var out, errOut syncBuffer
	err := runWith(context.Background(), testSpecs(), []string{"lake", "-h"}, &out, &errOut)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	help := errOut.String()
	for _, want := range []string{"-lake string", "-subscription string", "-roll_interval", "-runner string", "-staging_location", "-worker_binary", "-endpoint"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q:\n%s", want, help)
		}
	}
	if strings.Contains(help, "-input string") {
		t.Errorf("lake's help shows eventcount's --input:\n%s", help)
	}
}

// TestRunFlagsAreScopedToTheRun: a pipeline's flags exist only during its
// run, and the Beam flags a run set are back at their defaults after it, so
// runs in one process do not leak into each other.
func TestRunFlagsAreScopedToTheRun(t *testing.T) {
	dir := t.TempDir()
	var out, errOut syncBuffer
	// A build error still goes through flag parsing and the defaults.
	err := runWith(context.Background(), testSpecs(), []string{"eventcount", "--job_name=custom", "--input=" + filepath.Join(dir, "none")}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "--output") {
		t.Fatalf("err = %v, want the pipeline's own validation error", err)
	}
	if flag.Lookup("input") != nil {
		t.Error("--input stayed on the global flag set after the run")
	}
	if got := flag.Lookup("job_name").Value.String(); got != "" {
		t.Errorf("--job_name is %q after the run, want it reset", got)
	}
	if err := runWith(context.Background(), testSpecs(), []string{"eventcount", "stray"}, &out, &errOut); !errors.Is(err, errUsage) {
		t.Errorf("positional argument: err = %v, want a usage error", err)
	}
}

func TestFlexLaunchArgs(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []string
		ok   bool
	}{
		{[]string{"--pipeline=lake", "--lake=gs://l", "--project=p"}, []string{"lake", "--lake=gs://l", "--project=p", "--runner=dataflow"}, true},
		{[]string{"--runner=DataflowRunner", "--pipeline", "lake"}, []string{"lake", "--runner=DataflowRunner"}, true},
		{[]string{"--lake=gs://l"}, nil, false},
	} {
		got, ok := flexLaunchArgs(tc.in)
		if ok != tc.ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("flexLaunchArgs(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestRunBatchOnPrism runs the batch test pipeline to completion on the
// default runner, in-process prism.
func TestRunBatchOnPrism(t *testing.T) {
	out := filepath.Join(t.TempDir(), "counts.txt")
	in := filepath.Join("..", "..", "testdata", "events", "sample.ndjson")
	var stdout, stderr syncBuffer
	if err := runWith(context.Background(), testSpecs(), []string{"eventcount", "--input=" + in, "--output=" + out}, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	if got, want := readCounts(t, out), expectedCounts(t, in); !reflect.DeepEqual(got, want) {
		t.Errorf("counts = %q, want %q", got, want)
	}
}
