package localstack

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"
)

// stopping counts the prism jobs being cancelled on purpose (a scheduled
// restart or the stack's shutdown). It is process-wide because prism and the
// Beam SDK log through slog.Default, not through Config.Logger.
var stopping atomic.Int32

// stopGrace is how long after a cancelled job's Execute returned its
// workers may still log the cancellation (prism's bundle goroutines panic on
// the closed channel seconds later).
const stopGrace = 10 * time.Second

// beginStop marks a deliberate cancellation; the returned func ends it after
// stopGrace.
func beginStop() (end func()) {
	stopping.Add(1)
	return func() { time.AfterFunc(stopGrace, func() { stopping.Add(-1) }) }
}

// QuietCancellations wraps a handler so the errors and warnings prism and
// the SDK log when a job is cancelled on purpose (context canceled, the
// worker disconnected, prism's send-on-closed-channel panic in a bundle
// goroutine) come out at info: a scheduled restart or Ctrl-C is normal
// operation, not a failure. Anything else, and everything while no job is
// being stopped, keeps its level. `segmentflow local` installs it as the
// default handler.
func QuietCancellations(h slog.Handler) slog.Handler { return quietHandler{next: h} }

type quietHandler struct{ next slog.Handler }

// cancelMarks are what prism's and the SDK's records of a cancelled job
// contain; the first two are the bare lines prism logs before the
// "Bundle Failed." that carries the reason.
var cancelMarks = []string{
	"Prism received bundle error from worker response",
	"stage.Execute aborting due to bundle error",
	"context canceled",
	"code = Canceled",
	"SDK worker disconnected",
	"send on closed channel",
	"EOF on send",
	"Failed to respond: EOF",     // the SDK's control stream, closed by prism
	"additional bundle response", // a cancelled bundle's late reply
}

func (h quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h quietHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn && stopping.Load() > 0 && fromCancellation(r) {
		if !h.next.Enabled(ctx, slog.LevelInfo) {
			return nil
		}
		q := slog.NewRecord(r.Time, slog.LevelInfo, r.Message, r.PC)
		r.Attrs(func(a slog.Attr) bool { q.AddAttrs(a); return true })
		r = q
	}
	return h.next.Handle(ctx, r)
}

func (h quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return quietHandler{next: h.next.WithAttrs(as)}
}

func (h quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{next: h.next.WithGroup(name)}
}

func fromCancellation(r slog.Record) bool {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteByte(' ')
		b.WriteString(a.Value.String())
		return true
	})
	s := b.String()
	for _, m := range cancelMarks {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}
