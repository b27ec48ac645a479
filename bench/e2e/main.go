// Command e2e drives the whole local stack (localstack.Start: emulators,
// collector, lake and classify on prism, activate and partner receivers)
// with the synthetic game at increasing rates and prints, per rate,
// accepted and classified events/s, p50/p99 collector->profile and
// collector->partner latency, and peak memory. `make bench-e2e` runs it.
//
// Each rate gets a fresh stack, a warm-up, then a measured window; the
// latencies are the stack's one-minute sliding quantiles at the window's
// end, so windows of a minute or more give steady-state figures.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/segmentflow/segmentflow/localstack"
)

func main() {
	rates := flag.String("rates", "250,500,1000", "offered rates, events/s")
	dur := flag.Duration("duration", 2*time.Minute, "measured window per rate")
	warmup := flag.Duration("warmup", 20*time.Second, "traffic before the window starts")
	users := flag.Int("users", 2000, "players of the synthetic game")
	rulesPath := flag.String("rules", "testdata/rulesets/game.yaml", "rule set of the run")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run here")
	flag.Parse()
	beam.Init()
	// As in `segmentflow local`: the stack of each rate is cancelled on
	// purpose, and prism logs that at error level.
	slog.SetDefault(slog.New(localstack.QuietCancellations(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))))

	doc, err := os.ReadFile(*rulesPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-e2e: run from the repository root or give --rules:", err)
		os.Exit(2)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Printf("%8s %10s %12s %12s %10s %10s %10s %10s %9s %9s\n",
		"offered", "accepted/s", "classified/s", "profiles/s", "prof p50", "prof p99", "part p50", "part p99", "peak heap", "peak RSS")
	for _, f := range strings.Split(*rates, ",") {
		rate, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || rate <= 0 {
			fmt.Fprintf(os.Stderr, "bad rate %q\n", f)
			os.Exit(2)
		}
		if err := runRate(rate, *users, *warmup, *dur, doc); err != nil {
			fmt.Fprintf(os.Stderr, "rate %d: %v\n", rate, err)
			os.Exit(1)
		}
	}
}

func runRate(rate, users int, warmup, dur time.Duration, doc []byte) error {
	free := "127.0.0.1:0"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := localstack.Start(ctx, localstack.Config{
		CollectorAddr: free, RulesAddr: free, ProfilesAddr: free,
		PubSubAddr: free, BigtableAddr: free, GCSAddr: free, ReceiverAddr: free,
		RuleSet: doc, Generate: rate, Users: users, DrainTimeout: time.Second,
	})
	if err != nil {
		return err
	}
	defer st.Shutdown(context.Background())

	var peakHeap uint64
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peakHeap = max(peakHeap, ms.HeapInuse)
	}
	wait := func(d time.Duration) {
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			sample()
			time.Sleep(time.Second)
		}
	}
	wait(warmup)
	a := st.Status()
	wait(dur)
	b := st.Status()
	secs := b.At.Sub(a.At).Seconds()
	perSec := func(x, y int64) string { return strconv.FormatFloat(float64(y-x)/secs, 'f', 0, 64) }
	fmt.Printf("%8d %10s %12s %12s %10s %10s %10s %10s %8dM %8dM\n", rate,
		perSec(a.Accepted, b.Accepted), perSec(a.Classified, b.Classified), perSec(a.ProfilesChanged, b.ProfilesChanged),
		ms(b.ToProfile.P50), ms(b.ToProfile.P99), ms(b.ToPartner.P50), ms(b.ToPartner.P99), peakHeap>>20, b.PeakRSS>>20)
	return nil
}

func ms(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return d.Round(time.Millisecond).String()
}
