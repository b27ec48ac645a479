package event

import (
	"testing"
)

var benchRaw = []byte(`{"type":"track","messageId":"6f1c2d3e-8a9b-4c5d-9e0f-112233445566","userId":"user-000123",
 "anonymousId":"anon-9f8e7d","event":"user-watched-ad","properties":{"ad_id":"ad-42","placement":"level-end","seconds":30,"reward":true},
 "context":{"os":{"name":"Android","version":"14"},"app":{"version":"3.2.1"},"device":{"model":"Pixel 8"},"locale":"en-US"},
 "timestamp":"2026-12-02T11:59:50.123Z","sentAt":"2026-12-02T11:59:55.000Z"}`)

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchRaw)))
	for b.Loop() {
		if _, err := Parse(benchRaw, "", recv, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshal(b *testing.B) {
	e, err := Parse(benchRaw, "", recv, Limits{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(&e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	e, _ := Parse(benchRaw, "", recv, Limits{})
	data, _ := Marshal(&e)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Unmarshal(data); err != nil {
			b.Fatal(err)
		}
	}
}
