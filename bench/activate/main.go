// Command activate measures partner delivery on loopback: activate's
// per-partner loops reading pstest subscriptions and posting to httptest
// partner endpoints that verify every signature. Three phases, rerunnable:
//
//  1. throughput: N changes published at once to each of two healthy
//     partners; changes/s and requests/s per partner until the last arrives;
//
//  2. baseline: a steady rate to partners a and b, both healthy; latency
//     from publication to the partner accepting the change, for a;
//
//  3. isolation: the same steady rate while b answers 503 and c hangs past
//     its timeout; a's latency again, then b and c recover and everything
//     they were sent must arrive (nothing lost).
//
//     go run ./bench/activate [--changes 20000] [--rate 200] [--duration 15s] [--config FILE]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/segmentflow/segmentflow/emulators"
	"github.com/segmentflow/segmentflow/infra"
	"github.com/segmentflow/segmentflow/rules"
	"github.com/segmentflow/segmentflow/service/activate"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/activate:", err)
		os.Exit(1)
	}
}

type bench struct {
	ps    *pubsub.Client
	names infra.Names
	pubs  map[string]*pubsub.Publisher
	recv  map[string]*receiver
	reg   *prometheus.Registry
}

func run() error {
	changes := flag.Int("changes", 20000, "changes per partner in the throughput phase")
	rate := flag.Float64("rate", 200, "changes per second per partner in the latency phases")
	duration := flag.Duration("duration", 15*time.Second, "length of each latency phase")
	configFile := flag.String("config", "", "deployment config (docs/activate.md); default: the built-in defaults with a 2 s timeout and 8 streams")
	verbose := flag.Bool("v", false, "log activate's messages")
	flag.Parse()
	lvl := slog.LevelError
	if *verbose {
		lvl = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	ctx := context.Background()

	ids := []string{"a", "b", "c"}
	ps, err := emulators.StartPubSub("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ps.Close()
	g, err := emulators.StartGCS("127.0.0.1:0", "")
	if err != nil {
		return err
	}
	defer g.Close()
	names := infra.Default()
	if err := emulators.Provision(ctx, emulators.Config{Project: "bench", Names: names, Partners: ids}, ps, nil, g); err != nil {
		return err
	}
	psc, err := ps.Client(ctx, "bench")
	if err != nil {
		return err
	}
	defer psc.Close()
	gcs, err := g.Client(ctx)
	if err != nil {
		return err
	}
	defer gcs.Close()

	// pstest hands each StreamingPull stream about one message per 10 ms
	// tick; 8 streams keep the emulator from being what is measured.
	doc := "defaults: {timeout: 2s, streams: 8}\n"
	if *configFile != "" {
		b, err := os.ReadFile(*configFile)
		if err != nil {
			return err
		}
		doc = string(b)
	}
	cfg, err := activate.ParseConfig([]byte(doc))
	if err != nil {
		return err
	}
	b := &bench{ps: psc, names: names, pubs: map[string]*pubsub.Publisher{}, recv: map[string]*receiver{}, reg: prometheus.NewRegistry()}
	var partners []rules.Partner
	for _, id := range ids {
		r := newReceiver("key-"+id, healthy)
		defer r.Close()
		b.recv[id] = r
		pc := cfg.For(id)
		if pc.HMACKey == "" && pc.HMACKeyEnv == "" && pc.HMACKeyFile == "" {
			pc.HMACKey = "key-" + id
		}
		cfg.Partners[id] = pc
		partners = append(partners, rules.Partner{ID: id, Segments: []string{"gamer"}, Endpoint: r.URL + "/segments"})
		p := psc.Publisher(names.ActivationTopic(id))
		defer p.Stop()
		b.pubs[id] = p
	}
	svc, err := activate.New(activate.Options{PubSub: psc, GCS: gcs, Names: names, Partners: partners, Config: cfg, Registry: b.reg, Logger: log})
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(runCtx) }()
	defer func() { stop(); <-done }()

	lim := cfg.For("a").Limits
	fmt.Printf("activate bench: pstest + httptest partners on loopback, GOMAXPROCS=%d; limits: concurrency %d, batch %d / %s, timeout %s, breaker %d failures / %s\n",
		runtime.GOMAXPROCS(0), lim.Concurrency, lim.BatchCount, time.Duration(lim.BatchWait), time.Duration(lim.Timeout),
		lim.Breaker.Failures, time.Duration(lim.Breaker.OpenFor))
	fmt.Println("the publisher and the partners run in the same process as activate and share its CPU")

	// 1. throughput
	fmt.Printf("\n1. throughput: %d changes published at once to each of a and b\n", *changes)
	start := time.Now()
	var wg sync.WaitGroup
	for _, id := range []string{"a", "b"} {
		wg.Add(1)
		go func() { defer wg.Done(); b.burst(ctx, id, "t", *changes) }()
	}
	wg.Wait()
	for _, id := range []string{"a", "b"} {
		if err := b.await(id, *changes, 5*time.Minute); err != nil {
			return err
		}
		el := time.Since(start)
		r := b.recv[id]
		fmt.Printf("   partner %s: %d changes in %.2fs = %.0f changes/s, %d requests (%.0f/s, %.1f changes per request)\n",
			id, *changes, el.Seconds(), float64(*changes)/el.Seconds(), r.requests.Load(), float64(r.requests.Load())/el.Seconds(),
			float64(*changes)/float64(r.requests.Load()))
		r.take()
	}

	// 2. baseline
	fmt.Printf("\n2. baseline: %.0f changes/s to each of a and b, both healthy, %s\n", *rate, *duration)
	sent := b.steady(ctx, []string{"a", "b"}, "base", *rate, *duration)
	if err := b.await("a", sent["a"], time.Minute); err != nil {
		return err
	}
	base := b.recv["a"].take()
	b.recv["b"].take()
	fmt.Printf("   a: %d changes, latency p50 %s p99 %s max %s\n", len(base), ms(quantile(base, .5)), ms(quantile(base, .99)), ms(quantile(base, 1)))

	// 3. isolation
	fmt.Printf("\n3. isolation: %.0f changes/s to each of a, b and c, %s; b answers 503, c hangs past its %s timeout\n", *rate, *duration, time.Duration(lim.Timeout))
	b.recv["b"].behave.Store(down)
	b.recv["c"].behave.Store(hanging)
	bReq, cReq := b.recv["b"].requests.Load(), b.recv["c"].requests.Load()
	sent = b.steady(ctx, []string{"a", "b", "c"}, "iso", *rate, *duration)
	if err := b.await("a", sent["a"], time.Minute); err != nil {
		return err
	}
	iso := b.recv["a"].take()
	fmt.Printf("   a: %d changes, latency p50 %s p99 %s max %s (baseline p99 %s)\n", len(iso), ms(quantile(iso, .5)), ms(quantile(iso, .99)), ms(quantile(iso, 1)), ms(quantile(base, .99)))
	fmt.Printf("   b: %d requests while down, %s changes retried; c: %d requests while hanging\n",
		b.recv["b"].requests.Load()-bReq, metric(b.reg, "segmentflow_activate_retried_total", "b"), b.recv["c"].requests.Load()-cReq)
	recover := time.Now()
	b.recv["b"].behave.Store(healthy)
	b.recv["c"].behave.Store(healthy)
	for _, id := range []string{"b", "c"} {
		if err := b.await(id, sent[id], 5*time.Minute); err != nil {
			return err
		}
		fmt.Printf("   %s recovered: all %d changes arrived %.1fs after it came back (dead-lettered: %s)\n", id, sent[id], time.Since(recover).Seconds(),
			metric(b.reg, "segmentflow_activate_dead_lettered_total", id))
	}
	for _, id := range ids {
		r := b.recv[id]
		if r.badSig.Load() > 0 || r.dups > 0 {
			return fmt.Errorf("partner %s: %d bad signatures, %d duplicate or out-of-order changes", id, r.badSig.Load(), r.dups)
		}
	}
	fmt.Println("\nevery signature verified; no partner got a change twice or out of order")
	return nil
}

// burst publishes n changes to partner id as fast as the publisher takes them.
func (b *bench) burst(ctx context.Context, id, phase string, n int) {
	res := make([]*pubsub.PublishResult, n)
	now := time.Now().UTC()
	for i := range n {
		res[i] = b.pubs[id].Publish(ctx, &pubsub.Message{Data: change(phase, i, now)})
	}
	for _, r := range res {
		if _, err := r.Get(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "publish:", err)
		}
	}
}

