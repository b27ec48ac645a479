package emulators

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"cloud.google.com/go/bigtable"
	"cloud.google.com/go/pubsub/v2"

	"github.com/segmentflow/segmentflow/infra"
)

// TestProvisionAndUse provisions all three emulators and uses each resource
// through the real clients, as the components will.
func TestProvisionAndUse(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ps, err := StartPubSub("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	bt, err := StartBigtable("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer bt.Close()
	g, err := StartGCS("127.0.0.1:0", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()

	n := infra.Default()
	cfg := Config{Project: "p", Instance: "i", Names: n, Partners: []string{"dsp-a"}}
	if err := Provision(ctx, cfg, ps, bt, g); err != nil {
		t.Fatal(err)
	}
	// Idempotent: a second run over existing resources succeeds.
	if err := Provision(ctx, cfg, ps, bt, g); err != nil {
		t.Fatalf("second provision: %v", err)
	}

	pc, err := ps.Client(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	pub := pc.Publisher(n.ActivationTopic("dsp-a"))
	if _, err := pub.Publish(ctx, &pubsub.Message{Data: []byte("hello")}).Get(ctx); err != nil {
		t.Fatalf("publish: %v", err)
	}
	pub.Stop()
	got := make(chan string, 1)
	sctx, scancel := context.WithCancel(ctx)
	go func() {
		_ = pc.Subscriber(n.ActivationSubscription("dsp-a")).Receive(sctx, func(_ context.Context, m *pubsub.Message) {
			m.Ack()
			select {
			case got <- string(m.Data):
			default:
			}
		})
	}()
	select {
	case s := <-got:
		if s != "hello" {
			t.Fatalf("got %q", s)
		}
	case <-ctx.Done():
		t.Fatal("no message on the activation subscription")
	}
	scancel()

	bc, err := bt.Client(ctx, "p", "i")
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()
	mut := bigtable.NewMutation()
	mut.Set(n.Families.Seg, "engaged", bigtable.Now(), []byte(`{}`))
	if err := bc.Open(n.Tables.Profiles).Apply(ctx, "u1", mut); err != nil {
		t.Fatalf("bigtable apply: %v", err)
	}
	row, err := bc.Open(n.Tables.Profiles).ReadRow(ctx, "u1")
	if err != nil || len(row[n.Families.Seg]) != 1 {
		t.Fatalf("bigtable read: %v %v", row, err)
	}

	sc, err := g.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	w := sc.Bucket(n.Buckets.Lake).Object("raw/x.json").NewWriter(ctx)
	fmt.Fprint(w, "line")
	if err := w.Close(); err != nil {
		t.Fatalf("gcs write: %v", err)
	}
	r, err := sc.Bucket(n.Buckets.Lake).Object("raw/x.json").NewReader(ctx)
	if err != nil {
		t.Fatalf("gcs read: %v", err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if string(b) != "line" {
		t.Fatalf("gcs read %q", b)
	}
}
