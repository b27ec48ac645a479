package emulatortest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/segmentflow/segmentflow/emulators"
	"github.com/segmentflow/segmentflow/infra"
)

// fakeTB records what a helper does to its test: the first Fatal, which
// ends the calling goroutine as testing.T's does, and the cleanups.
type fakeTB struct {
	testing.TB
	fatal    string
	cleanups []func()
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) Fatal(args ...any) { f.fatal = fmt.Sprint(args...); runtime.Goexit() }

// cleanup runs the cleanups last first, as testing does.
func (f *fakeTB) cleanup() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

// run calls fn with f as its test, in a goroutine as Fatal needs.
func (f *fakeTB) run(fn func(testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
}

func TestStartFailureFailsTheTest(t *testing.T) {
	// A file where the GCS data directory should be: the server cannot
	// start.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f := &fakeTB{}
	var got *emulators.GCS
	f.run(func(tb testing.TB) { got = GCS(tb, file) })
	if !strings.Contains(f.fatal, "emulators: start gcs") || got != nil || len(f.cleanups) != 0 {
		t.Fatalf("fatal %q, returned %v, %d cleanups", f.fatal, got, len(f.cleanups))
	}
}

func TestCleanupStopsTheEmulators(t *testing.T) {
	f := &fakeTB{}
	var addrs []string
	f.run(func(tb testing.TB) {
		addrs = []string{PubSub(tb).Addr, GCS(tb, "").Host, Bigtable(tb).Addr}
	})
	if f.fatal != "" {
		t.Fatal(f.fatal)
	}
	for _, a := range addrs {
		c, err := net.DialTimeout("tcp", a, time.Second)
		if err != nil {
			t.Fatalf("%s not listening: %v", a, err)
		}
		c.Close()
	}
	f.cleanup()
	for _, a := range addrs {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still listening after cleanup", a)
		}
	}
}

func TestProvisionAndClients(t *testing.T) {
	n := infra.Default()
	ps, bt, g := PubSub(t), Bigtable(t), GCS(t, "")
	Provision(t, emulators.Config{Project: "p", Instance: "i", Names: n}, ps, bt, g)
	if _, err := PubSubClient(t, ps, "p").TopicAdminClient.GetTopic(t.Context(), &pubsubpb.GetTopicRequest{Topic: "projects/p/topics/" + n.Topics.Events}); err != nil {
		t.Errorf("events topic: %v", err)
	}
	if _, err := StorageClient(t, g).Bucket(n.Buckets.Rules).Attrs(t.Context()); err != nil {
		t.Errorf("rules bucket: %v", err)
	}
	if _, err := BigtableClient(t, bt, "p", "i").Open(n.Tables.Users).ReadRow(t.Context(), "u"); err != nil {
		t.Errorf("users table: %v", err)
	}
}
