package rules

import (
	"fmt"
	"reflect"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"

	"github.com/segmentflow/segmentflow/event"
)

// celEvent is what a rule sees as `event`. Its json tags are the CEL field
// names, so `event.user_id` type-checks and `event.userid` does not.
type celEvent struct {
	// Name is the track call's event name, or the message type of any
	// other call (event.Event.EventName), so identify/page/screen can be
	// matched by name too.
	Name        string         `json:"name"`
	Type        string         `json:"type"`
	UserID      string         `json:"user_id"`
	AnonymousID string         `json:"anonymous_id"`
	MessageID   string         `json:"message_id"`
	Source      string         `json:"source"`
	Properties  map[string]any `json:"properties"`
	Context     map[string]any `json:"context"`
	Traits      map[string]any `json:"traits"`
	// Timestamp is the device's event time as sent; EventTime is the
	// skew-corrected time the platform orders by.
	Timestamp  time.Time `json:"timestamp"`
	EventTime  time.Time `json:"event_time"`
	ReceivedAt time.Time `json:"received_at"`
}

func newCELEvent(e *event.Event) *celEvent {
	ce := &celEvent{
		Name:        e.EventName(),
		Type:        string(e.Type),
		UserID:      e.UserID,
		AnonymousID: e.AnonymousID,
		MessageID:   e.MessageID,
		Source:      e.Source,
		Properties:  e.Properties,
		Context:     e.Context,
		Traits:      e.Traits,
		Timestamp:   e.Timestamp,
		EventTime:   eventTime(e),
		ReceivedAt:  e.ReceivedAt,
	}
	// Empty maps rather than nil so `"k" in event.properties` is false, not an error.
	if ce.Properties == nil {
		ce.Properties = map[string]any{}
	}
	if ce.Context == nil {
		ce.Context = map[string]any{}
	}
	if ce.Traits == nil {
		ce.Traits = map[string]any{}
	}
	if ce.Timestamp.IsZero() {
		ce.Timestamp = ce.EventTime
	}
	return ce
}

// eventTime is the time a match is stamped with: the corrected event time,
// falling back to what the event carries when it was not normalized.
func eventTime(e *event.Event) time.Time {
	switch {
	case !e.EventTime.IsZero():
		return e.EventTime
	case !e.Timestamp.IsZero():
		return e.Timestamp
	case !e.OriginalTimestamp.IsZero():
		return e.OriginalTimestamp
	default:
		return e.ReceivedAt
	}
}

// Variable names and CEL type names of the rule environment.
const (
	varEvent = "event"
	varUser  = "user"
	varNow   = "now"
)

// NewEnv returns the CEL environment rules are checked and run in. It is
// exported so tools (the console's autocompletion, the rules API's dry run)
// see exactly what Compile sees.
func NewEnv() (*cel.Env, error) {
	env, err := cel.NewEnv(
		ext.NativeTypes(
			reflect.TypeFor[celEvent](),
			reflect.TypeFor[User](),
			ext.ParseStructTag("json"),
		),
		cel.Variable(varEvent, cel.ObjectType("rules.celEvent")),
		cel.Variable(varUser, cel.ObjectType("rules.User")),
		cel.Variable(varNow, cel.TimestampType),
		ext.Strings(),
		ext.Lists(),
		ext.Sets(),
		cel.CrossTypeNumericComparisons(true),
		cel.OptionalTypes(),
		projectFunctions(),
	)
	if err != nil {
		return nil, fmt.Errorf("rules: cel environment: %w", err)
	}
	return env, nil
}

// typeName is the CEL name of a native type, for messages.
func typeName(t *types.Type) string {
	switch t.TypeName() {
	case "rules.celEvent":
		return "event"
	case "rules.User":
		return "user"
	}
	return t.String()
}
