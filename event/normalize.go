package event

import (
	"bytes"
	"encoding/json"
	"time"
	"unicode/utf8"

	sjson "github.com/segmentio/encoding/json"
)

// wireMessage keeps properties, traits and context as the client's JSON:
// the collector only forwards them, so building maps to encode them again
// is wasted work (it was half the collector's CPU).
type wireMessage = message[json.RawMessage]

// wireEvent encodes like Event, with the objects as raw JSON.
type wireEvent struct {
	Type        Type            `json:"type"`
	MessageID   string          `json:"messageId"`
	UserID      string          `json:"userId,omitempty"`
	AnonymousID string          `json:"anonymousId,omitempty"`
	PreviousID  string          `json:"previousId,omitempty"`
	GroupID     string          `json:"groupId,omitempty"`
	Event       string          `json:"event,omitempty"`
	Name        string          `json:"name,omitempty"`
	Properties  json.RawMessage `json:"properties,omitempty"`
	Traits      json.RawMessage `json:"traits,omitempty"`
	Context     json.RawMessage `json:"context,omitempty"`
	// Pointers: segmentio/encoding does not know omitzero, and a zero
	// time spelled out on every event is bytes on every hop downstream.
	Timestamp         *time.Time `json:"timestamp,omitempty"`
	OriginalTimestamp *time.Time `json:"originalTimestamp,omitempty"`
	SentAt            *time.Time `json:"sentAt,omitempty"`
	ReceivedAt        *time.Time `json:"receivedAt,omitempty"`
	EventTime         *time.Time `json:"eventTime,omitempty"`
	Source            string     `json:"source,omitempty"`
	Collector         *Collector `json:"collector,omitempty"`
}

// Normalize is Parse followed by Marshal, the collector's path: it returns
// the event (without Properties, Traits and Context, which only the
// returned JSON holds) and its wire JSON, which decodes (Unmarshal) to what
// Parse returns. Object members keep the client's order and number text.
// A message Normalize cannot take in one pass (a batch-level context to
// merge, a field of the wrong type, any validation error) goes through
// Parse and Marshal, so errors are exactly Parse's.
func Normalize(raw []byte, typ Type, rcv Received, lim Limits) (Event, []byte, error) {
	lim = lim.orDefault()
	if len(rcv.Context) == 0 && len(raw) <= lim.MaxMessageBytes && utf8.Valid(raw) {
		// segmentio/encoding decodes this struct in about a third of
		// encoding/json's time and lets the strings and objects point into
		// raw (which nothing modifies) instead of copying them.
		var wm wireMessage
		// Parse stops after the first value; trailing bytes make the
		// message invalid JSON, which Parse below reports.
		if rest, err := sjson.Parse(raw, &wm, sjson.DontCopyRawMessage|sjson.DontCopyString); err == nil && len(bytes.Trim(rest, jsonSpace)) == 0 {
			if e, data, ok := normalizeWire(&wm, typ, rcv, lim); ok {
				return e, data, nil
			}
		}
	}
	e, err := Parse(raw, typ, rcv, lim)
	if err != nil {
		return Event{}, nil, err
	}
	data, err := Marshal(&e)
	if err != nil {
		return Event{}, nil, err
	}
	return e, data, nil
}

func normalizeWire(wm *wireMessage, typ Type, rcv Received, lim Limits) (Event, []byte, bool) {
	var keys [3]int
	objs := [3]*json.RawMessage{&wm.Properties, &wm.Traits, &wm.Context}
	for i, o := range objs {
		if isNull(*o) {
			*o = nil
			continue
		}
		if (*o)[0] != '{' {
			return Event{}, nil, false
		}
		if keys[i] = objectKeys(*o, lim.MaxProperties); keys[i] == 0 {
			*o = nil // Marshal omits an empty map
		}
	}
	verr := &ValidationError{}
	e := Event{
		MessageID: wm.MessageID, UserID: wm.UserID, AnonymousID: wm.AnonymousID,
		PreviousID: wm.PreviousID, GroupID: wm.GroupID, Event: wm.Event, Name: wm.Name,
		Timestamp:         timeText(verr, "timestamp", wm.Timestamp),
		OriginalTimestamp: timeText(verr, "originalTimestamp", wm.OriginalTimestamp),
		SentAt:            timeText(verr, "sentAt", wm.SentAt),
	}
	e, err := finish(verr, Type(wm.Type), e, typ, rcv, lim, keys)
	if err != nil {
		return Event{}, nil, false
	}
	size := 512 + len(wm.Properties) + len(wm.Traits) + len(wm.Context)
	data, err := sjson.Append(make([]byte, 0, size), &wireEvent{
		Type: e.Type, MessageID: e.MessageID, UserID: e.UserID, AnonymousID: e.AnonymousID,
		PreviousID: e.PreviousID, GroupID: e.GroupID, Event: e.Event, Name: e.Name,
		Timestamp: nonZero(&e.Timestamp), OriginalTimestamp: nonZero(&e.OriginalTimestamp), SentAt: nonZero(&e.SentAt),
		ReceivedAt: nonZero(&e.ReceivedAt), EventTime: nonZero(&e.EventTime), Source: e.Source, Collector: e.Collector,
	}, sjson.EscapeHTML|sjson.SortMapKeys)
	if err != nil {
		return Event{}, nil, false
	}
	// The objects go in as the client sent them: the decoder above already
	// validated them, and re-encoding them (the encoder compacts and
	// escapes every byte of a RawMessage) was a quarter of Normalize.
	data = data[:len(data)-1] // the closing brace; the struct always has type and messageId
	for i, name := range [3]string{`,"properties":`, `,"traits":`, `,"context":`} {
		if raw := *objs[i]; raw != nil {
			data = appendObject(append(data, name...), raw)
		}
	}
	return e, append(data, '}'), true
}

func nonZero(t *time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return t
}

// appendObject appends a valid JSON object. Lake files and failover
// objects are NDJSON, so line breaks between tokens (the only place they
// can be: JSON strings hold them escaped) are compacted away.
func appendObject(dst, obj []byte) []byte {
	if bytes.IndexByte(obj, '\n') < 0 && bytes.IndexByte(obj, '\r') < 0 {
		return append(dst, obj...)
	}
	buf := bytes.NewBuffer(dst)
	if err := json.Compact(buf, obj); err != nil {
		// Unreachable for validated JSON; keep the line intact anyway.
		return append(dst, bytes.ReplaceAll(bytes.ReplaceAll(obj, []byte("\r"), []byte(" ")), []byte("\n"), []byte(" "))...)
	}
	return buf.Bytes()
}

// objectKeys is the number of top-level members of a validated object as
// far as the limit lim needs it: exact when the object is long enough to
// hold more than lim members (each takes at least 5 bytes, `"":0,`), else
// 1 for any non-empty object, which spares scanning small objects.
func objectKeys(obj []byte, lim int) int {
	if len(obj) > 5*lim+1 {
		return topLevelKeys(obj)
	}
	if t := bytes.Trim(obj, jsonSpace); len(bytes.Trim(t[1:len(t)-1], jsonSpace)) == 0 {
		return 0
	}
	return 1
}

// topLevelKeys counts the members of a JSON object that json.Unmarshal has
// already validated: the colons at depth one, outside strings. (A repeated
// key counts twice here and once in a map; the limit is a guard, not a
// contract.)
func topLevelKeys(obj []byte) int {
	n, depth, inString := 0, 0, false
	for i := 0; i < len(obj); i++ {
		c := obj[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case ':':
			if depth == 1 {
				n++
			}
		}
	}
	return n
}
