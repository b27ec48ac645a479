//go:build segmentflow_wip

package reconcile

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/fileio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"

	"github.com/segmentflow/segmentflow/event"
)

// maxLine bounds one NDJSON line; the collector refuses bigger messages, so
// a longer line is a corrupt object, reported as a bad row.
const maxLine = 4 << 20

// Reasons of the bad rows this pipeline writes, beside event's own codes.
const (
	CodeMissingMessageID event.Code = "missing_message_id"
	CodeNotNormalized    event.Code = "not_normalized"
	CodeUnreadable       event.Code = "unreadable_object"
	CodeLineTooLong      event.Code = "line_too_long"
)

var (
	inCount  = beam.NewCounter("reconcile", "in")
	badCount = beam.NewCounter("reconcile", "bad")
)

// parseFn reads one lake object line by line. Good events go on keyed by
// message id; every other line becomes a bad row keyed by the object it came
// from, so a run never drops a line silently.
type parseFn struct {
	Lake string
}

func (f *parseFn) ProcessElement(ctx context.Context, md fileio.FileMetadata, good func(string, []byte), bad func(string, []byte), tally func(Tally)) error {
	fs, err := filesystem.New(ctx, md.Path)
	if err != nil {
		return fmt.Errorf("reconcile: filesystem for %s: %w", md.Path, err)
	}
	defer fs.Close()
	rc, err := fs.OpenRead(ctx, md.Path)
	if err != nil {
		// A transient open failure must be retried, not turned into a bad row.
		return fmt.Errorf("reconcile: open %s: %w", md.Path, err)
	}
	defer rc.Close()

	src := sourceKey(f.Lake, md.Path)
	var t Tally
	report := func(line int, code event.Code, cause error, payload []byte) error {
		b, err := newBadRow(md.Path, line, code, cause, payload)
		if err != nil {
			return err
		}
		bad(src, b)
		t.In++
		t.Bad++
		return nil
	}

	var r io.Reader = rc
	if strings.HasSuffix(md.Path, ".gz") {
		zr, err := gzip.NewReader(rc)
		if err != nil {
			if err := report(0, CodeUnreadable, fmt.Errorf("gzip header: %w", err), nil); err != nil {
				return err
			}
			return emitTally(ctx, t, tally)
		}
		defer zr.Close()
		r = zr
	}

	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue // blank lines carry nothing and are not counted
		}
		ev, err := event.Unmarshal(b)
		switch {
		case err != nil:
			err = report(line, event.ReasonCode(err), err, b)
		case ev.MessageID == "":
			err = report(line, CodeMissingMessageID, errors.New("event has no messageId"), b)
		case !ev.Normalized():
			err = report(line, CodeNotNormalized, errors.New("event has no eventTime/receivedAt: not written by the collector"), b)
		default:
			good(ev.MessageID, append([]byte(nil), b...))
			t.In++
		}
		if err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		// The rest of the object cannot be read (truncated gzip, huge line):
		// what was read went on, the remainder is one bad row naming the line.
		code := CodeUnreadable
		if errors.Is(err, bufio.ErrTooLong) {
			code = CodeLineTooLong
		}
		if err := report(line+1, code, fmt.Errorf("after line %d: %w", line, err), nil); err != nil {
			return err
		}
	}
	return emitTally(ctx, t, tally)
}

func emitTally(ctx context.Context, t Tally, tally func(Tally)) error {
	inCount.Inc(ctx, t.In)
	badCount.Inc(ctx, t.Bad)
	tally(t)
	return nil
}

// sourceKey is an object's path relative to the lake root, e.g.
// raw/2026/12/01/10/w-0.json.gz; bad rows keep that name below badrows/.
func sourceKey(lake, path string) string {
	if rel, ok := strings.CutPrefix(path, lake+"/"); ok {
		return rel
	}
	return strings.TrimLeft(path[strings.Index(path, "://")+1:], "/")
}
