package transforms

import (
	"reflect"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*Item)(nil)).Elem())
}

// Item is one valid event on its way through classification. The event
// itself travels as the normalized JSON the collector published: its
// properties and traits are free-form maps, which Beam's schema coder cannot
// encode, and decoding it again where it is needed is cheap.
type Item struct {
	MessageID string
	// User is the key of the user's state (event.UserKey).
	User string
	// Name is the name rules match on (event.EventName).
	Name       string
	Identify   bool
	EventTime  time.Time
	ReceivedAt time.Time
	Data       []byte
	// UserRow is the user's `users` row (rules.User as JSON) as the join read
	// it; empty for a user without a row and for events the join skipped.
	UserRow []byte
}
