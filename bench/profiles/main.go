// Command profiles measures the profile API's latency at a steady request
// rate: the real service (service/profiles) over loopback HTTP, reading the
// Bigtable emulator over loopback gRPC, with a published rule set whose
// ttls it applies. Requests are paced open-loop by golang.org/x/time/rate
// (a slow answer does not hold back the next request), each on its own
// goroutine, and timed from the moment the limiter released it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/segmentflow/segmentflow/emulators"
	"github.com/segmentflow/segmentflow/infra"
	"github.com/segmentflow/segmentflow/io/bigtablestore"
	"github.com/segmentflow/segmentflow/io/rulestore"
	"github.com/segmentflow/segmentflow/rules"
	"github.com/segmentflow/segmentflow/service/profiles"
)

const ruleSet = `
segments:
  - id: engaged
  - id: ad-clicker
    parent: engaged
    ttl: 720h
  - id: ad-watcher
    ttl: 168h
  - id: casual
    group: engagement-level
    merge: overwrite
rules:
  - {id: clicks, segment: ad-clicker, when: 'event.name == "user-clicked-on-ad"'}
  - {id: watches, segment: ad-watcher, when: 'event.name == "user-watched-ad"'}
  - {id: opens, segment: casual, when: 'event.name == "user-opened-app"'}
`

func main() {
	reqRate := flag.Float64("rate", 1000, "requests per second")
	duration := flag.Duration("duration", 20*time.Second, "measured time")
	warmup := flag.Duration("warmup", 2*time.Second, "time at the rate before measuring")
	users := flag.Int("users", 10000, "profiles written; requests pick one at random, 1 in 20 an unknown user (404)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the measured run to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench/profiles:", err)
			os.Exit(1)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "bench/profiles:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err := run(context.Background(), *reqRate, *duration, *warmup, *users); err != nil {
		fmt.Fprintln(os.Stderr, "bench/profiles:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(ctx context.Context, reqRate float64, duration, warmup time.Duration, users int) error {
	n := infra.Default()
	bt, err := emulators.StartBigtable("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer bt.Close()
	g, err := emulators.StartGCS("127.0.0.1:0", "")
	if err != nil {
		return err
	}
	defer g.Close()
	if err := emulators.Provision(ctx, emulators.Config{Project: "bench", Instance: "bench", Names: n}, nil, bt, g); err != nil {
		return err
	}
	btc, err := bt.Client(ctx, "bench", "bench")
	if err != nil {
		return err
	}
	defer btc.Close()
	gc, err := g.Client(ctx)
	if err != nil {
		return err
	}
	defer gc.Close()
	store := rulestore.New(gc, n.Buckets.Rules)
	if _, err := store.Publish(ctx, []byte(ruleSet), 0, "bench", "bench rule set"); err != nil {
		return err
	}
	table := bigtablestore.NewProfiles(btc, n.Tables.Profiles)
	if err := writeProfiles(ctx, table, users); err != nil {
		return err
	}

	srv, err := profiles.New(ctx, profiles.Config{Profiles: table, Rules: store})
	if err != nil {
		return err
	}
	defer srv.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(l)
	defer hs.Close()
	for deadline := time.Now().Add(30 * time.Second); srv.RulesVersion() != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("rule set not loaded")
		}
	}

	base := "http://" + l.Addr().String() + "/v1/profiles/"
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512, MaxIdleConns: 512}}
	// A burst of a few requests lets the pacer catch up after the loop
	// wakes late (a loaded 2-core box oversleeps timers by a millisecond or
	// more); the long-run rate is still reqRate.
	burst := max(1, int(reqRate/100))
	lim := rate.NewLimiter(rate.Limit(reqRate), burst)
	var (
		mu        sync.Mutex
		latencies []time.Duration
		errs      = map[string]int{}
		wg        sync.WaitGroup
	)
	start := time.Now()
	measureFrom := start.Add(warmup)
	end := measureFrom.Add(duration)
	sent := 0
	for {
		if err := lim.Wait(ctx); err != nil {
			return err
		}
		t := time.Now()
		if !t.Before(end) {
			break
		}
		measured := !t.Before(measureFrom)
		if measured {
			sent++
		}
		id := "user-" + strconv.Itoa(rand.IntN(users))
		want := http.StatusOK
		if rand.IntN(20) == 0 {
			id, want = "nobody-"+strconv.Itoa(rand.IntN(users)), http.StatusNotFound
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := client.Get(base + id)
			var status string
			if err != nil {
				status = "transport"
			} else {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != want {
					status = strconv.Itoa(res.StatusCode)
				}
			}
			d := time.Since(t)
			if !measured {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if status != "" {
				errs[status]++
				return
			}
			latencies = append(latencies, d)
		}()
	}
	wg.Wait()
	elapsed := end.Sub(measureFrom)
	slices.Sort(latencies)
	q := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))]
	}
	fmt.Printf("| target rate | sent/s | ok | errors | p50 | p90 | p99 | p99.9 | max |\n|---|---|---|---|---|---|---|---|---|\n")
	fmt.Printf("| %.0f/s | %.0f/s | %d | %v | %v | %v | %v | %v | %v |\n", reqRate, float64(sent)/elapsed.Seconds(), len(latencies), errs,
		q(.5).Round(time.Microsecond), q(.9).Round(time.Microsecond), q(.99).Round(time.Microsecond), q(.999).Round(time.Microsecond),
		q(1).Round(time.Microsecond))
	if p99 := q(.99); p99 >= 10*time.Millisecond {
		fmt.Printf("p99 %v is over the 10 ms target\n", p99)
	}
	return nil
}

// writeProfiles writes users profiles shaped like the pipeline's: a parent,
// a child with a ttl, an accumulating segment with a ttl, a group member.
func writeProfiles(ctx context.Context, table *bigtablestore.Profiles, users int) error {
	now := time.Now().UTC()
	batch := make([]bigtablestore.StoredProfile, 0, 500)
	flush := func() error {
		failed, err := table.PutMany(ctx, batch)
		if err != nil {
			return err
		}
		if len(failed) > 0 {
			return fmt.Errorf("%d profiles not written", len(failed))
		}
		batch = batch[:0]
		return nil
	}
	for i := range users {
		at := now.Add(-time.Duration(i%200) * time.Hour)
		segs := map[string]rules.Membership{
			"engaged":    {AssignedAt: at, Rule: "clicks", RulesVersion: 1},
			"ad-clicker": {AssignedAt: at, LastMatchedAt: at, Rule: "clicks", RulesVersion: 1, ExpiresAt: at.Add(720 * time.Hour)},
			"ad-watcher": {AssignedAt: at, LastMatchedAt: at, Rule: "watches", RulesVersion: 1, ExpiresAt: at.Add(168 * time.Hour)},
			"casual":     {AssignedAt: at, LastMatchedAt: at, Rule: "opens", RulesVersion: 1},
		}
		batch = append(batch, bigtablestore.StoredProfile{
			Profile: rules.Profile{UserID: "user-" + strconv.Itoa(i), Segments: segs, UpdatedAt: at, Version: int64(i%7 + 1)},
			State:   rules.State{Segments: segs},
		})
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if len(batch) > 0 {
		return flush()
	}
	return nil
}
