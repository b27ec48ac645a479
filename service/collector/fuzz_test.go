package collector_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

var fuzzPaths = []string{"/v1/batch", "/v1/track", "/v1/identify", "/v1/page", "/v1/screen", "/v1/alias", "/v1/group", "/v1/b"}

// FuzzHandler drives the real handler (real pstest and fake-gcs-server
// behind it) with arbitrary bodies: it must never panic and must always
// answer a documented status with a JSON body.
func FuzzHandler(f *testing.F) {
	for _, seed := range []string{
		`{"batch":[{"type":"track","messageId":"1","userId":"u","event":"user-watched-ad"}]}`,
		`{"batch":[{"type":"track"},{"type":"identify","messageId":"2","anonymousId":"a","traits":{"x":1}}],"sentAt":"2026-01-01T00:00:00Z"}`,
		`{"writeKey":"key-ios","messageId":"3","userId":7,"event":"e","timestamp":"2026-13-45"}`,
		`{"batch":null}`, `{"batch":[null,1,"x",[]]}`, `[]`, `{`, "\xff\xfe", ``,
		`{"messageId":"4","userId":"u","previousId":"p","groupId":"g","name":"n","properties":[],"context":"c"}`,
	} {
		for i := range 3 {
			f.Add(uint8(i), i != 1, i == 2, []byte(seed))
		}
	}
	s := startStack(f, nil)
	h := s.col.Handler()
	allowed := map[int]bool{200: true, 400: true, 401: true, 413: true, 415: true, 429: true, 503: true}
	f.Fuzz(func(t *testing.T, path uint8, basic, gz bool, body []byte) {
		payload := body
		if gz {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(body)
			zw.Close()
			payload = buf.Bytes()
		}
		req := httptest.NewRequest(http.MethodPost, fuzzPaths[int(path)%len(fuzzPaths)], bytes.NewReader(payload))
		if basic {
			req.SetBasicAuth("key-ios", "")
		}
		if gz {
			req.Header.Set("Content-Encoding", "gzip")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !allowed[rec.Code] {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body.Bytes())
		}
		var reply map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &reply); err != nil {
			t.Fatalf("status %d body is not JSON: %v: %q", rec.Code, err, rec.Body.Bytes())
		}
		if _, ok := reply["success"].(bool); !ok {
			t.Fatalf("reply without success: %s", rec.Body.Bytes())
		}
		if rec.Code == 200 && reply["success"] != true && reply["accepted"] == nil {
			t.Fatalf("200 that is neither success nor partial: %s", rec.Body.Bytes())
		}
	})
}
