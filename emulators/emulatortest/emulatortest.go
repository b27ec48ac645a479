// Package emulatortest starts the emulators of package emulators for a test,
// as net/http/httptest starts an HTTP server: each on a free loopback port,
// failing the test when it cannot start, and stopped by t.Cleanup. Tests
// then say which emulators they need in one line each instead of repeating
// the start, error check and cleanup, and none can leak a server.
//
// The helpers are for emulators that live as long as the test, on a port
// nobody needs to know in advance. A test that restarts one on a fixed
// address, or stops bttest mid-run (bttest panics when closed twice), calls
// package emulators itself.
package emulatortest

import (
	"context"
	"testing"

	"cloud.google.com/go/bigtable"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/storage"

	"github.com/segmentflow/segmentflow/emulators"
)

// addr is a free loopback port, picked by the emulator when it listens.
const addr = "127.0.0.1:0"

// PubSub starts pstest and closes it when the test ends.
func PubSub(t testing.TB) *emulators.PubSub {
	t.Helper()
	ps, err := emulators.StartPubSub(addr)
	if err != nil {
		t.Fatal(err)
	}
	// Close is idempotent, so a test may still stop the server early.
	t.Cleanup(func() { ps.Close() })
	return ps
}

// GCS starts fake-gcs-server and stops it when the test ends. With dir set
// objects are kept on disk there (as emulators.StartGCS), else in memory.
func GCS(t testing.TB, dir string) *emulators.GCS {
	t.Helper()
	g, err := emulators.StartGCS(addr, dir)
	if err != nil {
		t.Fatal(err)
	}
	// A second Stop does nothing, so a test may still stop the server early.
	t.Cleanup(g.Close)
	return g
}

// Bigtable starts bttest and closes it when the test ends.
func Bigtable(t testing.TB) *emulators.Bigtable {
	t.Helper()
	bt, err := emulators.StartBigtable(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bt.Close)
	return bt
}

// Provision is emulators.Provision under t.Context(), failing the test on
// error. Any of ps, bt, g may be nil to skip that service.
func Provision(t testing.TB, cfg emulators.Config, ps *emulators.PubSub, bt *emulators.Bigtable, g *emulators.GCS) {
	t.Helper()
	if err := emulators.Provision(t.Context(), cfg, ps, bt, g); err != nil {
		t.Fatal(err)
	}
}

// The clients below are made with context.Background(), not t.Context():
// they are closed by t.Cleanup, and t.Context() is cancelled before cleanup
// runs.

// PubSubClient is a client of ps for project, closed when the test ends.
func PubSubClient(t testing.TB, ps *emulators.PubSub, project string) *pubsub.Client {
	t.Helper()
	c, err := ps.Client(context.Background(), project)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// StorageClient is a client of g, closed when the test ends.
func StorageClient(t testing.TB, g *emulators.GCS) *storage.Client {
	t.Helper()
	c, err := g.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// BigtableClient is a data client of bt for project/instance, closed when
// the test ends.
func BigtableClient(t testing.TB, bt *emulators.Bigtable, project, instance string) *bigtable.Client {
	t.Helper()
	c, err := bt.Client(context.Background(), project, instance)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
