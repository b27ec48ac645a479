package event

import (
	"encoding/json"
	"fmt"
	"time"
)

// Pub/Sub attribute names of the `events` topic (DESIGN.md, Pub/Sub messages).
const (
	AttrMessageID = "message_id"
	AttrEventTime = "event_time"
	AttrType      = "type"
	AttrEvent     = "event"
)

// TimeFormat is RFC 3339 with milliseconds, the format of the event_time attribute.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// Marshal encodes a normalized event as the JSON carried on the `events` topic.
func Marshal(e *Event) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("event: marshal %s: %w", e.MessageID, err)
	}
	return b, nil
}

// Unmarshal decodes a normalized event written by Marshal.
func Unmarshal(b []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(b, &e); err != nil {
		return Event{}, fmt.Errorf("event: unmarshal: %w", err)
	}
	return e, nil
}

// Attributes are the Pub/Sub attributes of an event message, so subscribers
// can filter and window without decoding the body.
func Attributes(e *Event) map[string]string {
	a := map[string]string{
		AttrMessageID: e.MessageID,
		AttrEventTime: e.EventTime.UTC().Format(TimeFormat),
		AttrType:      string(e.Type),
	}
	if e.Type == Track {
		a[AttrEvent] = e.Event
	}
	return a
}

// Normalized reports whether a decoded event already went through Parse
// (the collector sets receivedAt and eventTime on every message it accepts).
func (e *Event) Normalized() bool {
	return !e.EventTime.IsZero() && !e.ReceivedAt.IsZero()
}

// FromLine reads one line of an events file: a normalized event as is, or a
// Segment-format message parsed as if received at its own timestamp, which
// is what offline tooling (rules eval, replays of SDK logs) needs.
func FromLine(line []byte) (Event, error) {
	var probe struct {
		EventTime  time.Time `json:"eventTime"`
		ReceivedAt time.Time `json:"receivedAt"`
	}
	if err := json.Unmarshal(line, &probe); err == nil && !probe.EventTime.IsZero() && !probe.ReceivedAt.IsZero() {
		return Unmarshal(line)
	}
	var ts struct {
		Timestamp         string `json:"timestamp"`
		OriginalTimestamp string `json:"originalTimestamp"`
		SentAt            string `json:"sentAt"`
	}
	_ = json.Unmarshal(line, &ts)
	at, _ := ParseTime(ts.SentAt)
	if at.IsZero() {
		at, _ = ParseTime(ts.Timestamp)
	}
	if at.IsZero() {
		at, _ = ParseTime(ts.OriginalTimestamp)
	}
	if at.IsZero() {
		at = time.Now().UTC()
	}
	return Parse(line, "", Received{At: at}, Limits{})
}

// jsonSpace is what JSON counts as whitespace between tokens (RFC 8259),
// narrower than unicode.IsSpace: a trailing \v or \f makes a body invalid.
const jsonSpace = " \t\r\n"
