package transforms

import (
	"context"
	"encoding/json"
	"time"
	"unicode/utf8"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/segmentflow/segmentflow/event"
	"github.com/segmentflow/segmentflow/io/pubsubio"
)

func init() {
	register.DoFn5x0[context.Context, beam.EventTime, pubsubio.Message, func(beam.EventTime, Item), func(pubsubio.Outgoing)](&parseFn{})
	register.Emitter2[beam.EventTime, Item]()
	register.Emitter1[pubsubio.Outgoing]()
}

// Reasons of the dead letters written by Parse, next to event.Code values
// for messages that fail validation.
const (
	ReasonNotNormalized = "not_normalized"
	ReasonNoUser        = "missing_user"
	ReasonNoMessageID   = "missing_message_id"
	ReasonLate          = "late"
)

// DeadLetter is the JSON body of an events-dlq message: the typed reason and
// the original payload, as DESIGN.md asks of bad rows.
type DeadLetter struct {
	Reason    string `json:"reason"`
	Error     string `json:"error"`
	Pipeline  string `json:"pipeline"`
	MessageID string `json:"message_id,omitempty"`
	// Payload is the original message body; PayloadBase64 holds it instead
	// when it is not valid UTF-8, so it survives byte for byte.
	Payload       string            `json:"payload,omitempty"`
	PayloadBase64 []byte            `json:"payload_base64,omitempty"`
	Attrs         map[string]string `json:"attributes,omitempty"`
	At            time.Time         `json:"at"`
}

// ParseOptions configure Parse.
type ParseOptions struct {
	// DLQTopic receives what cannot be classified.
	DLQTopic string
	// AllowedLateness is how far an event's time may lie behind the
	// collector's receive time; older events are dead-lettered as late.
	// Zero accepts any lateness.
	AllowedLateness time.Duration
}

// Parse decodes the normalized events of msgs. Valid events come out as
// Items timestamped by their event time; everything else goes to the
// second output as dead letters for DLQTopic.
func Parse(s beam.Scope, msgs beam.PCollection, opts ParseOptions) (items, deadLetters beam.PCollection) {
	s = s.Scope("classify.Parse")
	return beam.ParDo2(s, &parseFn{DLQTopic: opts.DLQTopic, AllowedLatenessMs: opts.AllowedLateness.Milliseconds()}, msgs)
}

type parseFn struct {
	DLQTopic          string
	AllowedLatenessMs int64
}

func (fn *parseFn) ProcessElement(ctx context.Context, ts beam.EventTime, m pubsubio.Message, emit func(beam.EventTime, Item), dlq func(pubsubio.Outgoing)) {
	eventsIn.Inc(ctx, 1)
	ev, err := event.Unmarshal(m.Data)
	reason := ""
	switch {
	case err != nil:
		reason = string(event.CodeInvalidJSON)
	case !ev.Normalized():
		reason, err = ReasonNotNormalized, errString("no eventTime/receivedAt: not written by the collector")
	case !ev.Type.Valid():
		reason, err = string(event.CodeUnknownType), errString("unknown type "+string(ev.Type))
	case ev.UserKey() == "":
		reason, err = ReasonNoUser, errString("neither userId nor anonymousId")
	case ev.MessageID == "":
		reason, err = ReasonNoMessageID, errString("no messageId")
	case fn.AllowedLatenessMs > 0 && ev.ReceivedAt.Sub(ev.EventTime) > time.Duration(fn.AllowedLatenessMs)*time.Millisecond:
		reason, err = ReasonLate, errString("event time "+ev.EventTime.UTC().Format(time.RFC3339)+" is older than the allowed lateness at "+ev.ReceivedAt.UTC().Format(time.RFC3339))
	}
	if reason != "" {
		if reason == ReasonLate {
			lateDropped.Inc(ctx, 1)
		} else {
			deadLettered.Inc(ctx, 1)
		}
		deadLetterReason(reason).Inc(ctx, 1)
		dlq(fn.letter(reason, err, ev.MessageID, m))
		return
	}
	// The element keeps the source's timestamp (the event_time attribute),
	// which is the event time the collector computed.
	emit(ts, Item{
		MessageID:  ev.MessageID,
		User:       ev.UserKey(),
		Name:       ev.EventName(),
		Identify:   ev.Type == event.Identify,
		EventTime:  ev.EventTime,
		ReceivedAt: ev.ReceivedAt,
		Data:       m.Data,
	})
}

func (fn *parseFn) letter(reason string, err error, id string, m pubsubio.Message) pubsubio.Outgoing {
	if id == "" {
		id = m.Attributes[event.AttrMessageID]
	}
	dl := DeadLetter{Reason: reason, Error: err.Error(), Pipeline: "classify", MessageID: id, Attrs: m.Attributes, At: time.Now().UTC()}
	if utf8.Valid(m.Data) {
		dl.Payload = string(m.Data)
	} else {
		dl.PayloadBase64 = m.Data
	}
	b, _ := json.Marshal(dl) // strings and a time: cannot fail
	return pubsubio.Outgoing{Topic: fn.DLQTopic, Data: b, Attributes: map[string]string{"reason": reason, "pipeline": "classify"}}
}

type errString string

func (e errString) Error() string { return string(e) }
