package main

import (
	"context"
	"errors"
	"io"
)

// runPipeline is being written (placeholder while the command's issue is in progress).
func runPipeline(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("not built yet")
}
