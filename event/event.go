// Package event is the normalized event of segmentflow: what the collector
// accepts from Segment-compatible SDKs, what travels on the `events` topic and
// what lands in the lake. It has no Beam or cloud imports so every component
// (collector, pipelines, rules tooling) shares one parser and one validator.
package event

import (
	"time"
)

// Type is the Segment message type.
type Type string

// The Segment HTTP Tracking API message types.
const (
	Track    Type = "track"
	Identify Type = "identify"
	Page     Type = "page"
	Screen   Type = "screen"
	Alias    Type = "alias"
	Group    Type = "group"
)

// Valid reports whether t is one of the message types the tracking API accepts.
func (t Type) Valid() bool {
	switch t {
	case Track, Identify, Page, Screen, Alias, Group:
		return true
	}
	return false
}

// Event is one normalized message. Field names follow the Segment spec so a
// normalized event is still readable by tools that know Segment's format.
type Event struct {
	Type        Type   `json:"type"`
	MessageID   string `json:"messageId"`
	UserID      string `json:"userId,omitempty"`
	AnonymousID string `json:"anonymousId,omitempty"`
	// PreviousID is the alias call's old id.
	PreviousID string `json:"previousId,omitempty"`
	// GroupID is the group call's account id.
	GroupID string `json:"groupId,omitempty"`
	// Event is the track call's event name, e.g. "user-watched-ad".
	Event string `json:"event,omitempty"`
	// Name is the page or screen name.
	Name       string         `json:"name,omitempty"`
	Properties map[string]any `json:"properties,omitempty"`
	Traits     map[string]any `json:"traits,omitempty"`
	Context    map[string]any `json:"context,omitempty"`

	// Timestamp is the client's event time as sent (device clock).
	Timestamp time.Time `json:"timestamp,omitzero"`
	// OriginalTimestamp is RudderStack's name for the device's event time.
	OriginalTimestamp time.Time `json:"originalTimestamp,omitzero"`
	// SentAt is the device clock when the message (or its batch) was sent.
	SentAt time.Time `json:"sentAt,omitzero"`
	// ReceivedAt is the collector's clock when the request arrived.
	ReceivedAt time.Time `json:"receivedAt,omitzero"`
	// EventTime is the event time corrected for device clock skew; the
	// pipelines window and order by it. See CorrectedTime.
	EventTime time.Time `json:"eventTime,omitzero"`

	// Source is the id of the source whose write key sent the message.
	Source string `json:"source,omitempty"`
	// Collector identifies the collector node that received the message.
	Collector *Collector `json:"collector,omitempty"`
}

// Collector is the enrichment the collector adds about itself and the client.
type Collector struct {
	Node     string `json:"node,omitempty"`
	ClientIP string `json:"clientIp,omitempty"`
}

// UserKey is the id the platform keys a user's state by: the userId when the
// app knows it, else the anonymousId.
func (e *Event) UserKey() string {
	if e.UserID != "" {
		return e.UserID
	}
	return e.AnonymousID
}

// EventName is the name rules match on: the event of a track call, and the
// message type for every other call ("identify", "page", ...).
func (e *Event) EventName() string {
	if e.Type == Track {
		return e.Event
	}
	return string(e.Type)
}

// CorrectedTime is the event time corrected for device clock skew:
// t = timestamp, else originalTimestamp, else receivedAt; then
// eventTime = receivedAt - (sentAt - t) when sentAt is known. The delay
// sentAt - t is measured on one (possibly wrong) device clock, so it is
// trustworthy even when the clock itself is not; a negative delay (an event
// stamped after it was sent) is treated as zero.
func CorrectedTime(timestamp, originalTimestamp, sentAt, receivedAt time.Time) time.Time {
	t := timestamp
	if t.IsZero() {
		t = originalTimestamp
	}
	if t.IsZero() {
		return receivedAt
	}
	if sentAt.IsZero() || receivedAt.IsZero() {
		return t
	}
	delay := sentAt.Sub(t)
	if delay < 0 {
		delay = 0
	}
	return receivedAt.Add(-delay)
}
