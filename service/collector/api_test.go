package collector_test

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segmentflow/segmentflow/event"
	"github.com/segmentflow/segmentflow/service/collector"
)

func TestEveryEndpointPublishes(t *testing.T) {
	s := startStack(t, nil)
	calls := []struct {
		path string
		typ  event.Type
		msg  map[string]any
	}{
		{"/v1/track", event.Track, map[string]any{"event": "user-opened-app"}},
		{"/v1/t", event.Track, map[string]any{"event": "user-played-card"}},
		{"/v1/identify", event.Identify, map[string]any{"traits": map[string]any{"plan": "pro"}}},
		{"/v1/page", event.Page, map[string]any{"name": "home"}},
		{"/v1/screen", event.Screen, map[string]any{"name": "level-3"}},
		{"/v1/alias", event.Alias, map[string]any{"previousId": "anon-1"}},
		{"/v1/group", event.Group, map[string]any{"groupId": "acme"}},
	}
	ids := map[string]event.Type{}
	for i, c := range calls {
		id := "single-" + c.path
		c.msg["messageId"] = id
		c.msg["userId"] = "u-1"
		r := request{path: c.path, body: mustJSON(c.msg)}
		if i%2 == 0 {
			r.key = "key-ios" // HTTP Basic
		} else {
			c.msg["writeKey"] = "key-ios" // in the body
			r.body = mustJSON(c.msg)
		}
		got := s.do(r)
		if got.status != http.StatusOK || got.reply["success"] != true {
			t.Fatalf("%s: %d %s", c.path, got.status, got.body)
		}
		ids[id] = c.typ
	}
	pub := s.published(s.ps)
	for id, typ := range ids {
		p, ok := pub[id]
		if !ok {
			t.Fatalf("%s not on the topic", id)
		}
		if p.ev.Type != typ || p.attrs[event.AttrType] != string(typ) || p.attrs[event.AttrMessageID] != id {
			t.Errorf("%s: type %q attrs %v, want %q", id, p.ev.Type, p.attrs, typ)
		}
		if p.ev.Source != "ios-app" {
			t.Errorf("%s: source %q", id, p.ev.Source)
		}
	}
	if p := pub["single-/v1/track"]; p.attrs[event.AttrEvent] != "user-opened-app" {
		t.Errorf("track attrs %v", p.attrs)
	}
}

func TestBatchGzipAndEnrichment(t *testing.T) {
	s := startStack(t, nil)
	now := time.Now().UTC()
	// The device clock is 1 h behind; the event waited 30 s on the device.
	device := now.Add(-time.Hour)
	body := mustJSON(map[string]any{
		"writeKey": "key-web",
		"sentAt":   device.Format(time.RFC3339Nano),
		"context":  map[string]any{"library": map[string]any{"name": "analytics-node"}},
		"batch": []map[string]any{{
			"type": "track", "messageId": "skewed", "anonymousId": "a-1", "event": "user-clicked-on-ad",
			"timestamp": device.Add(-30 * time.Second).Format(time.RFC3339Nano),
		}},
	})
	got := s.do(request{path: "/v1/batch", body: body, gzip: true})
	if got.status != http.StatusOK {
		t.Fatalf("%d %s", got.status, got.body)
	}
	p, ok := s.published(s.ps)["skewed"]
	if !ok {
		t.Fatal("not published")
	}
	ev := p.ev
	if ev.Source != "web" || ev.Collector == nil || ev.Collector.Node != "node-1" || ev.Collector.ClientIP != "127.0.0.1" {
		t.Errorf("enrichment: source %q collector %+v", ev.Source, ev.Collector)
	}
	if d := ev.ReceivedAt.Sub(now); d < -time.Second || d > 5*time.Second {
		t.Errorf("receivedAt %v, now %v", ev.ReceivedAt, now)
	}
	if d := ev.ReceivedAt.Sub(ev.EventTime); d < 29*time.Second || d > 31*time.Second {
		t.Errorf("eventTime %v is %v before receivedAt, want 30s", ev.EventTime, d)
	}
	if p.attrs[event.AttrEventTime] != ev.EventTime.Format(event.TimeFormat) {
		t.Errorf("event_time attr %q, event %v", p.attrs[event.AttrEventTime], ev.EventTime)
	}
	if ev.Context["library"] == nil {
		t.Errorf("batch context not merged: %v", ev.Context)
	}
}

