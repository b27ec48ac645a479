package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/pprof/profile"
)

// part is where a CPU sample is charged. Everything runs in one process, so
// the split is by call stack: each sample goes to the first part, in this
// order, that one of its frames names.
type part struct {
	name    string
	markers []string // substrings of function names
}

// parts splits a phase's CPU between the load generator, the server under
// test, the Pub/Sub client and the emulator. Order matters: the collector's
// handler calls the Pub/Sub client (charged to publish), and pstest's gRPC
// server is charged to pstest before anything generic.
var parts = []part{
	{"load generator", []string{"main.(*loader)", "net/http.(*persistConn)", "net/http.(*Transport)"}},
	{"pstest (emulator)", []string{"cloud.google.com/go/pubsub/v2/pstest.", "grpc.(*Server)", "transport.NewServerTransport", "transport.(*http2Server)", "main.(*stack).collect"}},
	{"pubsub client publish", []string{"cloud.google.com/go/pubsub/v2.", "cloud.google.com/go/pubsub/v2/internal", "google.golang.org/api/support/bundler", "transport.NewHTTP2Client", "transport.(*http2Client)", "grpc.(*ClientConn)", "grpc.(*clientStream)", "grpc.invoke"}},
	{"bare handler", []string{"main.startBare"}},
	{"collector: event decode+validate+encode", []string{"segmentflow/event."}},
	{"collector: read body", []string{"collector.readBody"}},
	{"collector: rest of handler", []string{"segmentflow/service/collector."}},
	{"net/http server (outside handler)", []string{"net/http.(*conn).serve", "net/http.(*connReader)"}},
	{"GC (background)", []string{"runtime.gcBgMarkWorker", "runtime.bgsweep", "runtime.bgscavenge"}},
}

const otherPart = "scheduler, other"

// cpuSplit is the CPU of one phase charged to each part.
type cpuSplit struct {
	total time.Duration
	by    map[string]time.Duration
}

func splitProfile(r io.Reader) (cpuSplit, error) {
	p, err := profile.Parse(r)
	if err != nil {
		return cpuSplit{}, fmt.Errorf("parse cpu profile: %w", err)
	}
	vi := -1
	for i, st := range p.SampleType {
		if st.Type == "cpu" && st.Unit == "nanoseconds" {
			vi = i
		}
	}
	if vi < 0 {
		return cpuSplit{}, fmt.Errorf("cpu profile has no cpu/nanoseconds samples")
	}
	s := cpuSplit{by: map[string]time.Duration{}}
	for _, smp := range p.Sample {
		v := time.Duration(smp.Value[vi])
		s.total += v
		s.by[classify(smp)] += v
	}
	return s, nil
}

func classify(smp *profile.Sample) string {
	var names []string
	for _, loc := range smp.Location {
		for _, ln := range loc.Line {
			if ln.Function != nil {
				names = append(names, ln.Function.Name)
			}
		}
	}
	for _, pt := range parts {
		for _, n := range names {
			for _, m := range pt.markers {
				if strings.Contains(n, m) {
					return pt.name
				}
			}
		}
	}
	return otherPart
}

// printSplits prints each phase's CPU per 1,000 requests and part, the
// figure that compares a part's cost with the bare request's.
func printSplits(w io.Writer, names []string, splits []cpuSplit, requests []int) {
	fmt.Fprintf(w, "\nCPU per 1,000 requests, ms (from the whole-process profile of each phase):\n%-42s", "part")
	for _, n := range names {
		fmt.Fprintf(w, " %16s", n)
	}
	fmt.Fprintln(w)
	row := func(label string, get func(cpuSplit) time.Duration) {
		fmt.Fprintf(w, "%-42s", label)
		for i, s := range splits {
			fmt.Fprintf(w, " %16.1f", perK(get(s), requests[i]))
		}
		fmt.Fprintln(w)
	}
	for _, pt := range append(parts, part{name: otherPart}) {
		row(pt.name, func(s cpuSplit) time.Duration { return s.by[pt.name] })
	}
	row("total", func(s cpuSplit) time.Duration { return s.total })
}

func perK(d time.Duration, requests int) float64 {
	if requests == 0 {
		return 0
	}
	return float64(d) / float64(time.Millisecond) * 1000 / float64(requests)
}

// profiled runs f under the CPU profiler and returns the profile.
func profiled(start func(io.Writer) error, stop func(), f func()) ([]byte, error) {
	var buf bytes.Buffer
	if err := start(&buf); err != nil {
		return nil, fmt.Errorf("start cpu profile: %w", err)
	}
	f()
	stop()
	return buf.Bytes(), nil
}
