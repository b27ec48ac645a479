package reconcile

import (
	"context"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/fileio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	// The lake is a URL: these register the local, gs:// and s3:// schemes.
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/s3"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*Tally)(nil)).Elem())
	register.DoFn5x1[context.Context, fileio.FileMetadata, func(string, []byte), func(string, []byte), func(Tally), error](&parseFn{})
	register.DoFn5x1[context.Context, string, func(*[]byte) bool, func(string, []byte), func(Tally), error](&dedupFn{})
	register.DoFn4x1[context.Context, string, func(*[]byte) bool, func(Tally), error](&writeParquetFn{})
	register.DoFn3x1[context.Context, string, func(*[]byte) bool, error](&writeBadRowsFn{})
	register.DoFn2x1[context.Context, Tally, error](&checkTallyFn{})
	register.Function2x1(addTally)
	register.Emitter2[string, []byte]()
	register.Emitter1[Tally]()
	register.Iter1[[]byte]()
}

// Build adds the reconcile graph to s.
func Build(s beam.Scope, cfg Config) error {
	r, err := cfg.resolve()
	if err != nil {
		return err
	}
	s = s.Scope("reconcile")
	globs := beam.CreateList(s, r.Inputs)
	files := fileio.MatchAll(s, globs, fileio.MatchEmptyAllow())
	// Reshuffle spreads the objects over workers before the heavy reads.
	files = beam.Reshuffle(s, files)

	events, bad, readTally := beam.ParDo3(s, &parseFn{Lake: r.Lake, From: r.From, To: r.To}, files)

	routed, dupTally := beam.ParDo2(s.Scope("dedup"), &dedupFn{Shards: r.Shards, From: r.From, To: r.To}, beam.GroupByKey(s, events))
	writeTally := beam.ParDo(s.Scope("parquet"), &writeParquetFn{Output: r.Output}, beam.GroupByKey(s, routed))
	beam.ParDo0(s.Scope("badrows"), &writeBadRowsFn{Dir: r.Badrows}, beam.GroupByKey(s, bad))

	total := beam.Combine(s.Scope("tally"), addTally, beam.Flatten(s, readTally, dupTally, writeTally))
	beam.ParDo0(s.Scope("tally"), &checkTallyFn{}, total)
	return nil
}
