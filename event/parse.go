package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	sjson "github.com/segmentio/encoding/json"
)

// Limits bound what one message may carry. The zero value means DefaultLimits.
type Limits struct {
	// MaxMessageBytes bounds one message's JSON; Segment's own limit is 32 KB.
	MaxMessageBytes int
	// MaxIDLength bounds messageId, userId, anonymousId and event names.
	MaxIDLength int
	// MaxProperties bounds the number of top-level keys of properties,
	// traits and context each.
	MaxProperties int
}

// DefaultLimits are Segment's documented limits.
var DefaultLimits = Limits{MaxMessageBytes: 32 << 10, MaxIDLength: 256, MaxProperties: 512}

func (l Limits) orDefault() Limits {
	if l.MaxMessageBytes == 0 {
		l.MaxMessageBytes = DefaultLimits.MaxMessageBytes
	}
	if l.MaxIDLength == 0 {
		l.MaxIDLength = DefaultLimits.MaxIDLength
	}
	if l.MaxProperties == 0 {
		l.MaxProperties = DefaultLimits.MaxProperties
	}
	return l
}

// Batch is the body of POST /v1/batch, with each message still raw so that
// one bad message refuses only itself.
type Batch struct {
	Batch    []json.RawMessage `json:"batch"`
	SentAt   json.RawMessage   `json:"sentAt,omitempty"`
	WriteKey string            `json:"writeKey,omitempty"`
	Context  map[string]any    `json:"context,omitempty"`
}

// DecodeBatch decodes a batch body. An error means the whole body is unusable.
func DecodeBatch(body []byte) (*Batch, error) {
	if !utf8.Valid(body) {
		return nil, FieldError{Code: CodeInvalidUTF8, Message: "body is not valid UTF-8"}
	}
	var b Batch
	// segmentio's decoder takes a third of encoding/json's time here and
	// leaves each message pointing into body instead of copying it; the
	// standard decoder runs only to word the error of a bad body.
	if rest, err := sjson.Parse(body, &b, sjson.DontCopyRawMessage); err != nil || len(bytes.Trim(rest, jsonSpace)) > 0 {
		b = Batch{}
		if err := json.Unmarshal(body, &b); err != nil {
			return nil, FieldError{Code: CodeInvalidJSON, Message: err.Error()}
		}
	}
	if b.Batch == nil {
		return nil, FieldError{Field: "batch", Code: CodeMissingField, Message: "batch is required"}
	}
	return &b, nil
}

// SentAtTime parses the batch-level sentAt; a malformed one is ignored (each
// message may carry its own).
func (b *Batch) SentAtTime() time.Time {
	t, _ := parseTimeRaw(b.SentAt)
	return t
}

// Received is what the collector knows about a request, applied to every
// message parsed from it.
type Received struct {
	At     time.Time
	SentAt time.Time // the batch's sentAt, used when the message has none
	Source string
	Node   string
	IP     string
	// Context is the batch-level context, merged under each message's own.
	Context map[string]any
}

// rawMessage mirrors Event with loosely typed fields, so that validation can
// report a wrong type per field instead of failing the whole message.
type rawMessage struct {
	Type              json.RawMessage `json:"type"`
	MessageID         json.RawMessage `json:"messageId"`
	UserID            json.RawMessage `json:"userId"`
	AnonymousID       json.RawMessage `json:"anonymousId"`
	PreviousID        json.RawMessage `json:"previousId"`
	GroupID           json.RawMessage `json:"groupId"`
	Event             json.RawMessage `json:"event"`
	Name              json.RawMessage `json:"name"`
	Properties        json.RawMessage `json:"properties"`
	Traits            json.RawMessage `json:"traits"`
	Context           json.RawMessage `json:"context"`
	Timestamp         json.RawMessage `json:"timestamp"`
	OriginalTimestamp json.RawMessage `json:"originalTimestamp"`
	SentAt            json.RawMessage `json:"sentAt"`
	WriteKey          json.RawMessage `json:"writeKey"`
}

// message is a well-formed message decoded in one pass, its objects
// (properties, traits, context) as O: maps for Parse, the client's raw JSON
// for Normalize, which only forwards them.
type message[O any] struct {
	Type              string `json:"type"`
	MessageID         string `json:"messageId"`
	UserID            string `json:"userId"`
	AnonymousID       string `json:"anonymousId"`
	PreviousID        string `json:"previousId"`
	GroupID           string `json:"groupId"`
	Event             string `json:"event"`
	Name              string `json:"name"`
	Properties        O      `json:"properties"`
	Traits            O      `json:"traits"`
	Context           O      `json:"context"`
	Timestamp         string `json:"timestamp"`
	OriginalTimestamp string `json:"originalTimestamp"`
	SentAt            string `json:"sentAt"`
}

