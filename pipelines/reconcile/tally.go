package reconcile

import (
	"context"
	"fmt"
	"log/slog"
)

// Tally counts what happened to the input lines; summed over the run it
// must balance: In = Written + Duplicates + Bad + Outside.
type Tally struct {
	In         int64
	Written    int64
	Duplicates int64
	Bad        int64
	// Outside counts events of other dates that a dated run read and left
	// to their own date's run.
	Outside int64
}

func addTally(a, b Tally) Tally {
	return Tally{a.In + b.In, a.Written + b.Written, a.Duplicates + b.Duplicates, a.Bad + b.Bad, a.Outside + b.Outside}
}

// Balanced reports whether every input line was written, dropped as a
// duplicate, kept as a bad row or left to another date's run.
func (t Tally) Balanced() bool { return t.In == t.Written+t.Duplicates+t.Bad+t.Outside }

func (t Tally) String() string {
	return fmt.Sprintf("in=%d written=%d duplicates=%d bad=%d outside=%d", t.In, t.Written, t.Duplicates, t.Bad, t.Outside)
}

// checkTallyFn logs the run's totals and fails the run if they do not
// balance: a lost line is a bug, not a statistic.
type checkTallyFn struct{}

func (checkTallyFn) ProcessElement(ctx context.Context, t Tally) error {
	if !t.Balanced() {
		slog.ErrorContext(ctx, "reconcile: counts do not balance", "in", t.In, "written", t.Written, "duplicates", t.Duplicates, "bad", t.Bad, "outside", t.Outside)
		return fmt.Errorf("reconcile: counts do not balance: %v", t)
	}
	slog.InfoContext(ctx, "reconcile: done", "in", t.In, "written", t.Written, "duplicates", t.Duplicates, "bad", t.Bad, "outside", t.Outside)
	return nil
}
