package event

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var recv = Received{
	At:     time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC),
	Source: "src-dev",
	Node:   "collector-1",
	IP:     "10.0.0.7",
}

func TestParseTrack(t *testing.T) {
	raw := `{"type":"track","messageId":"m1","userId":"u1","event":"user-watched-ad",
	  "properties":{"ad_id":"a9","seconds":30},"context":{"os":{"name":"Android"}},
	  "timestamp":"2026-12-02T11:00:00.000Z","sentAt":"2026-12-02T11:00:05Z"}`
	e, err := Parse([]byte(raw), "", recv, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if e.Type != Track || e.MessageID != "m1" || e.UserKey() != "u1" || e.EventName() != "user-watched-ad" {
		t.Fatalf("parsed %+v", e)
	}
	// Device clock thinks it is 11:00:05 when the server says 12:00:00: the
	// event happened 5 s before sending, so at 11:59:55 server time.
	if want := recv.At.Add(-5 * time.Second); !e.EventTime.Equal(want) {
		t.Fatalf("eventTime %v, want %v", e.EventTime, want)
	}
	if e.Source != "src-dev" || e.Collector == nil || e.Collector.ClientIP != "10.0.0.7" {
		t.Fatalf("enrichment %+v %+v", e.Source, e.Collector)
	}
	if e.Properties["seconds"].(float64) != 30 {
		t.Fatalf("properties %v", e.Properties)
	}
}

func TestParseEndpointTypeAndBatchSentAt(t *testing.T) {
	r := recv
	r.SentAt = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC) // an offline day, device clock right
	e, err := Parse([]byte(`{"messageId":"m2","anonymousId":"a1","traits":{"birthDate":"1990-01-02"},
	  "timestamp":"2026-12-01T11:00:00Z"}`), Identify, r, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if e.Type != Identify || e.EventName() != "identify" || e.UserKey() != "a1" {
		t.Fatalf("parsed %+v", e)
	}
	if want := recv.At.Add(-time.Hour); !e.EventTime.Equal(want) {
		t.Fatalf("eventTime %v, want %v (batch sentAt used)", e.EventTime, want)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		typ       Type
		field     string
		code      Code
	}{
		{"missing ids", `{"type":"track","messageId":"m","event":"x"}`, "", "userId", CodeMissingField},
		{"missing type in batch", `{"messageId":"m","userId":"u","event":"x"}`, "", "type", CodeMissingField},
		{"unknown type", `{"type":"purchase","messageId":"m","userId":"u"}`, "", "type", CodeUnknownType},
		{"type mismatch", `{"type":"page","messageId":"m","userId":"u"}`, Track, "type", CodeUnknownType},
		{"track without event", `{"type":"track","messageId":"m","userId":"u"}`, "", "event", CodeMissingField},
		{"bad timestamp", `{"type":"track","messageId":"m","userId":"u","event":"x","timestamp":"yesterday"}`, "", "timestamp", CodeInvalidTimestamp},
		{"timestamp not string", `{"type":"track","messageId":"m","userId":"u","event":"x","timestamp":12}`, "", "timestamp", CodeInvalidTimestamp},
		{"properties not object", `{"type":"track","messageId":"m","userId":"u","event":"x","properties":[1]}`, "", "properties", CodeWrongType},
		{"userId wrong type", `{"type":"track","messageId":"m","userId":{"a":1},"event":"x"}`, "", "userId", CodeWrongType},
		{"alias without previousId", `{"type":"alias","messageId":"m","userId":"u"}`, "", "previousId", CodeMissingField},
		{"group without groupId", `{"type":"group","messageId":"m","userId":"u"}`, "", "groupId", CodeMissingField},
		{"missing messageId", `{"type":"track","userId":"u","event":"x"}`, "", "messageId", CodeMissingField},
		{"not json", `{"type":`, "", "", CodeInvalidJSON},
		{"invalid utf8", "{\"type\":\"track\",\"messageId\":\"m\",\"userId\":\"\xff\",\"event\":\"x\"}", "", "", CodeInvalidUTF8},
		{"too large", `{"type":"track","messageId":"m","userId":"u","event":"x","properties":{"p":"` + strings.Repeat("x", 40<<10) + `"}}`, "", "", CodeTooLarge},
		{"long id", `{"type":"track","messageId":"m","userId":"` + strings.Repeat("u", 300) + `","event":"x"}`, "", "userId", CodeTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.raw), tc.typ, recv, Limits{})
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("got %v, want a *ValidationError", err)
			}
			for _, fe := range verr.Errors {
				if fe.Field == tc.field && fe.Code == tc.code {
					return
				}
			}
			t.Fatalf("errors %v, want field %q code %q", verr.Errors, tc.field, tc.code)
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	_, err := Parse([]byte(`{"type":"track","messageId":"m","timestamp":"nope","properties":3}`), "", recv, Limits{})
	var verr *ValidationError
	if !errors.As(err, &verr) || len(verr.Errors) < 4 {
		t.Fatalf("want at least 4 problems (userId, event, timestamp, properties), got %v", err)
	}
}

