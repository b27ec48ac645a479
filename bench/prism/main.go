// Command prism measures streaming throughput and latency on the in-process
// prism runner with a pipeline shaped like classify: an unbounded
// splittable-DoFn source at a steady rate, 1-minute fixed windows, a stateful
// dedup keyed by user with one event-time timer per key and window, and a
// stateful per-user merge. Run it with and without the prism patch
// (`make bench-prism` does both) to see what the patch buys.
//
// Latency is measured from each event's scheduled emission time (the source
// stamps it) to the moment the merge step has processed it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/periodic"
)

func init() {
	register.DoFn3x0[beam.EventTime, int64, func(string, msg)](&keyFn{})
	register.DoFn6x0[beam.Window, state.Provider, timers.Provider, string, msg, func(string, msg)](&dedupFn{})
	register.DoFn3x0[state.Provider, string, msg](&mergeFn{})
	register.Emitter2[string, msg]()
}

// msg is one synthetic event.
type msg struct {
	ID        int64
	Scheduled int64 // unix nanos of its scheduled emission
}

// keyFn turns the sequence index into a user's event; every DupEvery-th
// event is delivered twice, as Pub/Sub redelivery would.
type keyFn struct {
	Users    int64
	DupEvery int64
}

func (fn *keyFn) ProcessElement(ts beam.EventTime, idx int64, emit func(string, msg)) {
	m := msg{ID: idx, Scheduled: ts.ToTime().UnixNano()}
	user := "user-" + strconv.FormatInt(idx%fn.Users, 10)
	emit(user, m)
	if fn.DupEvery > 0 && idx%fn.DupEvery == 0 {
		emit(user, m)
	}
}

// dedupFn drops repeated message ids per user and window; its one timer per
// key and window clears the state when the window closes.
type dedupFn struct {
	Seen state.Map[int64, bool]
	GC   timers.EventTime
}

func (fn *dedupFn) ProcessElement(w beam.Window, sp state.Provider, tp timers.Provider, user string, m msg, emit func(string, msg)) {
	if _, ok, err := fn.Seen.Get(sp, m.ID); err != nil {
		panic(err)
	} else if ok {
		return
	}
	if err := fn.Seen.Put(sp, m.ID, true); err != nil {
		panic(err)
	}
	fn.GC.Set(tp, w.MaxTimestamp().ToTime())
	emit(user, m)
}

func (fn *dedupFn) OnTimer(ctx context.Context, sp state.Provider, tp timers.Provider, user string, t timers.Context, emit func(string, msg)) {
	if err := fn.Seen.Clear(sp); err != nil {
		panic(err)
	}
}

// mergeFn stands in for the per-user profile merge: a read-modify-write of
// per-user state, then the latency sample.
type mergeFn struct {
	Count state.Value[int64]
}

func (fn *mergeFn) ProcessElement(sp state.Provider, user string, m msg) {
	n, _, err := fn.Count.Read(sp)
	if err != nil {
		panic(err)
	}
	if err := fn.Count.Write(sp, n+1); err != nil {
		panic(err)
	}
	samples.add(time.Since(time.Unix(0, m.Scheduled)))
}

// samples collects latencies in-process: prism runs the SDK harness in this
// process, so the merge step can hand samples to main directly.
var samples = &recorder{}

type recorder struct {
	mu   sync.Mutex
	lat  []time.Duration
	last time.Time
}

func (r *recorder) add(d time.Duration) {
	r.mu.Lock()
	r.lat = append(r.lat, d)
	r.last = time.Now()
	r.mu.Unlock()
}

func (r *recorder) take() ([]time.Duration, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, t := r.lat, r.last
	r.lat, r.last = nil, time.Time{}
	return l, t
}

func pipeline(rate int, start, end time.Time, users, dupEvery int64) *beam.Pipeline {
	p, s := beam.NewPipelineWithRoot()
	interval := time.Second / time.Duration(rate)
	seq := periodic.Sequence(s, beam.Create(s, periodic.NewSequenceDefinition(start, end, interval)))
	keyed := beam.ParDo(s, &keyFn{Users: users, DupEvery: dupEvery}, seq)
	windowed := beam.WindowInto(s, window.NewFixedWindows(time.Minute), keyed)
	deduped := beam.ParDo(s, &dedupFn{}, windowed)
	beam.ParDo0(s, &mergeFn{}, deduped)
	return p
}

func main() {
	rates := flag.String("rates", "500,1000,2000", "steady offered rates, events/s")
	dur := flag.Duration("duration", 30*time.Second, "how long each rate is offered")
	grace := flag.Duration("grace", 30*time.Second, "how long to wait for stragglers after the source ends")
	users := flag.Int64("users", 1000, "distinct user keys")
	dupEvery := flag.Int64("dup_every", 50, "every Nth event is delivered twice")
	label := flag.String("label", "", "label for the table (e.g. patched, stock)")
	flag.Parse()
	beam.Init()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))

	fmt.Printf("%-8s %8s %10s %10s %10s %10s %9s\n", "runner", "offered", "delivered", "events/s", "p50", "p99", "on-time")
	for _, f := range strings.Split(*rates, ",") {
		rate, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || rate <= 0 {
			fmt.Fprintf(os.Stderr, "bad rate %q\n", f)
			os.Exit(2)
		}
		start := time.Now().Add(2 * time.Second).Truncate(time.Millisecond)
		end := start.Add(*dur)
		want := int64(dur.Seconds() * float64(rate))
		// Cancel, never a deadline: prism's worker treats a DeadlineExceeded
		// stream error as fatal and panics, but stops quietly on Canceled.
		ctx, cancel := context.WithCancel(context.Background())
		stop := time.AfterFunc(time.Until(end.Add(*grace)), cancel)
		_, runErr := prism.Execute(ctx, pipeline(rate, start, end, *users, *dupEvery))
		stop.Stop()
		cancel()
		lat, last := samples.take()
		if runErr != nil && ctx.Err() == nil {
			fmt.Fprintf(os.Stderr, "rate %d: %v\n", rate, runErr)
		}
		printRow(*label, rate, want, lat, start, last)
	}
}

func printRow(label string, rate int, want int64, lat []time.Duration, start, last time.Time) {
	if len(lat) == 0 {
		fmt.Printf("%-8s %8d %10d %10s %10s %10s %9s\n", label, rate, 0, "-", "-", "-", "0%")
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	rateOut := float64(len(lat)) / last.Sub(start).Seconds()
	onTime := 0
	for _, l := range lat {
		if l <= 4*time.Second {
			onTime++
		}
	}
	fmt.Printf("%-8s %8d %10d %10.0f %10s %10s %8.1f%%\n", label, rate, len(lat), rateOut,
		pct(0.50).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), 100*float64(onTime)/float64(want))
}
