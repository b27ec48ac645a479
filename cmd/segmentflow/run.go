package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"
)

// runPipeline is `segmentflow run PIPELINE [flags]`.
func runPipeline(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runWith(ctx, pipelineSpecs(), args, stdout, stderr)
}

// runWith launches one of specs on the runner the Beam flags pick. Beam's
// runners read their options from flag.CommandLine (beamx.Run, the
// Dataflow translation, the pipeline options shown in the Dataflow UI), so
// for the length of the run flag.CommandLine is a set holding exactly Beam's
// flags and the chosen pipeline's; afterwards the original set is back and
// the Beam flags this run changed are at their defaults again.
func runWith(ctx context.Context, specs map[string]pipelineSpec, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		listPipelines(stdout, specs)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	name := args[0]
	spec, ok := specs[name]
	if !ok {
		listPipelines(stderr, specs)
		return fmt.Errorf("%w: unknown pipeline %q", errUsage, name)
	}

	fs, build, err := runFlagSet(name, spec, flag.CommandLine, stderr)
	if err != nil {
		return err
	}
	base := flag.CommandLine
	flag.CommandLine = fs
	defer func() {
		flag.CommandLine = base
		resetBeamFlags(fs, base)
		clearPipelineOptions()
	}()
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if err := applyRunDefaults(fs, name); err != nil {
		return err
	}

	log.SetLogger(newBeamLogger(stderr))
	defer log.SetLogger(&log.Structural{})
	// Init runs the SDK's hooks (profiling, the worker hook, which does
	// nothing here: --worker is dispatched before any subcommand).
	beam.Init()
	p, s := beam.NewPipelineWithRoot()
	if err := build(s); err != nil {
		return fmt.Errorf("building pipeline %s: %w", name, err)
	}
	runner := fs.Lookup("runner").Value.String()
	if runner == "" {
		runner = "prism"
	}
	fmt.Fprintf(stderr, "segmentflow run %s: submitting to %s\n", name, runner)
	if err := beamx.Run(ctx, p); err != nil {
		return fmt.Errorf("pipeline %s on %s: %w", name, runner, err)
	}
	return nil
}

// applyRunDefaults fills in what a launch from this binary implies.
//
// The job name defaults to segmentflow-PIPELINE: Dataflow's --update finds
// the running job by name (terraform launches the same names), and a Flink
// UI shows something readable.
//
// The worker binary defaults to this very executable when it is a
// linux/amd64 build: the workers of Dataflow and of a Flink/universal
// runner outside LOOPBACK run linux/amd64, and without --worker_binary the
// SDK would try to cross-compile the program from source, which a flex
// template container or a release binary does not have.
func applyRunDefaults(fs *flag.FlagSet, name string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	runner := strings.ToLower(fs.Lookup("runner").Value.String())
	if runner == "direct" {
		return fmt.Errorf("%w: the direct runner cannot run splittable or stateful DoFns; use --runner=prism (the default)", errUsage)
	}
	if !set["job_name"] {
		if err := fs.Set("job_name", "segmentflow-"+name); err != nil {
			return err
		}
	}
	remote := runner != "" && runner != "prism"
	loopback := strings.EqualFold(fs.Lookup("environment_type").Value.String(), "loopback")
	if remote && !loopback && !set["worker_binary"] && runtime.GOOS == "linux" && runtime.GOARCH == "amd64" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("finding this binary to stage as the worker (or pass --worker_binary): %w", err)
		}
		if err := fs.Set("worker_binary", exe); err != nil {
			return err
		}
	}
	return nil
}

func listPipelines(w io.Writer, specs map[string]pipelineSpec) {
	names := make([]string, 0, len(specs))
	for n := range specs {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "Usage: segmentflow run PIPELINE [flags]\n\nPipelines:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, specs[n].summary)
	}
	fmt.Fprint(w, `
Runners:
  --runner=prism        in-process (default)
  --runner=dataflow     --project --region --staging_location [--worker_binary, a linux/amd64 build]
  --runner=universal    --endpoint=HOST:PORT of a job server (Flink, Spark, standalone prism)
                        [--environment_type=LOOPBACK|DOCKER|PROCESS]

Run 'segmentflow run PIPELINE -h' for a pipeline's flags; docs/runners.md has the details.
`)
}

// flexLaunchArgs recognises the command line of the Dataflow flex-template
// launcher, which runs the binary with flags only (every template parameter
// as --name=value, the pipeline picked by --pipeline), and turns it into the
// arguments of `run`. The launcher only ever submits to Dataflow, so that is
// the runner unless one is given.
func flexLaunchArgs(args []string) ([]string, bool) {
	pipeline, rest, hasRunner := "", make([]string, 0, len(args)+1), false
	for i := 0; i < len(args); i++ {
		a := args[i]
		key, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") {
			rest = append(rest, a)
			continue
		}
		switch key {
		case "pipeline":
			if !hasValue && i+1 < len(args) {
				i++
				value = args[i]
			}
			pipeline = value
			continue
		case "runner":
			hasRunner = true
		}
		rest = append(rest, a)
	}
	if pipeline == "" {
		return nil, false
	}
	if !hasRunner {
		rest = append(rest, "--runner=dataflow")
	}
	return append([]string{pipeline}, rest...), true
}

// errFlagCollision is a programming error: a pipeline defines a flag that
// Beam already owns.
var errFlagCollision = errors.New("pipeline flag collides with a Beam SDK flag")
