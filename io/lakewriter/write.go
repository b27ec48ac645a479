package lakewriter

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.DoFn3x1[context.Context, Record, func(beam.EventTime, string, PartInfo), error](&writeFn{})
	register.Emitter3[beam.EventTime, string, PartInfo]()
	beam.RegisterType(reflect.TypeOf((*Record)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*PartInfo)(nil)).Elem())
}

var (
	eventsStaged = beam.NewCounter("lake", "events_staged")
	badRows      = beam.NewCounter("lake", "bad_rows")
	partsWritten = beam.NewCounter("lake", "parts_written")
	partBytes    = beam.NewCounter("lake", "part_bytes")
)

// PartInfo tells the roller of the shard that a part was staged.
type PartInfo struct {
	Kind        string
	Shard       int
	WindowStart int64 // Unix ms
	Name        string
	Events      int
	Bytes       int64
}

// writeFn stages each bundle's records as one part per stream (events, bad
// rows) before the bundle commits. It must run fused with the source (no
// shuffle in between) so the source's acknowledgement, which waits for the
// bundle to commit, also waits for the part.
type writeFn struct {
	Opts Options

	st      *store
	layouts map[string]layout
	parts   map[string]*part
	open    bool
	shard   int
	win     window
}

func (fn *writeFn) Setup(ctx context.Context) error {
	st, err := openStore(ctx, fn.Opts.Staging, fn.Opts.GCSEndpoint)
	if err != nil {
		return err
	}
	fn.st = st
	fn.layouts = fn.Opts.layouts()
	fn.parts = map[string]*part{kindRaw: newPart(), kindBadRows: newPart()}
	return nil
}

func (fn *writeFn) Teardown() error {
	if fn.st != nil {
		return fn.st.Close()
	}
	return nil
}

// ProcessElement adds a record to the bundle's part. The window and shard
// are chosen once per bundle, at its first record: a bundle is one part, so
// it is written whole or not at all.
func (fn *writeFn) ProcessElement(ctx context.Context, r Record, _ func(beam.EventTime, string, PartInfo)) error {
	if !fn.open {
		fn.open = true
		fn.win = fn.layouts[kindRaw].window(time.Now())
		fn.shard = rand.IntN(fn.Opts.Shards)
		for _, p := range fn.parts {
			p.reset()
		}
	}
	line, err := lakeLine(r.Data)
	if err != nil {
		badRows.Inc(ctx, 1)
		return fn.parts[kindBadRows].add(badRowLine(r, err), r.PublishMillis)
	}
	eventsStaged.Inc(ctx, 1)
	return fn.parts[kindRaw].add(line, r.PublishMillis)
}

// FinishBundle writes the parts. A failure fails the bundle: the source does
// not acknowledge it, and a part written before the failure is removed so
// the redelivered records are not staged twice.
func (fn *writeFn) FinishBundle(ctx context.Context, emit func(beam.EventTime, string, PartInfo)) error {
	if !fn.open {
		return nil
	}
	fn.open = false
	created := time.Now()
	id := randomID()
	var written []PartInfo
	for _, kind := range []string{kindRaw, kindBadRows} {
		p := fn.parts[kind]
		if p.events == 0 {
			continue
		}
		body, err := p.finish()
		if err != nil {
			return fmt.Errorf("lakewriter: gzip part: %w", err)
		}
		l := fn.layouts[kind]
		name := l.partName(fn.win, fn.shard, created, id, p.events, int64(len(body)), p.minPub)
		if err := fn.st.write(ctx, name, func(w io.Writer) error {
			_, err := w.Write(body)
			return err
		}); err != nil {
			for _, pi := range written {
				fn.st.remove(ctx, pi.Name)
			}
			return err
		}
		written = append(written, PartInfo{Kind: kind, Shard: fn.shard, WindowStart: fn.win.Start.UnixMilli(), Name: name, Events: p.events, Bytes: int64(len(body))})
		partsWritten.Inc(ctx, 1)
		partBytes.Inc(ctx, int64(len(body)))
	}
	for _, pi := range written {
		emit(beam.EventTime(created.UnixMilli()), rollKey(pi.Kind, pi.Shard), pi)
	}
	return nil
}

func rollKey(kind string, shard int) string { return fmt.Sprintf("%s/%02d", kind, shard) }
