package localstack

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// TestQuietCancellations checks that a cancellation's error is logged at
// info only while a job is being stopped, and a real error never is.
func TestQuietCancellations(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(QuietCancellations(slog.NewTextHandler(&buf, nil))).With("component", "prism")
	canceled := errors.New("bundle inst1 stage-003 failed:SDK worker disconnected: error: context canceled")
	real := errors.New("bigtable: permission denied")

	lines := func() []string {
		defer buf.Reset()
		return strings.Split(strings.TrimSpace(buf.String()), "\n")
	}
	log.Error("Bundle Failed.", "error", canceled)
	if got := lines(); !strings.Contains(got[0], "level=ERROR") {
		t.Errorf("no job stopping: %q, want it at error", got[0])
	}

	end := beginStop()
	log.Error("Bundle Failed.", "error", canceled)
	log.Error("Prism received bundle error from worker response", "bundle", "inst1")
	log.Error("pipeline: failed", "err", real)
	stopping.Add(-1) // end without the grace, to keep the test instant
	_ = end
	got := lines()
	if len(got) != 3 {
		t.Fatalf("got %d lines, want 3: %q", len(got), got)
	}
	for _, l := range got[:2] {
		if !strings.Contains(l, "level=INFO") || !strings.Contains(l, "component=prism") {
			t.Errorf("while stopping: %q, want it at info with its attributes", l)
		}
	}
	if !strings.Contains(got[2], "level=ERROR") {
		t.Errorf("a real error while stopping: %q, want it at error", got[2])
	}
}
