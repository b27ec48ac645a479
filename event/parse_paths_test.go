package event

import (
	"errors"
	"reflect"
	"testing"
)

// Parse decodes a well-formed message in one pass and falls back to a
// field-by-field decode otherwise; both must give the same event.
func TestParseOnePassMatchesFieldByField(t *testing.T) {
	msgs := []string{
		`{"type":"track","messageId":"m1","userId":"u1","event":"e","properties":{"a":1,"b":[true,null]},"context":{"os":{"name":"iOS"}},"timestamp":"2026-12-02T11:00:00Z","sentAt":"2026-12-02T11:00:05Z"}`,
		`{"type":"identify","messageId":"m2","anonymousId":"a","traits":{"age":31},"originalTimestamp":"2026-12-02T11:00:00.5Z","userId":null,"properties":null}`,
		`{"type":"alias","messageId":"m3","userId":"u","previousId":"p","timestamp":""}`,
	}
	for _, m := range msgs {
		got, err := Parse([]byte(m), "", recv, Limits{})
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		verr := &ValidationError{}
		typ, want, err := parseFields(verr, []byte(m))
		if err != nil || verr.errOrNil() != nil {
			t.Fatalf("field by field %s: %v %v", m, err, verr)
		}
		// Compare the decoded fields; enrichment is Parse's alone.
		want.Type, want.ReceivedAt, want.EventTime, want.Source, want.Collector = typ, got.ReceivedAt, got.EventTime, got.Source, got.Collector
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\none pass       %+v\nfield by field %+v", m, got, want)
		}
	}
}

// A numeric user id is not a string, so it takes the field-by-field path,
// which accepts it as its decimal text.
func TestParseNumericUserID(t *testing.T) {
	e, err := Parse([]byte(`{"type":"track","messageId":"m","userId":12345,"event":"e"}`), "", recv, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if e.UserID != "12345" {
		t.Fatalf("userId %q", e.UserID)
	}
}

func TestParseTooManyProperties(t *testing.T) {
	_, err := Parse([]byte(`{"type":"track","messageId":"m","userId":"u","event":"e","properties":{"a":1,"b":2,"c":3}}`), "", recv, Limits{MaxProperties: 2})
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Errors) != 1 || ve.Errors[0].Field != "properties" || ve.Errors[0].Code != CodeTooLarge {
		t.Fatalf("err %v", err)
	}
}
