package activate

import (
	"reflect"
	"testing"
	"time"

	"github.com/segmentflow/segmentflow/rules"
)

func TestCoalesceKeepsNewestAndNetDiff(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	in := []rules.Change{
		// u1: {} -> {a} (v5) -> {a,b} (v6) -> {b} (v7), arriving out of order.
		{UserID: "u1", Segments: []string{"a", "b"}, Added: []string{"b"}, Removed: []string{}, Version: 6, EventTime: t0.Add(2)},
		{UserID: "u2", Segments: []string{"x"}, Added: []string{"x"}, Removed: []string{}, Version: 1, EventTime: t0},
		{UserID: "u1", Segments: []string{"b"}, Added: []string{}, Removed: []string{"a"}, Version: 7, EventTime: t0.Add(3)},
		{UserID: "u1", Segments: []string{"a"}, Added: []string{"a"}, Removed: []string{}, Version: 5, EventTime: t0.Add(1)},
	}
	out, groups := coalesce(in)
	if len(out) != 2 || !reflect.DeepEqual(groups, [][]int{{0, 2, 3}, {1}}) {
		t.Fatalf("out %+v groups %v", out, groups)
	}
	u1 := out[0]
	if u1.Version != 7 || !reflect.DeepEqual(u1.Segments, []string{"b"}) ||
		!reflect.DeepEqual(u1.Added, []string{"b"}) || !reflect.DeepEqual(u1.Removed, []string{}) || !u1.EventTime.Equal(t0.Add(3)) {
		t.Fatalf("u1 coalesced to %+v, want v7 segments [b] added [b] removed []", u1)
	}
	if !reflect.DeepEqual(out[1], in[1]) {
		t.Fatalf("u2 changed: %+v", out[1])
	}
}

func TestVersionsDropStale(t *testing.T) {
	v := newVersions(2)
	v.delivered(rules.Change{UserID: "u1", Version: 4})
	for _, c := range []struct {
		v     int64
		stale bool
	}{{3, true}, {4, true}, {5, false}} {
		if got := v.stale(rules.Change{UserID: "u1", Version: c.v}); got != c.stale {
			t.Errorf("version %d stale=%v, want %v", c.v, got, c.stale)
		}
	}
	v.delivered(rules.Change{UserID: "u1", Version: 2}) // never goes back
	if !v.stale(rules.Change{UserID: "u1", Version: 3}) {
		t.Error("an older delivery lowered the remembered version")
	}
	// Bounded: the oldest user falls out and is no longer protected.
	v.delivered(rules.Change{UserID: "u2", Version: 1})
	v.delivered(rules.Change{UserID: "u3", Version: 1})
	if v.stale(rules.Change{UserID: "u1", Version: 1}) {
		t.Error("cache kept more users than its size")
	}
}

func TestParseConfigOverridesDefaults(t *testing.T) {
	doc := `
defaults:
  concurrency: 2
  timeout: 3s
  retry: {budget: 1m}
partners:
  dsp-a:
    hmac_key_env: TEST_DSP_A_KEY
    auth_header: "Authorization: Bearer abc"
    timeout: 500ms
    batch_mode: single
  dmp:
    format: csv
    streams: 4
`
	c, err := ParseConfig([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	a := c.For("dsp-a")
	if a.Concurrency != 2 || time.Duration(a.Timeout) != 500*time.Millisecond || a.BatchMode != "single" ||
		time.Duration(a.Retry.Budget) != time.Minute || a.Retry.Multiplier != 2 || a.BatchCount != 100 {
		t.Fatalf("dsp-a limits %+v", a.Limits)
	}
	t.Setenv("TEST_DSP_A_KEY", "s3cret")
	if k, err := a.Key(); err != nil || string(k) != "s3cret" {
		t.Fatalf("key %q %v", k, err)
	}
	if h, err := a.Headers(); err != nil || h["Authorization"] != "Bearer abc" {
		t.Fatalf("headers %v %v", h, err)
	}
	if c.For("dmp").Streams != 4 || a.Streams != 1 {
		t.Fatalf("streams: dmp %d, dsp-a %d", c.For("dmp").Streams, a.Streams)
	}
	if d := c.For("other"); time.Duration(d.Timeout) != 3*time.Second || d.Format != "ndjson" {
		t.Fatalf("defaults for unknown partner: %+v", d.Limits)
	}
	for _, bad := range []string{
		"defaults: {concurency: 2}",
		"partners: {x: {batch_mode: stream}}",
		"defaults: {timeout: forever}",
		"defaults: {concurrency: 0}",
		"partners: {x: {streams: 0}}",
	} {
		if _, err := ParseConfig([]byte(bad)); err == nil {
			t.Errorf("ParseConfig(%q) accepted", bad)
		}
	}
}
