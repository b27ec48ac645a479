// Command collector load-tests the tracking API on loopback: it starts a
// collector publishing to an in-process Pub/Sub emulator (pstest, with the
// fake GCS server behind it for failover), and next to it a bare net/http
// handler that only reads the body and answers 200, the ceiling of this
// machine. Both get the same two loads of realistic 20-event /v1/batch
// requests in the same run:
//
//   - closed loop: N clients sending as fast as replies come back (the
//     highest request rate each server sustains);
//   - open loop: a fixed request rate (1,000/s by default), latency counted
//     from each request's slot on the schedule.
//
// The load generator shares the CPU with the servers, as every loopback
// benchmark does; the ratio between the two servers is the figure that
// carries over to other machines.
//
//	go run ./bench/collector [--duration 10s] [--rate 1000] [--clients 16]
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/segmentflow/segmentflow/emulators"
	"github.com/segmentflow/segmentflow/infra"
	"github.com/segmentflow/segmentflow/service/collector"
)

const writeKey = "bench"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/collector:", err)
		os.Exit(1)
	}
}

func run() error {
	duration := flag.Duration("duration", 10*time.Second, "length of each load phase")
	rate := flag.Float64("rate", 1000, "open-loop request rate")
	clients := flag.Int("clients", 16, "closed-loop clients (connections)")
	batch := flag.Int("batch", 20, "events per request")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of each phase to PREFIX.<server>-<load>.pprof and print the CPU split per part")
	flag.Parse()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	ctx := context.Background()

	st, err := startStack(ctx)
	if err != nil {
		return err
	}
	defer st.close()
	bare, err := startBare()
	if err != nil {
		return err
	}
	defer bare.Close()

	bs, err := bodies(500, *batch, 1)
	if err != nil {
		return err
	}
	avg := 0
	for _, b := range bs {
		avg += len(b)
	}
	fmt.Printf("collector load test: %d-event batches (%d bytes on average), %s per phase, GOMAXPROCS=%d, %d CPUs\n",
		*batch, avg/len(bs), *duration, runtime.GOMAXPROCS(0), runtime.NumCPU())
	fmt.Println("the load generator runs in the same process and shares the CPU with the servers")

	targets := []target{
		{name: "bare", url: "http://" + bare.addr + "/v1/batch", writeKey: writeKey},
		{name: "collector", url: "http://" + st.addr + "/v1/batch", writeKey: writeKey},
	}
	workers := max(*clients, int(*rate/10)) // open loop: enough connections that a slot rarely waits for one
	l := newLoader(bs, max(*clients, workers))

	// Warm up both (connections, JIT-free but caches and the bundler).
	for _, t := range targets {
		l.closed(ctx, t, *clients, time.Second)
	}
	st.published() // not counted

	type row struct {
		load   string
		target string
		res    result
		events int
		cpu    time.Duration // of the whole process: servers, load generator and pstest
	}
	var (
		rows   []row
		splits []cpuSplit
	)
	// phase runs one load; with --cpuprofile each phase gets its own
	// profile, so the split below charges each server only its own phase.
	phase := func(load string, t target, f func() result) error {
		var r result
		before := processCPU()
		if *cpuProfile == "" {
			r = f()
		} else {
			prof, err := profiled(pprof.StartCPUProfile, pprof.StopCPUProfile, func() { r = f() })
			if err != nil {
				return err
			}
			name := fmt.Sprintf("%s.%s-%s.pprof", *cpuProfile, t.name, strings.Fields(load)[0])
			if err := os.WriteFile(name, prof, 0o644); err != nil {
				return fmt.Errorf("write cpu profile: %w", err)
			}
			s, err := splitProfile(bytes.NewReader(prof))
			if err != nil {
				return err
			}
			splits = append(splits, s)
		}
		rows = append(rows, row{load, t.name, r, st.publishedIf(t.name == "collector"), processCPU() - before})
		return nil
	}
	for _, t := range targets {
		if err := phase(fmt.Sprintf("closed loop, %d clients", *clients), t, func() result { return l.closed(ctx, t, *clients, *duration) }); err != nil {
			return err
		}
	}
	for _, t := range targets {
		if err := phase(fmt.Sprintf("open loop, %.0f req/s", *rate), t, func() result { return l.open(ctx, t, *rate, *duration, workers) }); err != nil {
			return err
		}
	}

	fmt.Printf("\n%-26s %-10s %9s %10s %8s %8s %8s %7s %11s %s\n", "load", "server", "req/s", "events/s", "p50", "p99", "max", "failed", "cpu/1k req", "on topic")
	for _, r := range rows {
		onTopic := "-"
		if r.target == "collector" {
			onTopic = fmt.Sprint(r.events)
			if want := (r.res.requests - r.res.failed) * *batch; r.events != want {
				onTopic += fmt.Sprintf(" (want %d)", want)
			}
		}
		ok := r.res.requests - r.res.failed
		perK := time.Duration(0)
		if r.res.requests > 0 {
			perK = r.cpu * 1000 / time.Duration(r.res.requests)
		}
		fmt.Printf("%-26s %-10s %9.0f %10.0f %8s %8s %8s %7d %11s %s\n", r.load, r.target, r.res.rate(),
			float64(ok**batch)/r.res.elapsed.Seconds(), ms(r.res.quantile(0.5)), ms(r.res.quantile(0.99)), ms(r.res.quantile(1)), r.res.failed, ms(perK), onTopic)
	}
	fmt.Println("(cpu/1k req: user+system CPU of the whole process during the phase, per 1,000 requests; it includes the load generator, and pstest for the collector)")
	ratio := rows[1].res.rate() / rows[0].res.rate()
	p99 := rows[3].res.quantile(0.99)
	fmt.Printf("\ncollector/bare request rate: %.0f%% (target >= 50%%): %s\n", 100*ratio, verdict(ratio >= 0.5))
	fmt.Printf("collector p99 at %.0f req/s: %s (target < 20ms): %s\n", *rate, ms(p99), verdict(p99 < 20*time.Millisecond && rows[3].res.failed == 0))
	if late := rows[3].res.late; late > 0 {
		fmt.Printf("(open loop: the scheduler reached %d of %d slots more than 1 ms late: the generator itself was short of CPU)\n", late, rows[3].res.requests)
	}
	if len(splits) > 0 {
		var names []string
		var reqs []int
		for _, r := range rows {
			names = append(names, r.target+" "+strings.Fields(r.load)[0])
			reqs = append(reqs, r.res.requests)
		}
		printSplits(os.Stdout, names, splits, reqs)
		fmt.Printf("(profiles in %s.*.pprof)\n", *cpuProfile)
	}
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

// stack is the collector on its emulators.
type stack struct {
	ps   *emulators.PubSub
	gcs  *emulators.GCS
	col  *collector.Collector
	addr string

	mu      sync.Mutex
	seen    int // messages pstest has numbered
	counted int // of which already reported
	stop    chan struct{}
}

func startStack(ctx context.Context) (*stack, error) {
	ps, err := emulators.StartPubSub("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	g, err := emulators.StartGCS("127.0.0.1:0", "")
	if err != nil {
		ps.Close()
		return nil, err
	}
	st := &stack{ps: ps, gcs: g, stop: make(chan struct{})}
	// Topics only: pstest rescans every retained message of a subscription
	// on each tick, so subscriptions nobody reads would make the emulator,
	// not the collector, the bottleneck. The bench counts what the topic
	// got from pstest's own record instead.
	if err := createTopics(ctx, ps); err != nil {
		st.close()
		return nil, err
	}
	if err := emulators.Provision(ctx, emulators.Config{Project: "bench", Names: infra.Default()}, nil, nil, g); err != nil {
		st.close()
		return nil, err
	}
	col, err := collector.New(ctx, collector.Config{
		Node:           "bench",
		Sources:        []collector.Source{{ID: "bench-app", WriteKey: writeKey}},
		Primary:        collector.Target{Project: "bench", Endpoint: ps.Addr},
		GCSEndpoint:    g.URL,
		ReplayInterval: -1,
	})
	if err != nil {
		st.close()
		return nil, err
	}
	st.col = col
	if err := col.Check(ctx); err != nil {
		st.close()
		return nil, fmt.Errorf("collector check: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		st.close()
		return nil, err
	}
	st.addr = ln.Addr().String()
	go func() { _ = col.Serve(ln) }()
	go st.drain()
	return st, nil
}

func createTopics(ctx context.Context, ps *emulators.PubSub) error {
	c, err := ps.Client(ctx, "bench")
	if err != nil {
		return err
	}
	defer c.Close()
	n := infra.Default()
	for _, t := range []string{n.Topics.Events, n.Topics.EventsDLQ} {
		if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: "projects/bench/topics/" + t}); err != nil {
			return fmt.Errorf("create topic %s: %w", t, err)
		}
	}
	return nil
}

// drain counts and drops what pstest holds every 200 ms. pstest keeps every
// message it was sent in memory; left alone, hundreds of MB of them make
// the garbage collector, not the collector, set the tail latency.
func (s *stack) drain() {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.collect()
		}
	}
}

