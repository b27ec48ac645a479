package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
)

// beamLogger writes the Beam SDK's launch log (job submission, job state,
// and on a Dataflow --dry_run the job as JSON) to the command's stderr with
// the message verbatim: a structured handler would escape the multi-line
// JSON of a dry run beyond copy-and-paste.
type beamLogger struct {
	mu  sync.Mutex
	w   io.Writer
	min log.Severity
}

func newBeamLogger(w io.Writer) *beamLogger {
	min := log.SevInfo
	if logLevel() <= slog.LevelDebug {
		min = log.SevDebug
	}
	return &beamLogger{w: w, min: min}
}

var severityNames = map[log.Severity]string{
	log.SevUnspecified: "INFO", log.SevDebug: "DEBUG", log.SevInfo: "INFO",
	log.SevWarn: "WARN", log.SevError: "ERROR", log.SevFatal: "FATAL",
}

func (l *beamLogger) Log(_ context.Context, sev log.Severity, _ int, msg string) {
	if sev < l.min && sev != log.SevUnspecified {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%s beam %s %s\n", time.Now().UTC().Format(time.RFC3339), severityNames[sev], strings.TrimRight(msg, "\n"))
}
