package localstack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentflow/segmentflow/rules"
)

// GeneratorConfig shapes the synthetic game traffic of `local --generate`.
type GeneratorConfig struct {
	// CollectorURL is the tracking API base URL, e.g. http://127.0.0.1:8080.
	CollectorURL string
	WriteKey     string
	// Rate is the number of events per second offered.
	Rate int
	// Users is the number of players.
	Users int
	// OfflineShare of players play offline for a while and send late.
	OfflineShare float64
	// DuplicateShare of batches is sent twice (an SDK retry after a lost reply).
	DuplicateShare float64
	// MalformedShare of messages is broken (missing ids, bad timestamps), and
	// that share of requests also has an unparseable body.
	MalformedShare float64
	// BatchSize is the number of events per request at most.
	BatchSize int
	Seed      uint64
}

func (c *GeneratorConfig) defaults() {
	if c.Users == 0 {
		c.Users = 2000
	}
	if c.BatchSize == 0 {
		c.BatchSize = 20
	}
	if c.OfflineShare == 0 {
		c.OfflineShare = 0.03
	}
	if c.DuplicateShare == 0 {
		c.DuplicateShare = 0.01
	}
	if c.MalformedShare == 0 {
		c.MalformedShare = 0.005
	}
	if c.WriteKey == "" {
		c.WriteKey = "dev"
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
}

// GeneratorStats are the generator's own counts, shown on the status line.
type GeneratorStats struct {
	Sent       atomic.Int64 // messages sent (duplicates and broken ones included)
	Accepted   atomic.Int64 // messages the collector accepted
	Refused    atomic.Int64 // messages the collector refused one by one
	Duplicates atomic.Int64 // messages re-sent on purpose
	Late       atomic.Int64 // messages held back by an offline device
	BadBodies  atomic.Int64 // requests with an unparseable body
	Failed     atomic.Int64 // requests that got no 2xx/4xx answer
}

// Player is one synthetic user: the traits an identify call sends and the
// statistics the `stats` pipeline would have computed.
type Player struct {
	ID     string
	Traits map[string]any
	Stats  rules.Stats
}

// Players makes the deterministic population of a seed.
func Players(n int, seed uint64) []Player {
	r := rand.New(rand.NewPCG(seed, 7))
	oses := []string{"Android", "iOS"}
	countries := []string{"US", "DE", "BR", "IN", "JP", "FR"}
	now := time.Now().UTC()
	ps := make([]Player, n)
	for i := range ps {
		born := time.Date(1960+r.IntN(50), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC)
		watched := int64(r.IntN(12))
		ps[i] = Player{
			ID: fmt.Sprintf("player-%05d", i),
			Traits: map[string]any{
				"birthDate": born.Format("2006-01-02"),
				"os":        oses[r.IntN(len(oses))],
				"country":   countries[r.IntN(len(countries))],
				"plan":      []string{"free", "free", "free", "premium"}[r.IntN(4)],
			},
			Stats: rules.Stats{
				Hourly:         rules.Counters{Events: int64(r.IntN(30)), AdsWatched: watched / 4},
				Daily:          rules.Counters{Events: int64(20 + r.IntN(200)), AppOpens: int64(1 + r.IntN(6)), AdsWatched: watched, AdsSkipped: int64(r.IntN(8)), AdsClicked: int64(r.IntN(3)), CardsPlayed: int64(r.IntN(150))},
				Monthly:        rules.Counters{Events: int64(500 + r.IntN(4000)), AdsWatched: watched * 20},
				Yearly:         rules.Counters{Events: int64(2000 + r.IntN(40000)), AdsWatched: watched * 200},
				LastEngagement: now.Add(-time.Duration(r.IntN(30*24)) * time.Hour),
				FirstSeen:      now.Add(-time.Duration(30+r.IntN(700)) * 24 * time.Hour),
				RegularPlayer:  r.IntN(3) == 0,
			},
		}
	}
	return ps
}

// Generator sends a synthetic game's traffic to the collector over HTTP.
type Generator struct {
	cfg     GeneratorConfig
	players []Player
	client  *http.Client
	Stats   GeneratorStats

	mu      sync.Mutex
	r       *rand.Rand
	seq     int64
	held    map[int][]map[string]any // offline device buffers by player index
	release map[int]time.Time
	known   map[int]bool // players that sent their identify call
}

// NewGenerator prepares a generator over players.
func NewGenerator(cfg GeneratorConfig, players []Player) *Generator {
	cfg.defaults()
	return &Generator{
		cfg:     cfg,
		players: players,
		client:  &http.Client{Timeout: 10 * time.Second},
		r:       rand.New(rand.NewPCG(cfg.Seed, 11)),
		held:    map[int][]map[string]any{},
		release: map[int]time.Time{},
		known:   map[int]bool{},
	}
}

// Run offers cfg.Rate events per second until ctx ends. Requests go out from
// a few workers so a slow reply does not stall the rate.
func (g *Generator) Run(ctx context.Context) {
	if g.cfg.Rate <= 0 || len(g.players) == 0 {
		return
	}
	reqs := make(chan request, 64)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range reqs {
				g.post(ctx, r)
			}
		}()
	}
	const tick = 50 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	var debt float64
	for {
		select {
		case <-ctx.Done():
			close(reqs)
			wg.Wait()
			return
		case now := <-t.C:
			debt += float64(g.cfg.Rate) * tick.Seconds()
			n := int(debt)
			debt -= float64(n)
			for _, r := range g.bodies(now.UTC(), n) {
				select {
				case reqs <- r:
				case <-ctx.Done():
				}
			}
		}
	}
}

