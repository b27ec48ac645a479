package localstack

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// TestStartFailureReturns takes a port the stack needs and checks Start
// returns an error naming it, instead of hanging in the shutdown of what had
// started, and that what started is stopped (its ports are free again).
func TestStartFailureReturns(t *testing.T) {
	doc, err := os.ReadFile("../testdata/rulesets/game.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		set  func(c *Config, taken string)
	}{
		// Fails before the collector serves.
		{"collector port", func(c *Config, taken string) { c.CollectorAddr = taken }},
		// Fails after the collector, rules and profile APIs serve.
		{"receiver port", func(c *Config, taken string) { c.ReceiverAddr = taken }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			busy, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer busy.Close()
			taken := busy.Addr().String()
			// Fixed ports for the parts that start first, to check they are
			// released after the failure.
			pubsubAddr, rulesAddr := freeAddr(t), freeAddr(t)
			free := "127.0.0.1:0"
			cfg := Config{
				CollectorAddr: free, RulesAddr: rulesAddr, ProfilesAddr: free,
				PubSubAddr: pubsubAddr, BigtableAddr: free, GCSAddr: free, ReceiverAddr: free,
				RuleSet: doc,
				Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
			}
			tc.set(&cfg, taken)
			done := make(chan error, 1)
			go func() {
				st, err := Start(context.Background(), cfg)
				if err == nil {
					_ = st.Shutdown(context.Background())
				}
				done <- err
			}()
			select {
			case err = <-done:
			case <-time.After(90 * time.Second):
				t.Fatal("Start did not return after a start-up failure (hung in shutdown?)")
			}
			if err == nil || !strings.Contains(err.Error(), taken) {
				t.Fatalf("Start: %v; want an error naming the taken address %s", err, taken)
			}
			for _, addr := range []string{pubsubAddr, rulesAddr} {
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					t.Errorf("after the failed start %s is still in use: %v", addr, err)
					continue
				}
				ln.Close()
			}
		})
	}
}

// freeAddr is a loopback address nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
