package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// Normalize's JSON must decode to what Parse returns, on its one-pass path
// and on its fallbacks alike.
func TestNormalizeMatchesParseAndMarshal(t *testing.T) {
	batchCtx := recv
	batchCtx.Context = map[string]any{"library": map[string]any{"name": "analytics-node"}}
	cases := []struct {
		name string
		msg  string
		rcv  Received
	}{
		{"track", `{"type":"track","messageId":"m1","userId":"u1","event":"e","properties":{"a":1,"b":[true,null,{"c":"x:y"}],"q":"\"{:}\""},"context":{"os":{"name":"iOS"}},"timestamp":"2026-12-02T11:00:00Z","sentAt":"2026-12-02T11:00:05Z"}`, recv},
		{"identify, empty and null objects", `{"type":"identify","messageId":"m2","anonymousId":"a","traits":{"age":31,"name":"<Zoë & co>"},"properties":{},"context":null}`, recv},
		{"big number and spaces", "{ \"type\" : \"screen\", \"messageId\":\"m3\", \"userId\":\"u\", \"name\":\"home\", \"properties\" : { \"n\" : 12345678901234567890 } }", recv},
		{"batch context merged", `{"type":"track","messageId":"m4","userId":"u","event":"e","context":{"app":{"v":"1"}}}`, batchCtx},
		{"escaped strings", `{"type":"track","messageId":"m\u00e9\"6","userId":"u\n1","event":"e\/x","properties":{"k\"":"v"}}`, recv},
		{"line breaks between tokens", "{\"type\":\"track\",\"messageId\":\"m7\",\"userId\":\"u\",\"event\":\"e\",\"properties\":{\r\n \"a\": [1,\n2],\n\"b\":\"x\\ny\"\n},\"context\":{ }}", recv},
		{"numeric user id", `{"type":"track","messageId":"m5","userId":42,"event":"e"}`, recv},
	}
	for _, c := range cases {
		want, err := Parse([]byte(c.msg), "", c.rcv, Limits{})
		if err != nil {
			t.Fatalf("%s: Parse: %v", c.name, err)
		}
		ev, data, err := Normalize([]byte(c.msg), "", c.rcv, Limits{})
		if err != nil {
			t.Fatalf("%s: Normalize: %v", c.name, err)
		}
		got, err := Unmarshal(data)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		// Lake and failover files are NDJSON: one event, one line.
		if bytes.ContainsAny(data, "\r\n") {
			t.Fatalf("%s: line break in %q", c.name, data)
		}
		wantRound, _ := Marshal(&want)
		want, _ = Unmarshal(wantRound) // numbers as the wire gives them back
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\nNormalize %s\nMarshal   %s", c.name, data, wantRound)
		}
		if ev.MessageID != want.MessageID || !ev.EventTime.Equal(want.EventTime) || ev.Type != want.Type || ev.Event != want.Event {
			t.Fatalf("%s: event %+v", c.name, ev)
		}
	}
}

func TestNormalizeErrorsAreParseErrors(t *testing.T) {
	for _, msg := range []string{
		`{"type":"track","messageId":"m","userId":"u","event":"e","properties":{"a":1,"b":2,"c":{"d":1,"e":2}}}`,
		`{"type":"track","messageId":"m","userId":"u"}`,
		`{"type":"track","messageId":"m","userId":"u","event":"e","properties":{"a":tru}}`,
		`{"type":"track","messageId":"m","userId":"u","event":"e","context":{"a":1,}}`,
		`{"type":"track","messageId":"m","userId":"u","event":"e","properties":[1]}`,
		`{"type":"track","messageId":"m","userId":"u","event":"e","timestamp":"yesterday"}`,
		`{"type":"track","messageId":"` + strings.Repeat("m", 300) + `","userId":"u","event":"e"}`,
	} {
		_, perr := Parse([]byte(msg), "", recv, Limits{MaxProperties: 2})
		_, data, nerr := Normalize([]byte(msg), "", recv, Limits{MaxProperties: 2})
		var pv, nv *ValidationError
		if !errors.As(perr, &pv) || !errors.As(nerr, &nv) || !reflect.DeepEqual(pv, nv) || data != nil {
			t.Fatalf("%s:\nParse     %v\nNormalize %v", msg, perr, nerr)
		}
	}
}

