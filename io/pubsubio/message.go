package pubsubio

import (
	"reflect"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/segmentflow/segmentflow/event"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*Message)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*Outgoing)(nil)).Elem())
}

// Message is one message read from a subscription. Its element timestamp in
// the pipeline is EventTime(m).
type Message struct {
	// ID is the server-assigned message id.
	ID         string
	Data       []byte
	Attributes map[string]string
	// PublishTime is when the Pub/Sub service accepted the message.
	PublishTime time.Time
}

// TimestampAttribute is the attribute that carries a message's event time
// (RFC 3339); the collector sets it on every event.
const TimestampAttribute = event.AttrEventTime

// EventTime is the event time of a message: its event_time attribute when
// present and parseable, else its publish time.
func EventTime(m Message) time.Time {
	if s, ok := m.Attributes[TimestampAttribute]; ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t
		}
	}
	return m.PublishTime
}

func fromProto(id string, pm *pubsubpb.PubsubMessage) Message {
	m := Message{ID: id, Data: pm.GetData(), Attributes: pm.GetAttributes()}
	if m.ID == "" {
		m.ID = pm.GetMessageId()
	}
	if pt := pm.GetPublishTime(); pt != nil {
		m.PublishTime = pt.AsTime()
	}
	return m
}

// Outgoing is one message for Publish: the topic id (not the full path; the
// project comes from the sink's options) and the message itself.
type Outgoing struct {
	Topic      string
	Data       []byte
	Attributes map[string]string
}
