package main

import (
	"context"
	"errors"
	"io"
)

// runLocal is being written (placeholder while the command's issue is in progress).
func runLocal(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("not built yet")
}
