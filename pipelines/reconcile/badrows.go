package reconcile

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"

	"github.com/segmentflow/segmentflow/event"
)

// BadRow is one line reconcile could not use: the original payload and a
// typed reason, so it can be fixed and replayed.
type BadRow struct {
	Reason  event.Code `json:"reason"`
	Error   string     `json:"error"`
	Source  string     `json:"source"`
	Line    int        `json:"line"`
	Payload string     `json:"payload,omitempty"`
}

func newBadRow(source string, line int, code event.Code, cause error, payload []byte) ([]byte, error) {
	b, err := json.Marshal(BadRow{Reason: code, Error: cause.Error(), Source: source, Line: line, Payload: string(payload)})
	if err != nil {
		return nil, fmt.Errorf("reconcile: encode bad row of %s:%d: %w", source, line, err)
	}
	return b, nil
}

// writeBadRowsFn writes the bad rows of one source object to
// BADROWS/<source object>, gzip NDJSON in line order, replacing what an
// earlier run wrote for that object.
type writeBadRowsFn struct {
	Dir string
}

func (f *writeBadRowsFn) ProcessElement(ctx context.Context, src string, rows func(*[]byte) bool) error {
	type numbered struct {
		line int
		b    []byte
	}
	var all []numbered
	var b []byte
	for rows(&b) {
		var r BadRow
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("reconcile: decode bad row of %s: %w", src, err)
		}
		all = append(all, numbered{r.Line, append([]byte(nil), b...)})
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].line < all[j].line })

	path := join(f.Dir, src)
	fs, err := filesystem.New(ctx, path)
	if err != nil {
		return fmt.Errorf("reconcile: filesystem for %s: %w", path, err)
	}
	defer fs.Close()
	w, err := fs.OpenWrite(ctx, path)
	if err != nil {
		return fmt.Errorf("reconcile: create %s: %w", path, err)
	}
	zw := gzip.NewWriter(w)
	for _, r := range all {
		if _, err := zw.Write(append(r.b, '\n')); err != nil {
			w.Close()
			return fmt.Errorf("reconcile: write %s: %w", path, err)
		}
	}
	if err := zw.Close(); err != nil {
		w.Close()
		return fmt.Errorf("reconcile: write %s: %w", path, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("reconcile: close %s: %w", path, err)
	}
	return nil
}