// fastMessage is what Parse tries first. Most messages are well-formed, so
// it falls back to rawMessage, which decodes each field on its own, only to
// say which field is wrong.
type fastMessage = message[map[string]any]

// Parse parses and validates one Segment-format message. typ is the type
// implied by the endpoint (/v1/track → Track); it is empty for batch items,
// which must name their own. Every problem is reported in one
// *ValidationError.
func Parse(raw []byte, typ Type, rcv Received, lim Limits) (Event, error) {
	lim = lim.orDefault()
	verr := &ValidationError{}
	if len(raw) > lim.MaxMessageBytes {
		verr.add("", CodeTooLarge, "message is %d bytes, over the limit of %d", len(raw), lim.MaxMessageBytes)
		return Event{}, verr
	}
	if !utf8.Valid(raw) {
		verr.add("", CodeInvalidUTF8, "message is not valid UTF-8")
		return Event{}, verr
	}
	var (
		e   Event
		t   Type
		fm  fastMessage
		err = json.Unmarshal(raw, &fm)
	)
	if err == nil {
		t = Type(fm.Type)
		e = Event{
			MessageID: fm.MessageID, UserID: fm.UserID, AnonymousID: fm.AnonymousID,
			PreviousID: fm.PreviousID, GroupID: fm.GroupID, Event: fm.Event, Name: fm.Name,
			Properties: fm.Properties, Traits: fm.Traits, Context: fm.Context,
		}
		e.Timestamp = timeText(verr, "timestamp", fm.Timestamp)
		e.OriginalTimestamp = timeText(verr, "originalTimestamp", fm.OriginalTimestamp)
		e.SentAt = timeText(verr, "sentAt", fm.SentAt)
	} else if t, e, err = parseFields(verr, raw); err != nil {
		verr.add("", CodeInvalidJSON, "%s", err.Error())
		return Event{}, verr
	}
	return finish(verr, t, e, typ, rcv, lim, [3]int{len(e.Properties), len(e.Traits), len(e.Context)})
}

// finish validates a decoded message and enriches it. keys are the
// top-level key counts of properties, traits and context.
func finish(verr *ValidationError, t Type, e Event, typ Type, rcv Received, lim Limits, keys [3]int) (Event, error) {
	for _, f := range []struct {
		name string
		v    string
	}{{"type", string(t)}, {"messageId", e.MessageID}, {"userId", e.UserID}, {"anonymousId", e.AnonymousID},
		{"previousId", e.PreviousID}, {"groupId", e.GroupID}, {"event", e.Event}, {"name", e.Name}} {
		if len(f.v) > lim.MaxIDLength {
			verr.add(f.name, CodeTooLarge, "is %d bytes, over the limit of %d", len(f.v), lim.MaxIDLength)
		}
	}
	for i, name := range []string{"properties", "traits", "context"} {
		if keys[i] > lim.MaxProperties {
			verr.add(name, CodeTooLarge, "has %d keys, over the limit of %d", keys[i], lim.MaxProperties)
		}
	}
	switch {
	case t == "" && typ != "":
		t = typ
	case t == "":
		verr.add("type", CodeMissingField, "type is required in a batch")
	case typ != "" && t != typ:
		verr.add("type", CodeUnknownType, "type %q does not match the endpoint's %q", t, typ)
	case !t.Valid():
		verr.add("type", CodeUnknownType, "unknown type %q", t)
	}
	e.Type = t

	if e.MessageID == "" {
		verr.add("messageId", CodeMissingField, "messageId is required")
	}
	if e.UserID == "" && e.AnonymousID == "" {
		verr.add("userId", CodeMissingField, "userId or anonymousId is required")
	}
	switch e.Type {
	case Track:
		if e.Event == "" {
			verr.add("event", CodeMissingField, "event is required for track")
		}
	case Alias:
		if e.PreviousID == "" {
			verr.add("previousId", CodeMissingField, "previousId is required for alias")
		}
	case Group:
		if e.GroupID == "" {
			verr.add("groupId", CodeMissingField, "groupId is required for group")
		}
	}
	if err := verr.errOrNil(); err != nil {
		return Event{}, err
	}

	if len(rcv.Context) > 0 {
		merged := make(map[string]any, len(rcv.Context)+len(e.Context))
		for k, v := range rcv.Context {
			merged[k] = v
		}
		for k, v := range e.Context {
			merged[k] = v
		}
		e.Context = merged
	}
	e.ReceivedAt = rcv.At.UTC()
	sent := e.SentAt
	if sent.IsZero() {
		sent = rcv.SentAt
	}
	e.EventTime = CorrectedTime(e.Timestamp, e.OriginalTimestamp, sent, e.ReceivedAt).UTC()
	e.Source = rcv.Source
	if rcv.Node != "" || rcv.IP != "" {
		e.Collector = &Collector{Node: rcv.Node, ClientIP: rcv.IP}
	}
	return e, nil
}

