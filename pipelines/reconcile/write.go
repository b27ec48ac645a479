package reconcile

import (
	"context"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/parquet-go/parquet-go"

	"github.com/segmentflow/segmentflow/event"
)

var writtenCount = beam.NewCounter("reconcile", "written")

// batchRows is how many rows go to the Parquet writer at a time; the writer
// itself bounds memory by its row-group size, so this only amortizes calls.
const batchRows = 1024

// writeParquetFn writes one Parquet file (OUTPUT/<partition>/<shard>) from
// the deduplicated events routed to it, replacing an earlier run's file.
type writeParquetFn struct {
	Output string
}

func (f *writeParquetFn) ProcessElement(ctx context.Context, name string, events func(*[]byte) bool, tally func(Tally)) (err error) {
	path := join(f.Output, name)
	fs, err := filesystem.New(ctx, path)
	if err != nil {
		return fmt.Errorf("reconcile: filesystem for %s: %w", path, err)
	}
	defer fs.Close()
	w, err := fs.OpenWrite(ctx, path)
	if err != nil {
		return fmt.Errorf("reconcile: create %s: %w", path, err)
	}
	defer func() {
		if cerr := w.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("reconcile: close %s: %w", path, cerr)
		}
	}()

	pw := parquet.NewGenericWriter[Row](w, parquet.Compression(&parquet.Zstd))
	batch := make([]Row, 0, batchRows)
	var n int64
	flush := func() error {
		if _, err := pw.Write(batch); err != nil {
			return fmt.Errorf("reconcile: write %s: %w", path, err)
		}
		n += int64(len(batch))
		batch = batch[:0]
		return nil
	}
	var b []byte
	for events(&b) {
		ev, err := event.Unmarshal(b)
		if err != nil {
			return fmt.Errorf("reconcile: decode event for %s: %w", path, err)
		}
		row, err := toRow(&ev)
		if err != nil {
			return err
		}
		batch = append(batch, row)
		if len(batch) == batchRows {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("reconcile: finish %s: %w", path, err)
	}
	writtenCount.Inc(ctx, n)
	tally(Tally{Written: n})
	return nil
}
