package lakewriter

import (
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.DoFn2x0[[]byte, func(string, PartInfo)](&kickFn{})
}

// Write stages records (a PCollection<Record>) and rolls them into the lake.
// Apply it directly to the output of the source (elementwise transforms in
// between are fine, a shuffle is not): see writeFn.
func Write(s beam.Scope, records beam.PCollection, opts Options) error {
	o, err := opts.withDefaults()
	if err != nil {
		return err
	}
	s = s.Scope("lakewriter.Write")
	parts := beam.ParDo(s, &writeFn{Opts: o}, records)
	kicks := beam.ParDo(s, &kickFn{Shards: o.Shards}, beam.Impulse(s))
	beam.ParDo0(s, newRollFn(o), beam.Flatten(s, parts, kicks))
	return nil
}

// kickFn wakes the roller of every stream and shard once at start, so what
// an earlier run left staged is rolled even on a key that sees no new part
// (bad rows are rare).
type kickFn struct{ Shards int }

func (fn *kickFn) ProcessElement(_ []byte, emit func(string, PartInfo)) {
	for _, kind := range []string{kindRaw, kindBadRows} {
		for shard := 0; shard < fn.Shards; shard++ {
			// WindowStart 0 is long closed: the roller runs at once.
			emit(rollKey(kind, shard), PartInfo{Kind: kind, Shard: shard})
		}
	}
}
