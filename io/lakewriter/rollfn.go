package lakewriter

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.DoFn5x1[context.Context, state.Provider, timers.Provider, string, PartInfo, error](&rollFn{})
}

var (
	objectsWritten = beam.NewCounter("lake", "objects_written")
	bytesWritten   = beam.NewCounter("lake", "bytes_written")
	eventsWritten  = beam.NewCounter("lake", "events_written")
	commitLag      = beam.NewDistribution("lake", "publish_to_commit_ms")
	rollErrors     = beam.NewCounter("lake", "roll_errors")
)

// rollFn rolls the staged parts of one stream's shard (its key) when their
// window closes. Its only state is when its timer is due: what to roll comes
// from listing the staging area, so parts staged before a restart are rolled
// too.
type rollFn struct {
	Opts  Options
	Timer timers.ProcessingTime
	Due   state.Value[int64]

	st      *store
	rollers map[string]*roller
}

func newRollFn(o Options) *rollFn {
	return &rollFn{Opts: o, Timer: timers.InProcessingTime("roll"), Due: state.MakeValueState[int64]("due")}
}

func (fn *rollFn) Setup(ctx context.Context) error {
	st, err := openStore(ctx, fn.Opts.Staging, fn.Opts.GCSEndpoint)
	if err != nil {
		return err
	}
	fn.st = st
	fn.rollers = map[string]*roller{}
	for kind, l := range fn.Opts.layouts() {
		fn.rollers[kind] = &roller{st: st, l: l, maxBytes: fn.Opts.MaxBytes, grace: fn.Opts.Grace}
	}
	return nil
}

func (fn *rollFn) Teardown() error {
	if fn.st != nil {
		return fn.st.Close()
	}
	return nil
}

// ProcessElement arms the timer for the part's window. A key seen for the
// first time (after a start or an idle spell) is rolled at once, which picks
// up whatever an earlier run left staged.
func (fn *rollFn) ProcessElement(ctx context.Context, sp state.Provider, tp timers.Provider, key string, p PartInfo) error {
	due := time.UnixMilli(p.WindowStart).Add(fn.Opts.Interval + fn.Opts.Grace)
	cur, armed, err := fn.Due.Read(sp)
	if err != nil {
		return fmt.Errorf("lakewriter: read timer state: %w", err)
	}
	if !armed {
		due = time.Now()
	}
	if !armed || due.UnixMilli() < cur {
		fn.arm(sp, tp, due)
	}
	return nil
}

func (fn *rollFn) arm(sp state.Provider, tp timers.Provider, due time.Time) {
	fn.Timer.Set(tp, due, timers.WithNoOutputTimestamp())
	fn.Due.Write(sp, due.UnixMilli())
}

func (fn *rollFn) OnTimer(ctx context.Context, sp state.Provider, tp timers.Provider, key string, _ timers.Context) error {
	kind, shard, err := parseRollKey(key)
	if err != nil {
		return err
	}
	r := fn.rollers[kind]
	if r == nil {
		return fmt.Errorf("lakewriter: unknown stream %q", kind)
	}
	now := time.Now()
	res, err := r.rollShard(ctx, shard, now)
	objectsWritten.Inc(ctx, int64(res.Objects))
	bytesWritten.Inc(ctx, res.Bytes)
	eventsWritten.Inc(ctx, int64(res.Events))
	for _, lag := range res.Lags {
		commitLag.Update(ctx, lag.Milliseconds())
	}
	if err != nil {
		// Storage trouble is retried, not fatal: the parts stay staged.
		rollErrors.Inc(ctx, 1)
		slog.Warn("lakewriter: roll failed, retrying", "key", key, "error", err)
		fn.arm(sp, tp, now.Add(min(fn.Opts.Grace, 10*time.Second)))
		return nil
	}
	if res.Objects > 0 {
		slog.Debug("lakewriter: rolled", "key", key, "objects", res.Objects, "events", res.Events, "bytes", res.Bytes)
	}
	if res.NextDue.IsZero() {
		fn.Due.Clear(sp)
		return nil
	}
	fn.arm(sp, tp, res.NextDue)
	return nil
}

func parseRollKey(key string) (string, int, error) {
	kind, s, ok := strings.Cut(key, "/")
	shard, err := strconv.Atoi(s)
	if !ok || err != nil {
		return "", 0, fmt.Errorf("lakewriter: bad roll key %q", key)
	}
	return kind, shard, nil
}
