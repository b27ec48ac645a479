package localstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
)

// streamingJob is one streaming pipeline run on the in-process prism runner
// for as long as the stack runs.
type streamingJob struct {
	name  string
	build func(s beam.Scope) error
	// restart bounds prism's in-memory state (its element and state
	// stores grow with a job's age): the job is cancelled and started
	// again. Reads ack a message only after its bundle committed, so what
	// was in flight is redelivered to the new job, not lost.
	restart time.Duration
	log     *slog.Logger
	runs    atomic.Int64
}

// run runs the job until ctx ends, restarting it on schedule and, with a
// backoff, after a failure.
func (j *streamingJob) run(ctx context.Context) error {
	wait := time.Second
	for ctx.Err() == nil {
		p, s := beam.NewPipelineWithRoot()
		if err := j.build(s); err != nil {
			return fmt.Errorf("localstack: build %s: %w", j.name, err)
		}
		// A plain cancel, not a deadline: prism's worker panics when its
		// control stream ends with DeadlineExceeded (only Canceled is an
		// orderly end).
		jctx, cancel := context.WithCancel(ctx)
		var scheduled atomic.Bool
		var endStop atomic.Value // func(), set when the restart is under way
		stopTimer := func() bool { return false }
		if j.restart > 0 {
			stopTimer = time.AfterFunc(j.restart, func() {
				endStop.Store(beginStop())
				scheduled.Store(true)
				cancel()
			}).Stop
		}
		j.runs.Add(1)
		started := time.Now()
		j.log.Info("pipeline: starting on prism", "pipeline", j.name, "run", j.runs.Load())
		_, err := prism.Execute(jctx, p)
		stopTimer()
		cancel()
		if end, ok := endStop.Load().(func()); ok {
			end()
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case scheduled.Load():
			j.log.Info("pipeline: scheduled restart", "pipeline", j.name, "ran", time.Since(started).Round(time.Second))
			wait = time.Second
			continue
		case err == nil:
			err = errors.New("streaming job ended")
		}
		j.log.Error("pipeline: failed; restarting", "pipeline", j.name, "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
	return nil
}
