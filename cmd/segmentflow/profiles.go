package main

import (
	"context"
	"errors"
	"io"
)

// runProfiles is being written (placeholder while the command's issue is in progress).
func runProfiles(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("not built yet")
}