func TestTopLevelKeys(t *testing.T) {
	for obj, want := range map[string]int{
		`{}`: 0, `{"a":1}`: 1, `{"a":{"b":1,"c":2},"d":[{"e":1}]}`: 2,
		`{"a:b":"c:d","e\":":"\\"}`: 2, ` { "a" : 1 , "b" : 2 } `: 2,
	} {
		if got := topLevelKeys([]byte(obj)); got != want {
			t.Errorf("topLevelKeys(%s) = %d, want %d", obj, got, want)
		}
	}
}

// objectKeys may skip counting only where the count cannot reach the limit.
func TestObjectKeys(t *testing.T) {
	for _, c := range []struct {
		obj       string
		lim, want int
	}{
		{`{}`, 2, 0}, {` { } `, 2, 0}, {`{"a":1}`, 2, 1}, {`{"a":1,"b":2}`, 512, 1},
		{`{"":0,"":0,"":0}`, 2, 3}, {`{"a":1,"b":2,"c":3}`, 2, 3}, {`{"a":{"b":1,"c":2,"d":3}}`, 2, 1},
	} {
		if got := objectKeys([]byte(c.obj), c.lim); got != c.want && !(got > 0 && c.want > 0 && c.want <= c.lim) {
			t.Errorf("objectKeys(%s, %d) = %d, want %d", c.obj, c.lim, got, c.want)
		}
	}
}

func BenchmarkNormalize(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchRaw)))
	for b.Loop() {
		if _, _, err := Normalize(benchRaw, "", recv, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzNormalize checks Normalize against Parse and Marshal on any input:
// the same refusals, and JSON that decodes to the same event.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		`{"type":"track","messageId":"m","userId":"u","event":"x","properties":{"a":[1,{"b":null}]},"context":{}}`,
		`{"type":"identify","messageId":"m","anonymousId":"a","traits":{"t":1e3,"u":"\u00e9\n"},"timestamp":"2026-01-01T00:00:00Z","sentAt":"2026-01-01T00:00:01.5+02:00"}`,
		`{"type":"group","messageId":7,"userId":12,"groupId":"g"}`,
		`{"type":"screen","name":"home","userId":"u","messageId":"m","properties":{"a":1,"a":2}}`,
		`{"Type":"track","MessageId":"m","USERID":"u","event":"x"}`,
		"\xff\xfe", `[]`, `null`, `{"type":null}`,
		"{\"type\":\"track\",\"messageId\":\"m\",\"userId\":\"u\",\"event\":\"x\"}\v", // not JSON whitespace
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want, perr := Parse(data, "", recv, Limits{})
		_, got, nerr := Normalize(data, "", recv, Limits{})
		if (perr == nil) != (nerr == nil) {
			t.Fatalf("Parse err %v, Normalize err %v", perr, nerr)
		}
		if perr != nil {
			return
		}
		wantJSON, err := Marshal(&want)
		if err != nil {
			t.Fatal(err)
		}
		a, err1 := Unmarshal(got)
		b, err2 := Unmarshal(wantJSON)
		if err1 != nil || err2 != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("Normalize %s\nMarshal   %s (%v %v)", got, wantJSON, err1, err2)
		}
	})
}

// FuzzDecodeBatch checks DecodeBatch (segmentio's decoder) against
// encoding/json: the same bodies refused, the same messages found.
func FuzzDecodeBatch(f *testing.F) {
	for _, s := range []string{
		`{"batch":[{"type":"track"},{"a":[1,2]}],"sentAt":"2026-01-01T00:00:00Z","writeKey":"k","context":{"x":1}}`,
		`{"batch":[]} `, `{"batch":null}`, `{"batch":[1]}x`, `{"Batch":[{}],"WRITEKEY":"k"}`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, gerr := DecodeBatch(data)
		var want Batch
		werr := json.Unmarshal(data, &want)
		if werr == nil && want.Batch == nil {
			werr = errors.New("no batch")
		}
		if !utf8.Valid(data) {
			werr = errors.New("not UTF-8")
		}
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("DecodeBatch err %v, encoding/json err %v", gerr, werr)
		}
		if gerr != nil {
			return
		}
		if len(got.Batch) != len(want.Batch) || got.WriteKey != want.WriteKey || !reflect.DeepEqual(got.Context, want.Context) {
			t.Fatalf("DecodeBatch %+v, encoding/json %+v", got, want)
		}
		for i := range got.Batch {
			var a, b any
			if json.Unmarshal(got.Batch[i], &a) != nil || json.Unmarshal(want.Batch[i], &b) != nil || !reflect.DeepEqual(a, b) {
				t.Fatalf("message %d: %s vs %s", i, got.Batch[i], want.Batch[i])
			}
		}
	})
}
