package emulators

import (
	"context"
	"fmt"

	"cloud.google.com/go/bigtable"
	"cloud.google.com/go/bigtable/bttest"
)

// Bigtable is a running Bigtable emulator.
type Bigtable struct {
	// Addr is host:port of its gRPC endpoint (BIGTABLE_EMULATOR_HOST style).
	Addr   string
	Server *bttest.Server
}

// StartBigtable starts bttest on addr ("127.0.0.1:0" picks a free port).
func StartBigtable(addr string) (*Bigtable, error) {
	srv, err := bttest.NewServer(addr)
	if err != nil {
		return nil, fmt.Errorf("emulators: start bigtable on %s: %w", addr, err)
	}
	return &Bigtable{Addr: srv.Addr, Server: srv}, nil
}

// Client returns a data client for project/instance.
func (b *Bigtable) Client(ctx context.Context, project, instance string) (*bigtable.Client, error) {
	c, err := bigtable.NewClient(ctx, project, instance, ClientOptions(b.Addr)...)
	if err != nil {
		return nil, fmt.Errorf("emulators: bigtable client: %w", err)
	}
	return c, nil
}

// AdminClient returns a table admin client for project/instance.
func (b *Bigtable) AdminClient(ctx context.Context, project, instance string) (*bigtable.AdminClient, error) {
	c, err := bigtable.NewAdminClient(ctx, project, instance, ClientOptions(b.Addr)...)
	if err != nil {
		return nil, fmt.Errorf("emulators: bigtable admin client: %w", err)
	}
	return c, nil
}

// Close stops the emulator.
func (b *Bigtable) Close() { b.Server.Close() }
