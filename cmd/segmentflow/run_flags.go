package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
)

// commonRunnerFlags are the Beam SDK flags `run PIPELINE -h` shows; every
// other Beam flag is accepted too, only not listed (there are about a
// hundred, most of them for one runner).
var commonRunnerFlags = []string{
	"runner", "endpoint", "environment_type", "environment_config", "job_name", "async",
	"project", "region", "staging_location", "temp_location", "worker_binary",
	"service_account_email", "subnetwork", "no_use_public_ips", "worker_machine_type",
	"max_num_workers", "labels", "update", "transform_name_mapping", "dry_run",
	"experiments", "parallelism",
}

// runFlagSet composes the flag set of one `run`: the Beam SDK's flags, which
// the SDK packages defined on base in their init functions (the values stay
// shared: the set holds the same flag.Values), plus the pipeline's own.
func runFlagSet(name string, spec pipelineSpec, base *flag.FlagSet, stderr io.Writer) (*flag.FlagSet, func(beam.Scope) error, error) {
	own := flag.NewFlagSet(name, flag.ContinueOnError)
	build := spec.bind(own)

	fs := flag.NewFlagSet("segmentflow run "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	base.VisitAll(func(f *flag.Flag) { fs.Var(f.Value, f.Name, f.Usage) })
	var collision error
	own.VisitAll(func(f *flag.Flag) {
		if fs.Lookup(f.Name) != nil {
			collision = fmt.Errorf("%w: --%s of pipeline %s", errFlagCollision, f.Name, name)
			return
		}
		fs.Var(f.Value, f.Name, f.Usage)
	})
	if collision != nil {
		return nil, nil, collision
	}

	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: segmentflow run %s [flags]\n\n%s\n\nPipeline flags:\n", name, spec.summary)
		own.SetOutput(w)
		own.PrintDefaults()
		common := flag.NewFlagSet("", flag.ContinueOnError)
		common.SetOutput(w)
		for _, n := range commonRunnerFlags {
			if f := base.Lookup(n); f != nil {
				common.Var(f.Value, f.Name, f.Usage)
			}
		}
		fmt.Fprintln(w, "\nRunner flags (Beam SDK; every other Beam flag is accepted too, see docs/runners.md):")
		common.PrintDefaults()
	}
	return fs, build, nil
}

// resetBeamFlags puts the Beam flags a run set back to their defaults, so a
// second run in the same process (tests, the local stack) starts clean. Only
// flags of the standard kinds (flag.Getter) are reset: Beam's list-valued
// flags append on Set and cannot be cleared through the flag API.
func resetBeamFlags(fs, base *flag.FlagSet) {
	fs.Visit(func(f *flag.Flag) {
		b := base.Lookup(f.Name)
		if b == nil {
			return
		}
		if _, ok := b.Value.(flag.Getter); ok {
			_ = b.Value.Set(b.DefValue)
		}
	})
}

// clearPipelineOptions empties the SDK's global pipeline options, which a
// runner fills from the set flags but only where a key is still empty, so
// that a later run in the same process carries its own values. The SDK has
// no way to delete a key: a cleared one stays, empty.
func clearPipelineOptions() {
	for k := range beam.PipelineOptions.Export().Options {
		beam.PipelineOptions.Set(k, "")
	}
}
