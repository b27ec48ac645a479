// Command gcsemulator runs the project's in-process GCS emulator
// (fake-gcs-server, see package emulators) as a process of its own, with the
// buckets of infra/names.json created, for tests that drive a real
// `segmentflow` binary from outside Go (the console's browser test). It
// prints "gcs emulator on URL" once it serves and stops on SIGINT/SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/segmentflow/segmentflow/emulators"
	"github.com/segmentflow/segmentflow/infra"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (port 0: a free one)")
	project := flag.String("project", infra.Default().ProjectLocal, "project that owns the buckets")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *project); err != nil {
		fmt.Fprintln(os.Stderr, "gcsemulator:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr, project string) error {
	g, err := emulators.StartGCS(addr, "")
	if err != nil {
		return err
	}
	defer g.Close()
	if err := emulators.Provision(ctx, emulators.Config{Project: project, Names: infra.Default()}, nil, nil, g); err != nil {
		return err
	}
	fmt.Printf("gcs emulator on %s\n", g.URL)
	<-ctx.Done()
	return nil
}
