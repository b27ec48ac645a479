package emulators

import (
	"context"
	"fmt"
	"sync"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// PubSub is a running Pub/Sub fake server.
type PubSub struct {
	// Addr is host:port of its gRPC endpoint (PUBSUB_EMULATOR_HOST style).
	Addr   string
	Server *pstest.Server

	closeOnce sync.Once
	closeErr  error
}

// StartPubSub starts pstest on addr ("127.0.0.1:0" picks a free port).
func StartPubSub(addr string) (*PubSub, error) {
	srv := pstest.NewServerWithAddress(addr)
	if srv == nil || srv.Addr == "" {
		return nil, fmt.Errorf("emulators: start pubsub on %s", addr)
	}
	return &PubSub{Addr: srv.Addr, Server: srv}, nil
}

// ClientOptions are the options that point a Google client at an emulator
// endpoint without credentials.
func ClientOptions(addr string) []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}

// Client returns a Pub/Sub client for project connected to the server.
func (p *PubSub) Client(ctx context.Context, project string) (*pubsub.Client, error) {
	c, err := pubsub.NewClient(ctx, project, ClientOptions(p.Addr)...)
	if err != nil {
		return nil, fmt.Errorf("emulators: pubsub client: %w", err)
	}
	return c, nil
}

// settledForgetter is what tools/pstest-patch.sh adds to pstest. A build
// against the stock module (GOWORK=off) lacks it, so it is asserted at run
// time rather than called directly: that build still compiles.
type settledForgetter interface{ ForgetSettled() int }

// ForgetSettled drops from pstest's history every message that no
// subscription still holds (acked, expired, or published to a topic without
// subscriptions) and returns how many it dropped. pstest otherwise keeps
// every message ever published, so a long run grows without bound. ok is
// false when the build uses the stock pstest, which cannot do this.
func (p *PubSub) ForgetSettled() (n int, ok bool) {
	f, ok := any(p.Server).(settledForgetter)
	if !ok {
		return 0, false
	}
	return f.ForgetSettled(), true
}

// Close stops the server; its messages are gone. Tests that simulate an
// outage stop the server mid-run and again in cleanup, and pstest panics on
// a second Close, so only the first call reaches it.
func (p *PubSub) Close() error {
	p.closeOnce.Do(func() { p.closeErr = p.Server.Close() })
	return p.closeErr
}
