package transforms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"cloud.google.com/go/storage"

	"github.com/segmentflow/segmentflow/io/rulestore"
	"github.com/segmentflow/segmentflow/rules"
)

// RulesSource is where the DoFns find the current rule set: the rules
// repository in a GCS bucket (io/rulestore). It is plain data so Beam can
// serialize it with the DoFns that embed it.
type RulesSource struct {
	Bucket string
	// GCSEndpoint is the base URL of a GCS emulator; empty for GCS.
	GCSEndpoint string
	// Poll is how often the pointer object is checked. A new version takes
	// effect within Poll plus one read and compile.
	Poll time.Duration
}

// liveRules is one DoFn instance's view of the current rule set. Watch
// swaps the engine in from its own goroutine; bundles load it once per
// element, so a new version applies from the next element on.
type liveRules struct {
	engine  atomic.Pointer[rules.Engine]
	client  *storage.Client
	watcher *rulestore.Watcher
}

// emptyEngine is the rule set in force before any version is published:
// nothing matches, so events flow through without classification.
func emptyEngine() *rules.Engine {
	e, err := rules.Compile(&rules.RuleSet{}, 0)
	if err != nil {
		panic(fmt.Sprintf("transforms: empty rule set does not compile: %v", err)) // a bug in rules
	}
	return e
}

// start connects to the repository and waits (bounded by ctx) for the first
// poll, so the first bundle already runs with the current version.
func (src RulesSource) start(ctx context.Context) (*liveRules, error) {
	if src.Bucket == "" {
		return nil, errors.New("transforms: rules source: no bucket")
	}
	poll := src.Poll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	c, err := storageClient(context.WithoutCancel(ctx), src.GCSEndpoint)
	if err != nil {
		return nil, err
	}
	lr := &liveRules{client: c}
	lr.engine.Store(emptyEngine())
	store := rulestore.New(c, src.Bucket)
	first := make(chan struct{})
	var firstDone atomic.Bool
	markFirst := func() {
		if firstDone.CompareAndSwap(false, true) {
			close(first)
		}
	}
	lr.watcher = rulestore.Watch(context.WithoutCancel(ctx), store, poll, func(v *rulestore.Version) {
		defer markFirst()
		rs, err := rules.Parse(v.Document)
		if err == nil {
			var eng *rules.Engine
			if eng, err = rules.Compile(rs, v.Number); err == nil {
				lr.engine.Store(eng)
				slog.Info("transforms: rule set loaded", "bucket", src.Bucket, "version", v.Number)
				return
			}
		}
		// The repository compiles every version before publishing it, so
		// this is a newer engine the pipeline does not understand: keep the
		// version in force rather than classifying with nothing.
		slog.Error("transforms: rule set refused, keeping the current one", "bucket", src.Bucket, "version", v.Number, "err", err)
	})
	// Watch calls back only when a version exists; with none published, the
	// first successful poll is the signal.
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-first:
			return lr, nil
		case <-tick.C:
			if lr.watcher.Version() == 0 && lr.watcher.Err() == nil && pointerAbsent(wctx, store) {
				return lr, nil
			}
		case <-wctx.Done():
			lr.stop()
			return nil, fmt.Errorf("transforms: rules bucket %s: no answer: %w", src.Bucket, errors.Join(wctx.Err(), lr.watcher.Err()))
		}
	}
}

// pointerAbsent reports whether the repository has no published version.
func pointerAbsent(ctx context.Context, store *rulestore.Store) bool {
	n, err := store.CurrentNumber(ctx)
	return err == nil && n == 0
}

func (lr *liveRules) current() *rules.Engine { return lr.engine.Load() }

func (lr *liveRules) stop() {
	if lr == nil {
		return
	}
	if lr.watcher != nil {
		lr.watcher.Stop()
	}
	if lr.client != nil {
		lr.client.Close()
	}
}
