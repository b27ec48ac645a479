// Command segmentflow is the one binary of the platform: every service, every
// pipeline launcher and the local stack are subcommands, and the same binary
// is the Beam worker on remote runners.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand. run gets the arguments after the command name
// and returns a usage error (errUsage) or a failure.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// errUsage marks a command-line mistake; main exits 2 for it.
var errUsage = errors.New("usage")

// exitError carries a specific exit status (e.g. `rules check` exits 1 on an
// invalid rule set) without printing anything more.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func commands() map[string]command {
	return map[string]command{
		"help":      {summary: "list the subcommands", run: nil},
		"collector": {summary: "the HTTP tracking API (Segment-compatible); `collector replay-failover` republishes GCS failover objects", run: runCollector},
		"rules":     {summary: "rules repository API and console; `rules check FILE`, `rules eval` for rule authors", run: runRules},
		"profiles":  {summary: "the profile lookup API for ad decisions", run: runProfiles},
		"activate":  {summary: "delivery of segment changes to partners; `activate redrive --partner ID` re-sends dead letters", run: runActivate},
		"run":       {summary: "launch a pipeline (classify, lake, ...) on prism, Dataflow or a portable job server", run: runPipeline},
		"local":     {summary: "the whole platform on one machine, on embedded emulators", run: runLocal},
	}
}

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(args []string, stdout, stderr io.Writer) int {
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: logLevel()})))
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if isBeamWorker(args) {
		return runBeamWorker(args)
	}
	// The Dataflow flex-template launcher starts the binary with flags
	// only, the pipeline in --pipeline (see infra/flex).
	if runArgs, ok := flexLaunchArgs(args); ok && strings.HasPrefix(args[0], "-") {
		args = append([]string{"run"}, runArgs...)
	}
	c, ok := cmds[args[0]]
	if !ok || c.run == nil {
		fmt.Fprintf(stderr, "segmentflow: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := c.run(ctx, args[1:], stdout, stderr)
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, errUsage), errors.Is(err, flag.ErrHelp):
		if !errors.Is(err, flag.ErrHelp) && err != errUsage {
			fmt.Fprintf(stderr, "segmentflow %s: %v\n", args[0], err)
		}
		return 2
	default:
		fmt.Fprintf(stderr, "segmentflow %s: %v\n", args[0], err)
		return 1
	}
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "segmentflow: real-time segmentation and activation.")
	fmt.Fprintln(w, "\nUsage: segmentflow COMMAND [flags]\n\nCommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'segmentflow COMMAND -h' for a command's flags.")
}

func logLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(os.Getenv("SEGMENTFLOW_LOG_LEVEL")))); err != nil {
		return slog.LevelInfo
	}
	return l
}

// isBeamWorker reports whether a Beam runner started this binary as its SDK
// worker (Dataflow and portable runners pass --worker=true and endpoints).
func isBeamWorker(args []string) bool {
	for _, a := range args {
		if a == "--worker" || a == "-worker" || strings.HasPrefix(a, "--worker=") || strings.HasPrefix(a, "-worker=") {
			return true
		}
	}
	return false
}
