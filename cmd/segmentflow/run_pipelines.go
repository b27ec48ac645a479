package main

import (
	"flag"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/segmentflow/segmentflow/pipelines/classify"
	"github.com/segmentflow/segmentflow/pipelines/lake"
	"github.com/segmentflow/segmentflow/pipelines/reconcile"
)

// pipelineSpec is one pipeline `segmentflow run` can launch.
type pipelineSpec struct {
	summary string
	// streaming pipelines read an unbounded source; they never finish on
	// their own (Dataflow runs them as streaming jobs, prism until stopped).
	streaming bool
	// bind registers the pipeline's flags on fs and returns the function
	// that builds the graph from their parsed values.
	bind func(fs *flag.FlagSet) func(beam.Scope) error
}

// newSpec adapts a pipeline package (a Config with RegisterFlags, and
// Build) to a pipelineSpec, so every package keeps its own typed Config.
func newSpec[C any](summary string, streaming bool, register func(*C, *flag.FlagSet), build func(beam.Scope, C) error) pipelineSpec {
	return pipelineSpec{
		summary:   summary,
		streaming: streaming,
		bind: func(fs *flag.FlagSet) func(beam.Scope) error {
			var cfg C
			register(&cfg, fs)
			return func(s beam.Scope) error { return build(s, cfg) }
		},
	}
}

// pipelineSpecs lists the pipelines of the binary. The binary is also the
// worker on remote runners, so every pipeline a job may use must be linked
// in here (its package registers its DoFns in init).
func pipelineSpecs() map[string]pipelineSpec {
	return map[string]pipelineSpec{
		"classify": newSpec("streaming: classify events by the live rule set into Bigtable profiles, partner changes to activation-<partner>", true,
			(*classify.Config).RegisterFlags, classify.Build),
		"lake": newSpec("streaming: the events subscription into the raw lake (LAKE/raw/YYYY/MM/DD/HH/)", true,
			(*lake.Config).RegisterFlags, lake.Build),
		"reconcile": newSpec("batch: the lake's raw and failover objects into Parquet by event time, deduplicated (LAKE/events/date=YYYY-MM-DD/hour=HH/)", false,
			(*reconcile.Config).RegisterFlags, reconcile.Build),
	}
}