// request is one /v1/batch body and the number of messages in it (0 for a
// body that is broken on purpose).
type request struct {
	body     []byte
	messages int
}

// bodies builds the requests for n new events at now, plus the buffers of
// offline devices that came back online.
func (g *Generator) bodies(now time.Time, n int) []request {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []request
	var batch []map[string]any
	flush := func() {
		if len(batch) == 0 {
			return
		}
		body, _ := json.Marshal(map[string]any{"batch": batch, "sentAt": now.Format(time.RFC3339Nano)})
		out = append(out, request{body, len(batch)})
		if g.r.Float64() < g.cfg.DuplicateShare {
			out = append(out, request{body, len(batch)})
			g.Stats.Duplicates.Add(int64(len(batch)))
		}
		batch = nil
	}
	for i, until := range g.release {
		if now.After(until) {
			for _, m := range g.held[i] {
				batch = append(batch, m)
				if len(batch) >= g.cfg.BatchSize {
					flush()
				}
			}
			g.Stats.Late.Add(int64(len(g.held[i])))
			delete(g.held, i)
			delete(g.release, i)
		}
	}
	flush()
	for n > 0 {
		i := g.r.IntN(len(g.players))
		session := g.session(i, now, min(n, 3+g.r.IntN(8)))
		n -= len(session)
		if _, off := g.release[i]; off || g.r.Float64() < g.cfg.OfflineShare/10 {
			// The device is offline: it keeps the events and sends them
			// when it comes back, 30 s to 3 min later.
			if !off {
				g.release[i] = now.Add(time.Duration(30+g.r.IntN(150)) * time.Second)
			}
			g.held[i] = append(g.held[i], session...)
			continue
		}
		for _, m := range session {
			batch = append(batch, m)
			if len(batch) >= g.cfg.BatchSize {
				flush()
			}
		}
	}
	flush()
	if g.r.Float64() < g.cfg.MalformedShare {
		out = append(out, request{body: []byte(`{"batch":[{"type":"track","messageId":"broken-` + strconv.FormatInt(g.seq, 10) + `",`)})
	}
	return out
}

// session is one burst of play: an identify the first time, then opening
// the app, playing cards and meeting ads.
func (g *Generator) session(i int, now time.Time, n int) []map[string]any {
	p := g.players[i]
	var ms []map[string]any
	ctx := map[string]any{"os": map[string]any{"name": p.Traits["os"]}, "app": map[string]any{"version": "3.2.1"}, "library": map[string]any{"name": "segmentflow-local-generator"}}
	msg := func(typ string, extra map[string]any) {
		g.seq++
		m := map[string]any{
			"type":      typ,
			"messageId": fmt.Sprintf("gen-%d-%d", g.cfg.Seed%100000, g.seq),
			"userId":    p.ID,
			"timestamp": now.Add(time.Duration(len(ms)) * time.Millisecond).Format(time.RFC3339Nano),
			"context":   ctx,
		}
		for k, v := range extra {
			m[k] = v
		}
		if g.r.Float64() < g.cfg.MalformedShare {
			// A broken SDK build: no user id, or a timestamp it cannot format.
			if g.r.IntN(2) == 0 {
				delete(m, "userId")
			} else {
				m["timestamp"] = "yesterday"
			}
		}
		ms = append(ms, m)
	}
	if !g.known[i] {
		g.known[i] = true
		msg("identify", map[string]any{"traits": p.Traits})
	}
	msg("track", map[string]any{"event": "user-opened-app"})
	for len(ms) < n {
		switch k := g.r.IntN(10); {
		case k < 5:
			msg("track", map[string]any{"event": "user-played-card", "properties": map[string]any{"card": "card-" + strconv.Itoa(g.r.IntN(60)), "level": 1 + g.r.IntN(40)}})
		case k < 7:
			msg("track", map[string]any{"event": "user-watched-ad", "properties": map[string]any{"ad_id": "ad-" + strconv.Itoa(g.r.IntN(20)), "seconds": 15 + g.r.IntN(16)}})
		case k < 9:
			msg("track", map[string]any{"event": "user-skipped-ad", "properties": map[string]any{"ad_id": "ad-" + strconv.Itoa(g.r.IntN(20))}})
		default:
			msg("track", map[string]any{"event": "user-clicked-on-ad", "properties": map[string]any{"ad_id": "ad-" + strconv.Itoa(g.r.IntN(20))}})
		}
	}
	return ms
}

func (g *Generator) post(ctx context.Context, r request) {
	n := r.messages
	if n == 0 {
		g.Stats.BadBodies.Add(1)
	}
	g.Stats.Sent.Add(int64(n))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.cfg.CollectorURL+"/v1/batch", bytes.NewReader(r.body))
	if err != nil {
		g.Stats.Failed.Add(1)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(g.cfg.WriteKey, "")
	resp, err := g.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			g.Stats.Failed.Add(1)
			slog.Debug("generator: post", "err", err)
		}
		return
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode == http.StatusOK:
		refused := countRefused(reply)
		g.Stats.Accepted.Add(int64(n - refused))
		g.Stats.Refused.Add(int64(refused))
	case resp.StatusCode == http.StatusBadRequest:
		g.Stats.Refused.Add(int64(n))
	default:
		g.Stats.Failed.Add(1)
	}
}

// countRefused reads the number of per-message errors from a collector reply.
func countRefused(reply []byte) int {
	var r struct {
		Errors []json.RawMessage `json:"errors"`
	}
	if json.Unmarshal(reply, &r) != nil {
		return 0
	}
	return len(r.Errors)
}