func TestCorrectedTime(t *testing.T) {
	rcv := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	ts := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) // device clock years off
	for _, tc := range []struct {
		name                string
		ts, orig, sent, got time.Time
	}{
		{"skewed clock", ts, time.Time{}, ts.Add(10 * time.Minute), rcv.Add(-10 * time.Minute)},
		{"originalTimestamp", time.Time{}, ts, ts.Add(time.Hour), rcv.Add(-time.Hour)},
		{"no sentAt keeps timestamp", ts, time.Time{}, time.Time{}, ts},
		{"no timestamp", time.Time{}, time.Time{}, ts, rcv},
		{"stamped after send", ts.Add(time.Minute), time.Time{}, ts, rcv},
	} {
		if got := CorrectedTime(tc.ts, tc.orig, tc.sent, rcv); !got.Equal(tc.got) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.got)
		}
	}
}

func TestDecodeBatch(t *testing.T) {
	b, err := DecodeBatch([]byte(`{"batch":[{"type":"track"},{"type":"page"}],"sentAt":"2026-12-02T11:00:00Z","writeKey":"dev"}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Batch) != 2 || b.WriteKey != "dev" || b.SentAtTime().Hour() != 11 {
		t.Fatalf("batch %+v", b)
	}
	for _, bad := range []string{`{"events":[]}`, `[1,2]`, "{\"batch\":[\"\xff\"]}"} {
		if _, err := DecodeBatch([]byte(bad)); err == nil {
			t.Errorf("DecodeBatch(%q) accepted", bad)
		}
	}
}

func TestMarshalRoundTripAndAttributes(t *testing.T) {
	e, err := Parse([]byte(`{"type":"track","messageId":"m1","userId":"u1","event":"user-opened-app","timestamp":"2026-12-02T11:59:00Z"}`), "", recv, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Marshal(&e)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Normalized() || back.MessageID != "m1" || !back.EventTime.Equal(e.EventTime) || back.Collector.Node != "collector-1" {
		t.Fatalf("round trip %+v", back)
	}
	a := Attributes(&back)
	if a[AttrMessageID] != "m1" || a[AttrEvent] != "user-opened-app" || a[AttrType] != "track" || a[AttrEventTime] != "2026-12-02T11:59:00.000Z" {
		t.Fatalf("attributes %v", a)
	}
	line, err := FromLine(b)
	if err != nil || !line.EventTime.Equal(e.EventTime) {
		t.Fatalf("FromLine normalized: %v %v", line, err)
	}
	seg, err := FromLine([]byte(`{"type":"track","messageId":"m3","userId":"u","event":"x","timestamp":"2026-12-02T10:00:00Z"}`))
	if err != nil || !seg.EventTime.Equal(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("FromLine segment: %v %v", seg, err)
	}
}
