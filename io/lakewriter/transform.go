package lakewriter

import (
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
)

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
	beam.ParDo0(s, newRollFn(o), parts)
	return nil
}