// parseFields decodes a message field by field, so that a field of the
// wrong type is reported as such; err is set only when raw is not JSON at all.
func parseFields(verr *ValidationError, raw []byte) (Type, Event, error) {
	var m rawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", Event{}, err
	}
	str := func(field string, r json.RawMessage) string {
		s, ok := stringField(r)
		if !ok {
			verr.add(field, CodeWrongType, "must be a string")
		}
		return s
	}
	var e Event
	t := Type(str("type", m.Type))
	e.MessageID = str("messageId", m.MessageID)
	e.UserID = str("userId", m.UserID)
	e.AnonymousID = str("anonymousId", m.AnonymousID)
	e.PreviousID = str("previousId", m.PreviousID)
	e.GroupID = str("groupId", m.GroupID)
	e.Event = str("event", m.Event)
	e.Name = str("name", m.Name)
	e.Properties = objectField(verr, "properties", m.Properties)
	e.Traits = objectField(verr, "traits", m.Traits)
	e.Context = objectField(verr, "context", m.Context)
	e.Timestamp = timeField(verr, "timestamp", m.Timestamp)
	e.OriginalTimestamp = timeField(verr, "originalTimestamp", m.OriginalTimestamp)
	e.SentAt = timeField(verr, "sentAt", m.SentAt)
	return t, e, nil
}

func isNull(r json.RawMessage) bool {
	return len(r) == 0 || bytes.Equal(r, []byte("null"))
}

func stringField(r json.RawMessage) (string, bool) {
	if isNull(r) {
		return "", true
	}
	if r[0] != '"' {
		// Segment SDKs send numeric user ids from some languages; accept
		// numbers as their decimal text rather than refusing the event.
		if r[0] == '-' || (r[0] >= '0' && r[0] <= '9') {
			var n json.Number
			if json.Unmarshal(r, &n) == nil {
				return n.String(), true
			}
		}
		return "", false
	}
	var s string
	if err := json.Unmarshal(r, &s); err != nil {
		return "", false
	}
	return s, true
}

func objectField(verr *ValidationError, field string, r json.RawMessage) map[string]any {
	if isNull(r) {
		return nil
	}
	if r[0] != '{' {
		verr.add(field, CodeWrongType, "must be an object")
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(r, &m); err != nil {
		verr.add(field, CodeWrongType, "must be an object: %v", err)
		return nil
	}
	return m
}

func timeField(verr *ValidationError, field string, r json.RawMessage) time.Time {
	t, err := parseTimeRaw(r)
	if err != nil {
		verr.add(field, CodeInvalidTimestamp, "%v", err)
	}
	return t
}

// timeText parses a timestamp the one-pass decode read as a string.
func timeText(verr *ValidationError, field, s string) time.Time {
	t, err := ParseTime(s)
	if err != nil {
		verr.add(field, CodeInvalidTimestamp, "%v", err)
	}
	return t
}

func parseTimeRaw(r json.RawMessage) (time.Time, error) {
	if isNull(r) {
		return time.Time{}, nil
	}
	var s string
	if err := json.Unmarshal(r, &s); err != nil {
		return time.Time{}, fmt.Errorf("must be an ISO 8601 string")
	}
	return ParseTime(s)
}

// ParseTime parses the ISO 8601 timestamps SDKs send: RFC 3339 with or
// without fractional seconds, and a few lax forms seen in the wild.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			if t.Year() < 1970 || t.Year() > 9999 {
				return time.Time{}, fmt.Errorf("%q is out of range", s)
			}
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an ISO 8601 timestamp", s)
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02",
}