func TestMixedBatchRefusesOnlyInvalid(t *testing.T) {
	s := startStack(t, nil)
	good1, m1 := msg("user-watched-ad")
	good2, m2 := msg("user-skipped-ad")
	missing := map[string]any{"type": "track", "messageId": "no-user", "event": "x"}
	badTime := map[string]any{"type": "track", "messageId": "bad-time", "userId": "u", "event": "x", "timestamp": "yesterday"}
	got := s.do(request{path: "/v1/batch", key: "key-ios", body: batchBody(m1, missing, m2, badTime)})
	if got.status != http.StatusOK {
		t.Fatalf("%d %s", got.status, got.body)
	}
	if got.reply["success"] != false || got.reply["accepted"] != 2.0 || got.reply["rejected"] != 2.0 {
		t.Fatalf("reply %s", got.body)
	}
	errs := got.reply["errors"].([]any)
	e0, e1 := errs[0].(map[string]any), errs[1].(map[string]any)
	if e0["index"] != 1.0 || e0["code"] != string(event.CodeMissingField) || e0["messageId"] != "no-user" {
		t.Errorf("first error %v", e0)
	}
	if e1["index"] != 3.0 || e1["code"] != string(event.CodeInvalidTimestamp) {
		t.Errorf("second error %v", e1)
	}
	pub := s.published(s.ps)
	if _, ok := pub[good1]; !ok {
		t.Error("valid message 0 not published")
	}
	if _, ok := pub[good2]; !ok {
		t.Error("valid message 2 not published")
	}
	if len(pub) != 2 {
		t.Errorf("%d events published, want 2", len(pub))
	}
	rows := s.dlq()
	if len(rows) != 2 {
		t.Fatalf("%d bad rows, want 2", len(rows))
	}
	reasons := map[string]bool{}
	for _, r := range rows {
		reasons[r["reason"].(string)] = true
		if r["source"] != "ios-app" || r["endpoint"] != "/v1/batch" || !strings.Contains(r["payload"].(string), `"messageId"`) {
			t.Errorf("bad row %v", r)
		}
		if r["_attrs"].(map[string]string)["reason"] != r["reason"] {
			t.Errorf("bad row attrs %v", r["_attrs"])
		}
	}
	if !reasons[string(event.CodeMissingField)] || !reasons[string(event.CodeInvalidTimestamp)] {
		t.Errorf("reasons %v", reasons)
	}
}

func TestAllInvalidIs400(t *testing.T) {
	s := startStack(t, nil)
	got := s.do(request{path: "/v1/batch", key: "key-ios", body: batchBody(map[string]any{"type": "nope", "messageId": "x", "userId": "u"})})
	if got.status != http.StatusBadRequest || got.reply["accepted"] != 0.0 {
		t.Fatalf("%d %s", got.status, got.body)
	}
	got = s.do(request{path: "/v1/track", key: "key-ios", body: []byte(`{"messageId":"m","userId":"u"}`)})
	if got.status != http.StatusBadRequest || !strings.Contains(string(got.body), "event is required") {
		t.Fatalf("track without event: %d %s", got.status, got.body)
	}
	got = s.do(request{path: "/v1/batch", key: "key-ios", body: []byte(`{"batch": [`)})
	if got.status != http.StatusBadRequest || got.reply["code"] != string(event.CodeInvalidJSON) {
		t.Fatalf("broken JSON: %d %s", got.status, got.body)
	}
	rows := s.dlq()
	if len(rows) != 3 {
		t.Fatalf("%d bad rows, want 3", len(rows))
	}
	var whole bool
	for _, r := range rows {
		if r["index"] == -1.0 && r["payload"] == `{"batch": [` {
			whole = true
		}
	}
	if !whole {
		t.Errorf("unparseable body not kept as a bad row: %v", rows)
	}
	if n := len(s.published(s.ps)); n != 0 {
		t.Errorf("%d events published", n)
	}
}

