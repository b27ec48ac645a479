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
	inCount      = beam.NewCounter("reconcile", "in")
	badCount     = beam.NewCounter("reconcile", "bad")
	outsideCount = beam.NewCounter("reconcile", "outside")
)

// parseFn reads one lake object line by line. Good events go on keyed by
// message id; every other line becomes a bad row keyed by the object it came
// from, so a run never drops a line silently.
type parseFn struct {
	Lake string
	// From and To (Unix ms, To exclusive) keep only events of a dated run,
	// widened by copyMargin: dedupFn decides on the copy it keeps; both
	// zero keep all.
	From, To int64
}

// copyMargin is how far apart the event times of two copies of one message
// may be: each copy's skew-corrected time moves with its own transit time,
// so a copy near midnight can fall on the other date. Parsing keeps events
// this close to a dated run's range so that dedupFn sees every copy and
// the runs of both dates agree on the one they keep.
const copyMargin = 24 * 60 * 60 * 1000 // ms

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

	br := bufio.NewReaderSize(r, 64<<10)
	line := 0
	for {
		b, rerr := readLine(br)
		if errors.Is(rerr, errLineTooLong) {
			line++
			if err := report(line, CodeLineTooLong, rerr, b); err != nil {
				return err
			}
			continue
		}
		if rerr != nil {
			// The rest of the object cannot be read (truncated gzip): what
			// was read went on, the remainder is one bad row naming the
			// line, with the partial line read so far. A partial line is
			// never parsed: it may be cut anywhere.
			if err := report(line+1, CodeUnreadable, fmt.Errorf("after line %d: %w", line, rerr), b); err != nil {
				return err
			}
			break
		}
		if b == nil {
			break // clean end of the object
		}
		line++
		b = bytes.TrimSpace(b)
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
		case f.To != 0 && (ev.EventTime.UnixMilli() < f.From-copyMargin || ev.EventTime.UnixMilli() >= f.To+copyMargin):
			// Another date's event, read because its object's hour may also
			// hold this run's dates: that date's own run writes it.
			t.In++
			t.Outside++
		default:
			good(ev.MessageID, append([]byte(nil), b...))
			t.In++
		}
		if err != nil {
			return err
		}
	}
	return emitTally(ctx, t, tally)
}

var errLineTooLong = fmt.Errorf("line longer than %d bytes", maxLine)

// readLine returns the next line without its newline, nil at a clean end of
// input, or what was read of the line with the read error. A last line
// without a newline counts as a line only when the input ended cleanly
// (bufio.Scanner would hand it out after a failed read too). A line over
// maxLine is skipped to its end and comes back as its first 64 KB with
// errLineTooLong; reading can go on after it.
func readLine(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf) <= maxLine {
			buf = append(buf, chunk...)
		}
		switch {
		case err == nil:
			if len(buf)-1 > maxLine {
				return buf[:64<<10], errLineTooLong
			}
			return buf[:len(buf)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(buf) > maxLine {
				return buf[:64<<10], errLineTooLong
			}
			if len(buf) == 0 {
				return nil, nil
			}
			return buf, nil
		default:
			return buf, err
		}
	}
}

func emitTally(ctx context.Context, t Tally, tally func(Tally)) error {
	inCount.Inc(ctx, t.In)
	badCount.Inc(ctx, t.Bad)
	outsideCount.Inc(ctx, t.Outside)
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