// collect notes the highest message id pstest gave out ("m<N>", counting
// up across topics) and drops the messages. Ids count what was published
// even when a message arrives between the copy and the clear, which
// counting the copies would miss.
func (s *stack) collect() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.ps.Server.Messages() {
		if n, err := strconv.Atoi(strings.TrimPrefix(m.ID, "m")); err == nil && n+1 > s.seen {
			s.seen = n + 1
		}
	}
	s.ps.Server.ClearMessages()
}

// published is how many messages reached pstest since the last call (the
// load is all valid events, so all of them went to the events topic).
func (s *stack) published() int {
	s.collect()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.seen - s.counted
	s.counted = s.seen
	return n
}

func (s *stack) publishedIf(collector bool) int {
	if !collector {
		return 0
	}
	return s.published()
}

func (s *stack) close() {
	close(s.stop)
	if s.col != nil {
		_ = s.col.Shutdown(context.Background())
	}
	if s.gcs != nil {
		s.gcs.Close()
	}
	s.ps.Close()
}

// bareServer reads the body and answers 200: the cost of HTTP alone.
type bareServer struct {
	*http.Server
	addr string
}

func startBare() (*bareServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"success":true}`+"\n")
	})
	s := &bareServer{Server: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}, addr: ln.Addr().String()}
	go func() { _ = s.Serve(ln) }()
	return s, nil
}

// processCPU is the user+system CPU this process has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