func TestAuthAndLimits(t *testing.T) {
	s := startStack(t, func(c *collector.Config) {
		c.MaxBodyBytes = 4 << 10
		c.Sources = append(c.Sources, collector.Source{ID: "slow", WriteKey: "key-slow", Rate: 1, Burst: 2})
	})
	body, _ := batchOf(1)
	cases := []struct {
		name string
		r    request
		want int
	}{
		{"unknown basic key", request{path: "/v1/batch", key: "nope", body: body}, 401},
		{"no key at all", request{path: "/v1/batch", body: body}, 401},
		{"unknown body key", request{path: "/v1/track", body: []byte(`{"writeKey":"nope","messageId":"m","userId":"u","event":"e"}`)}, 401},
		{"body too large", request{path: "/v1/batch", key: "key-ios", body: bytes.Repeat([]byte("a"), 5<<10)}, 413},
		{"gzip bomb", request{path: "/v1/batch", key: "key-ios", body: []byte(`{"batch":[],"x":"` + strings.Repeat("a", 64<<10) + `"}`), gzip: true}, 413},
		{"bad gzip", request{path: "/v1/batch", key: "key-ios", body: body, encoding: "gzip"}, 400},
		{"unknown encoding", request{path: "/v1/batch", key: "key-ios", body: body, encoding: "br"}, 415},
		{"GET", request{path: "/v1/batch", key: "key-ios", method: http.MethodGet}, 405},
		{"CORS preflight", request{path: "/v1/batch", method: http.MethodOptions}, 204},
		{"empty batch", request{path: "/v1/batch", key: "key-ios", body: []byte(`{"batch":[]}`)}, 200},
	}
	for _, c := range cases {
		if got := s.do(c.r); got.status != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, got.status, got.body, c.want)
		}
	}
	// Per-message limit (32 KB by default) inside a body that fits.
	big := map[string]any{"type": "track", "messageId": "big", "userId": "u", "event": "e",
		"properties": map[string]any{"blob": strings.Repeat("x", 40<<10)}}
	s2 := startStack(t, nil)
	got := s2.do(request{path: "/v1/batch", key: "key-ios", body: batchBody(big)})
	if got.status != 400 || !strings.Contains(string(got.body), string(event.CodeTooLarge)) {
		t.Errorf("message over 32 KB: %d %s", got.status, got.body)
	}

	var codes []int
	for range 4 {
		b, _ := batchOf(1)
		codes = append(codes, s.do(request{path: "/v1/batch", key: "key-slow", body: b}).status)
	}
	if codes[0] != 200 || codes[1] != 200 || codes[3] != 429 {
		t.Errorf("rate limit 1/s burst 2: codes %v", codes)
	}
	r := s.do(request{path: "/v1/batch", key: "key-slow", body: body})
	if r.status != 429 || r.header.Get("Retry-After") == "" {
		t.Errorf("429 without Retry-After: %d %v", r.status, r.header)
	}
	// Other keys are not limited by key-slow's budget.
	if got := s.do(request{path: "/v1/batch", key: "key-ios", body: body}); got.status != 200 {
		t.Errorf("key-ios: %d", got.status)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	s := startStack(t, nil)
	body, _ := batchOf(3)
	s.do(request{path: "/v1/batch", key: "key-ios", body: body})
	for _, p := range []string{"/healthz", "/readyz"} {
		if got := s.do(request{path: p, method: http.MethodGet}); got.status != 200 {
			t.Errorf("%s: %d %s", p, got.status, got.body)
		}
	}
	got := s.do(request{path: "/metrics", method: http.MethodGet})
	for _, want := range []string{
		`segmentflow_collector_requests_total{code="200",endpoint="batch"} 1`,
		`segmentflow_collector_messages_total{outcome="primary"} 3`,
		`segmentflow_collector_batch_messages_count 1`,
		`segmentflow_collector_publish_duration_seconds_count{target="primary"} 1`,
	} {
		if !strings.Contains(string(got.body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestBadGzipIsNotAPanicOnTruncation(t *testing.T) {
	s := startStack(t, nil)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	b, _ := batchOf(5)
	zw.Write(b)
	zw.Close()
	trunc := buf.Bytes()[:buf.Len()/2]
	req, _ := http.NewRequest(http.MethodPost, s.url+"/v1/batch", bytes.NewReader(trunc))
	req.Header.Set("Content-Encoding", "gzip")
	req.SetBasicAuth("key-ios", "")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("truncated gzip: %d", resp.StatusCode)
	}
}
