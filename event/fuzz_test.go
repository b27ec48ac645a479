package event

import (
	"errors"
	"testing"
)

// FuzzParse checks that no input panics the parser and that every refusal is
// a typed error with a code, which the collector turns into a reason.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"type":"track","messageId":"m","userId":"u","event":"x","properties":{"a":[1,{"b":null}]}}`,
		`{"type":"identify","messageId":"m","anonymousId":"a","traits":{"t":1},"timestamp":"2026-01-01T00:00:00Z","sentAt":"2026-01-01T00:00:01.5+02:00"}`,
		`{"type":"alias","messageId":"m","userId":"u","previousId":"p"}`,
		`{"type":"group","messageId":7,"userId":12,"groupId":"g"}`,
		`{"batch":[{"type":"page"}],"sentAt":"x"}`,
		`{"type":"screen","name":"home","userId":"u","messageId":"m","originalTimestamp":"2026-01-01"}`,
		"\xff\xfe", `[]`, `null`, `""`, `{"type":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Parse(data, "", recv, Limits{})
		if err != nil {
			var verr *ValidationError
			if !errors.As(err, &verr) || verr.Code() == "" {
				t.Fatalf("untyped error %T %v", err, err)
			}
			return
		}
		if e.MessageID == "" || e.UserKey() == "" || !e.Type.Valid() || e.EventTime.IsZero() {
			t.Fatalf("accepted an invalid event: %+v", e)
		}
		if _, err := Marshal(&e); err != nil {
			t.Fatalf("accepted event does not marshal: %v", err)
		}
		if b, err := DecodeBatch(data); err == nil {
			_ = b.SentAtTime()
		}
	})
}