// steady publishes rate changes/s to each partner for d, each stamped with
// its publication time, and returns how many each got.
func (b *bench) steady(ctx context.Context, ids []string, phase string, rate float64, d time.Duration) map[string]int {
	const tick = 10 * time.Millisecond
	per := rate * tick.Seconds()
	sent := map[string]int{}
	var results []*pubsub.PublishResult
	t := time.NewTicker(tick)
	defer t.Stop()
	start := time.Now()
	owed := 0.0
	for now := range t.C {
		if now.Sub(start) >= d {
			break
		}
		owed += per
		for ; owed >= 1; owed-- {
			for _, id := range ids {
				results = append(results, b.pubs[id].Publish(ctx, &pubsub.Message{Data: change(phase, sent[id], time.Now().UTC())}))
				sent[id]++
			}
		}
	}
	for _, r := range results {
		if _, err := r.Get(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "publish:", err)
		}
	}
	return sent
}

// change is one user's change; every change has its own user so none is
// superseded, and received_at carries its publication time.
func change(phase string, i int, at time.Time) []byte {
	b, _ := json.Marshal(rules.Change{UserID: fmt.Sprintf("%s-%d", phase, i), Segments: []string{"gamer"}, Added: []string{"gamer"},
		Removed: []string{}, EventTime: at, ReceivedAt: at, Version: 1})
	return b
}

// await waits until partner id has recorded n changes since its last take.
func (b *bench) await(id string, n int, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	for b.recv[id].count() < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("partner %s: %d of %d changes after %s", id, b.recv[id].count(), n, bound)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

func metric(reg *prometheus.Registry, name, partnerID string) string {
	mfs, err := reg.Gather()
	if err != nil {
		return "?"
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "partner" && l.GetValue() == partnerID {
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	return fmt.Sprint(total)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }
