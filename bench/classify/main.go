// Command classify measures the classify pipeline end to end on this
// machine: it starts the Pub/Sub, Bigtable and GCS emulators in-process,
// publishes the game rule set, seeds the users table, runs classify.Build on
// the in-process prism runner, publishes events at a steady rate (or as fast
// as it can) and reports the throughput and the event-to-profile latency.
//
// Latency is measured on the profile rows themselves: the pipeline stamps
// every write with the collector's receive time of the event that caused it
// (meta:received_at, here the publish time) and the time of the write
// (meta:updated_at); the bench polls the rows and takes one sample per new
// version it sees. Throughput is the events published divided by the time
// from the first publish until the pipeline has acknowledged every message
// and written its last profile.
//
//	go run ./bench/classify --events 50000 --rate 1000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"cloud.google.com/go/bigtable"
	vkit "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	"github.com/segmentflow/segmentflow/emulators"
	"github.com/segmentflow/segmentflow/event"
	"github.com/segmentflow/segmentflow/infra"
	"github.com/segmentflow/segmentflow/io/bigtablestore"
	"github.com/segmentflow/segmentflow/io/rulestore"
	"github.com/segmentflow/segmentflow/pipelines/classify"
	"github.com/segmentflow/segmentflow/rules"
)

func main() {
	events := flag.Int("events", 50_000, "events to publish")
	rate := flag.Int("rate", 1000, "events/s offered; 0 publishes as fast as Pub/Sub takes them")
	users := flag.Int("users", 2000, "distinct users")
	dupEvery := flag.Int("dup_every", 50, "every Nth event is published twice")
	rulesFile := flag.String("rules", "testdata/rulesets/game.yaml", "rule set to publish")
	readers := flag.Int("readers", 1, "Pub/Sub pull loops of the pipeline")
	quiet := flag.Duration("quiet", 5*time.Second, "the run is over when no profile changed for this long")
	flag.Parse()
	beam.Init()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err := run(*events, *rate, *users, *dupEvery, *readers, *rulesFile, *quiet); err != nil {
		fmt.Fprintln(os.Stderr, "bench classify:", err)
		os.Exit(1)
	}
}

func run(n, rate, nUsers, dupEvery, readers int, rulesFile string, quiet time.Duration) error {
	ctx := context.Background()
	names := infra.Default()
	doc, err := os.ReadFile(rulesFile)
	if err != nil {
		return err
	}
	rs, err := rules.Parse(doc)
	if err != nil {
		return err
	}
	var partners []string
	for _, p := range rs.Partners {
		partners = append(partners, p.ID)
	}

	ps, err := emulators.StartPubSub("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ps.Close()
	bt, err := emulators.StartBigtable("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer bt.Close()
	gcs, err := emulators.StartGCS("127.0.0.1:0", "")
	if err != nil {
		return err
	}
	defer gcs.Close()
	if err := emulators.Provision(ctx, emulators.Config{Project: "bench", Instance: "bench", Names: names, Partners: partners}, ps, bt, gcs); err != nil {
		return err
	}
	sc, err := gcs.Client(ctx)
	if err != nil {
		return err
	}
	defer sc.Close()
	if _, err := rulestore.New(sc, names.Buckets.Rules).Publish(ctx, doc, 0, "bench", "bench"); err != nil {
		return err
	}
	btc, err := bt.Client(ctx, "bench", "bench")
	if err != nil {
		return err
	}
	defer btc.Close()
	if err := seedUsers(ctx, bigtablestore.NewUsers(btc, names.Tables.Users), nUsers); err != nil {
		return err
	}
	psc, err := ps.Client(ctx, "bench")
	if err != nil {
		return err
	}
	defer psc.Close()

	cfg := classify.Config{
		Project: "bench", PubSubEndpoint: ps.Addr, Readers: readers,
		BigtableInstance: "bench", BigtableEndpoint: bt.Addr, GCSEndpoint: gcs.URL,
	}
	p, s := beam.NewPipelineWithRoot()
	if err := classify.Build(s, cfg); err != nil {
		return err
	}
	pctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { _, err := prism.Execute(pctx, p); done <- err }()
	defer func() { stop(); <-done }()

	// Let the pipeline start (rules loaded, first pull) before the clock runs.
	time.Sleep(3 * time.Second)
	lat := newSampler(btc.Open(names.Tables.Profiles))
	sampling := make(chan struct{})
	go func() { lat.loop(ctx, sampling) }()

	start := time.Now()
	published, err := publish(ctx, psc.TopicAdminClient, "projects/bench/topics/"+names.Topics.Events, n, rate, nUsers, dupEvery)
	if err != nil {
		return err
	}
	pubDone := time.Since(start)
	end, unacked, err := waitQuiet(ctx, ps, lat, quiet, done)
	close(sampling)
	if err != nil {
		return err
	}
	samples, writes := lat.result()
	elapsed := end.Sub(start)
	fmt.Printf("events %d (+%d duplicates) offered at %s, published in %v\n", n, published-n, rateLabel(rate), pubDone.Round(time.Millisecond))
	fmt.Printf("processed in %v: %.0f events/s (messages unacknowledged when quiet: %d)\n", elapsed.Round(time.Millisecond), float64(published)/elapsed.Seconds(), unacked)
	if len(samples) == 0 {
		return errors.New("no profile writes seen")
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	pct := func(q float64) time.Duration { return samples[min(len(samples)-1, int(q*float64(len(samples))))] }
	within := sort.Search(len(samples), func(i int) bool { return samples[i] > 5*time.Second })
	fmt.Printf("event-to-profile latency over %d sampled writes (of %d profiles): p50 %v  p90 %v  p99 %v  max %v  (%.1f%% within 5 s)\n",
		len(samples), writes, pct(0.50).Round(time.Millisecond), pct(0.90).Round(time.Millisecond), pct(0.99).Round(time.Millisecond),
		samples[len(samples)-1].Round(time.Millisecond), 100*float64(within)/float64(len(samples)))
	return nil
}

func rateLabel(rate int) string {
	if rate <= 0 {
		return "full speed"
	}
	return strconv.Itoa(rate) + "/s"
}

// seedUsers gives every user the stats the game rules look at.
func seedUsers(ctx context.Context, u *bigtablestore.Users, n int) error {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < n; i++ {
		st := rules.Stats{
			Daily:     rules.Counters{CardsPlayed: int64(r.IntN(10)), AdsWatched: int64(r.IntN(6)), AdsSkipped: int64(r.IntN(8))},
			FirstSeen: time.Now().Add(-time.Duration(r.IntN(30*24)) * time.Hour),
		}
		if err := u.PutStats(ctx, userID(i), st); err != nil {
			return err
		}
		if i%2 == 0 {
			if err := u.PutTraits(ctx, userID(i), map[string]any{"birthDate": fmt.Sprintf("%d-03-04", 1960+r.IntN(50))}); err != nil {
				return err
			}
		}
	}
	return nil
}

func userID(i int) string { return fmt.Sprintf("user-%05d", i) }

var eventNames = []string{"user-opened-app", "user-played-card", "user-watched-ad", "user-skipped-ad", "user-clicked-on-ad"}

// publish sends n game events at rate per second in 10 ms slices (every
// dupEvery-th twice), stamped with the wall clock as the collector would.
func publish(ctx context.Context, c *vkit.TopicAdminClient, topic string, n, rate, nUsers, dupEvery int) (int, error) {
	r := rand.New(rand.NewPCG(3, 4))
	start := time.Now()
	sent, total := 0, 0
	for sent < n {
		due := n - sent
		if rate > 0 {
			due = min(due, int(time.Since(start).Seconds()*float64(rate))-sent)
		}
		if due <= 0 {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		due = min(due, 1000)
		msgs := make([]*pubsubpb.PubsubMessage, 0, due+due/max(dupEvery, 1)+1)
		now := time.Now().UTC()
		for i := 0; i < due; i++ {
			idx := sent + i
			e := event.Event{Type: event.Track, MessageID: "m" + strconv.Itoa(idx), UserID: userID(r.IntN(nUsers)),
				Event: eventNames[r.IntN(len(eventNames))], Timestamp: now, SentAt: now, ReceivedAt: now, EventTime: now,
				Context: map[string]any{"os": map[string]any{"name": []string{"iOS", "Android"}[r.IntN(2)]}}}
			if e.Event == "user-played-card" {
				e.Properties = map[string]any{"stake": float64(r.IntN(2000))}
			}
			b, err := event.Marshal(&e)
			if err != nil {
				return total, err
			}
			m := &pubsubpb.PubsubMessage{Data: b, Attributes: event.Attributes(&e)}
			msgs = append(msgs, m)
			if dupEvery > 0 && idx%dupEvery == 0 {
				msgs = append(msgs, m)
			}
		}
		if _, err := c.Publish(ctx, &pubsubpb.PublishRequest{Topic: topic, Messages: msgs}); err != nil {
			return total, fmt.Errorf("publish: %w", err)
		}
		sent += due
		total += len(msgs)
	}
	return total, nil
}

// sampler polls the profiles' meta columns and records updated_at -
// received_at for every new version it sees.
type sampler struct {
	mu      sync.Mutex
	tbl     *bigtable.Table
	seen    map[string]string
	samples []time.Duration
	last    time.Time
}

func newSampler(tbl *bigtable.Table) *sampler {
	return &sampler{tbl: tbl, seen: map[string]string{}}
}

func (s *sampler) loop(ctx context.Context, stop chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(200 * time.Millisecond):
		}
		s.poll(ctx)
	}
}

func (s *sampler) poll(ctx context.Context) {
	filter := bigtable.ChainFilters(bigtable.FamilyFilter("meta"), bigtable.ColumnFilter("updated_at|received_at|version"), bigtable.LatestNFilter(1))
	_ = s.tbl.ReadRows(ctx, bigtable.InfiniteRange(""), func(r bigtable.Row) bool {
		var upd, rcv time.Time
		var ver string
		for _, it := range r["meta"] {
			switch it.Column {
			case "meta:updated_at":
				upd, _ = time.Parse(time.RFC3339Nano, string(it.Value))
			case "meta:received_at":
				rcv, _ = time.Parse(time.RFC3339Nano, string(it.Value))
			case "meta:version":
				ver = string(it.Value)
			}
		}
		s.mu.Lock()
		if s.seen[r.Key()] != ver && !upd.IsZero() && !rcv.IsZero() {
			s.seen[r.Key()] = ver
			s.samples = append(s.samples, upd.Sub(rcv))
			s.last = time.Now()
		}
		s.mu.Unlock()
		return true
	}, bigtable.RowFilter(filter))
}

func (s *sampler) result() ([]time.Duration, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples, len(s.seen)
}

func (s *sampler) lastChange() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// waitQuiet returns the time of the last profile write once nothing
// changed for quiet and every event message is acknowledged (or three
// minutes passed without a write: then it reports how many are not). It
// looks at the emulator's messages only once writes are quiet: copying
// them all every second would load pstest more than the pipeline does.
func waitQuiet(ctx context.Context, ps *emulators.PubSub, lat *sampler, quiet time.Duration, done chan error) (time.Time, int, error) {
	deadline := time.Now().Add(30 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			return time.Time{}, 0, fmt.Errorf("pipeline stopped: %w", err)
		case <-time.After(500 * time.Millisecond):
		}
		last := lat.lastChange()
		if last.IsZero() || time.Since(last) < quiet {
			continue
		}
		unacked := 0
		for _, m := range ps.Server.Messages() {
			if m.Acks == 0 && m.Attributes[event.AttrMessageID] != "" {
				unacked++
			}
		}
		if unacked == 0 || time.Since(last) > 3*time.Minute {
			return last, unacked, nil
		}
		time.Sleep(2 * time.Second)
	}
	return time.Time{}, 0, errors.New("no quiet after 30 minutes")
}
