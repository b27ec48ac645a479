package main

import (
	"flag"
	"os"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
)

// runBeamWorker hands the process to the Beam SDK harness. beam.Init runs
// the worker loop and exits when it sees --worker; every DoFn the pipelines
// use is registered by their packages' init functions, which the imports of
// this binary pull in.
func runBeamWorker(args []string) int {
	os.Args = append([]string{os.Args[0]}, args...)
	flag.Parse()
	beam.Init()
	return 0
}
