package rulestore

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Watcher follows the current version of a Store; see Watch.
type Watcher struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	version int64
	err     error
}

// Watch polls the pointer object every interval and calls onChange, from
// one goroutine and in order, with the current version: once at start when
// a version is published, then each time the pointer's generation changes
// to a version different from the last one delivered. A poll costs one
// metadata request; the version object is read only on change. Errors
// (network, a half-written bucket) are logged and retried at the next tick,
// the last good version stays in force. Stop ends the watch.
func Watch(ctx context.Context, store *Store, interval time.Duration, onChange func(v *Version)) *Watcher {
	ctx, cancel := context.WithCancel(ctx)
	w := &Watcher{cancel: cancel, done: make(chan struct{})}
	go w.run(ctx, store, interval, onChange)
	return w
}

func (w *Watcher) run(ctx context.Context, store *Store, interval time.Duration, onChange func(v *Version)) {
	defer close(w.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	var seenGen int64 = -1
	for {
		gen, err := store.pointerGeneration(ctx)
		if err == nil && gen != seenGen && gen != 0 {
			var v *Version
			v, err = store.Current(ctx)
			if err == nil {
				seenGen = gen
				w.mu.Lock()
				changed := v.Number != w.version
				w.version = v.Number
				w.mu.Unlock()
				if changed {
					onChange(v)
				}
			}
		}
		w.mu.Lock()
		w.err = err
		w.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			slog.WarnContext(ctx, "rulestore: watch poll failed", "bucket", store.name, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Version is the number of the last version delivered (0: none yet).
func (w *Watcher) Version() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.version
}

// Err is the error of the last poll, nil when it succeeded.
func (w *Watcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Stop ends the watch and waits for an onChange in progress to return.
func (w *Watcher) Stop() {
	w.cancel()
	<-w.done
}
