package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"
)

// eventNames are the seed's track events (DESIGN.md, Tracking API).
var eventNames = []string{"user-opened-app", "user-clicked-on-ad", "user-watched-ad", "user-skipped-ad", "user-played-card"}

// bodies builds n distinct /v1/batch bodies of size events each, shaped like
// what @segment/analytics-node and the mobile SDKs send: a context with
// library, app, device, os and network, a few properties, per-message
// timestamps and one sentAt on the batch. Bodies are built up front so the
// load loop measures the server, not JSON encoding.
func bodies(n, size int, seed uint64) ([][]byte, error) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	now := time.Now().UTC()
	out := make([][]byte, n)
	for i := range out {
		user := fmt.Sprintf("player-%06d", rng.IntN(50_000))
		ctx := map[string]any{
			"library":  map[string]any{"name": "analytics-ios", "version": "4.1.8"},
			"app":      map[string]any{"name": "Card Quest", "version": "3.12.0", "build": "3120"},
			"device":   map[string]any{"manufacturer": "Apple", "model": "iPhone14,5", "type": "ios", "id": fmt.Sprintf("dev-%08x", rng.Uint32())},
			"os":       map[string]any{"name": "iOS", "version": "17.4.1"},
			"network":  map[string]any{"wifi": rng.IntN(2) == 0, "carrier": "T-Mobile"},
			"locale":   "en-US",
			"timezone": "America/New_York",
			"screen":   map[string]any{"width": 390, "height": 844},
		}
		batch := make([]map[string]any, size)
		for j := range batch {
			ev := eventNames[rng.IntN(len(eventNames))]
			batch[j] = map[string]any{
				"type":        "track",
				"event":       ev,
				"userId":      user,
				"anonymousId": fmt.Sprintf("anon-%08x", rng.Uint32()),
				"messageId":   fmt.Sprintf("bench-%d-%d-%08x", i, j, rng.Uint32()),
				"timestamp":   now.Add(-time.Duration(size-j) * time.Second).Format(time.RFC3339Nano),
				"properties": map[string]any{
					"ad_id":     fmt.Sprintf("ad-%04d", rng.IntN(5000)),
					"placement": "interstitial",
					"level":     rng.IntN(120),
					"card":      fmt.Sprintf("card-%03d", rng.IntN(400)),
					"duration":  rng.Float64() * 30,
				},
				"context": ctx,
			}
		}
		b, err := json.Marshal(map[string]any{"batch": batch, "sentAt": now.Format(time.RFC3339Nano)})
		if err != nil {
			return nil, fmt.Errorf("encode batch: %w", err)
		}
		out[i] = b
	}
	return out, nil
}
