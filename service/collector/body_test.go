package collector

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// sdkBatch is a /v1/batch body of n events shaped like an SDK's (about
// 680 bytes each, most of it context).
func sdkBatch(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"batch":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":"track","event":"user-watched-ad","userId":"player-004211","anonymousId":"anon-%08x","messageId":"bench-%d-%08x",`+
			`"timestamp":"2026-12-02T12:00:%02d.123456Z","properties":{"ad_id":"ad-0042","placement":"interstitial","level":%d,"card":"card-117","duration":12.345678},`+
			`"context":{"library":{"name":"analytics-ios","version":"4.1.8"},"app":{"name":"Card Quest","version":"3.12.0","build":"3120"},`+
			`"device":{"manufacturer":"Apple","model":"iPhone14,5","type":"ios","id":"dev-%08x"},"os":{"name":"iOS","version":"17.4.1"},`+
			`"network":{"wifi":true,"carrier":"T-Mobile"},"locale":"en-US","timezone":"America/New_York","screen":{"width":390,"height":844}}}`,
			i*7919, i, i*104729, i%60, i%120, i*31)
	}
	b.WriteString(`],"sentAt":"2026-12-02T12:01:00Z"}`)
	return []byte(b.String())
}

func gzipped(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func bodyRequest(body []byte, enc string, contentLength bool) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/v1/batch", bytes.NewReader(body))
	if !contentLength {
		r.ContentLength = -1
	}
	if enc != "" {
		r.Header.Set("Content-Encoding", enc)
	}
	return r
}

// readBody must give back the body whatever the Content-Length says
// (absent, exact) and refuse anything over the limit on the wire or
// once gunzipped, at the limit's exact edge.
func TestReadBodyLimits(t *testing.T) {
	body := sdkBatch(20)
	zbody := gzipped(t, body)
	for _, tc := range []struct {
		name   string
		body   []byte
		enc    string
		cl     bool
		limit  int64
		want   []byte
		tooBig bool
	}{
		{"identity with length", body, "", true, int64(len(body)), body, false},
		{"identity chunked", body, "", false, int64(len(body)), body, false},
		{"identity one over", body, "", true, int64(len(body)) - 1, nil, true},
		{"identity chunked one over", body, "", false, int64(len(body)) - 1, nil, true},
		{"gzip", zbody, "gzip", true, int64(len(body)), body, false},
		{"gzip chunked", zbody, "x-gzip", false, int64(len(body)), body, false},
		{"gzip inflates one over", zbody, "gzip", true, int64(len(body)) - 1, nil, true},
		{"empty", nil, "", true, 10, []byte{}, false},
		{"over the preallocation", bytes.Repeat(body, 8), "", true, 500_000, bytes.Repeat(body, 8), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readBody(httptest.NewRecorder(), bodyRequest(tc.body, tc.enc, tc.cl), tc.limit)
			if tc.tooBig {
				if err != errTooLarge {
					t.Fatalf("err %v, want errTooLarge", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("got %d bytes, want %d", len(got), len(tc.want))
			}
		})
	}
}

// BenchmarkReadBody reads a 20-event SDK batch as it comes: plain with a
// Content-Length (what the bench sends) or gzip (what the mobile SDKs send).
func BenchmarkReadBody(b *testing.B) {
	body := sdkBatch(20)
	for name, in := range map[string]struct {
		body []byte
		enc  string
	}{"identity": {body, ""}, "gzip": {gzipped(b, body), "gzip"}} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			w := httptest.NewRecorder()
			for b.Loop() {
				if _, err := readBody(w, bodyRequest(in.body, in.enc, true), 500_000); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The success reply is written from a constant; it must stay what the
// encoder writes for reply{Success: true}.
func TestOKReplyIsTheEncodedReply(t *testing.T) {
	var want bytes.Buffer
	if err := json.NewEncoder(&want).Encode(reply{Success: true}); err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	writeOK(w)
	if got := w.Body.String(); got != want.String() || w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("writeOK: %d %q %q, want 200 %q application/json", w.Code, got, w.Header().Get("Content-Type"), want.String())
	}
}

// Whatever is wrong with a gzip body, it is a 400 (errBadGzip), never an
// error of the connection (errReadInterupt) nor a panic.
func TestReadBodyBadGzip(t *testing.T) {
	z := gzipped(t, sdkBatch(20))
	corrupt := bytes.Clone(z)
	for i := 20; i < len(corrupt)-8; i += 7 {
		corrupt[i] ^= 0x5a
	}
	badCRC := bytes.Clone(z)
	badCRC[len(badCRC)-8] ^= 0xff
	for name, body := range map[string][]byte{
		"not gzip":      []byte(`{"batch":[]}`),
		"header only":   z[:10],
		"truncated":     z[:len(z)/2],
		"no trailer":    z[:len(z)-8],
		"corrupt data":  corrupt,
		"bad checksum":  badCRC,
		"trailing junk": append(bytes.Clone(z), "junk after the stream"...),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := readBody(httptest.NewRecorder(), bodyRequest(body, "gzip", true), 500_000)
			if !errors.Is(err, errBadGzip) {
				t.Fatalf("err %v, want errBadGzip", err)
			}
		})
	}
}
