package partner

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentflow/segmentflow/emulators/emulatortest"
	"github.com/segmentflow/segmentflow/rules"
)

func change(user string, v int64) rules.Change {
	return rules.Change{UserID: user, Segments: []string{"a"}, Added: []string{"a"}, Removed: []string{},
		EventTime: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Version: v}
}

func TestSignVerify(t *testing.T) {
	key, body := []byte("k3y"), []byte(`{"user_id":"u1"}`)
	sig := Sign(key, body)
	if !strings.HasPrefix(sig, "sha256=") || len(sig) != len("sha256=")+64 {
		t.Fatalf("signature %q: want sha256=<64 hex>", sig)
	}
	if !Verify(key, body, sig) {
		t.Fatal("own signature does not verify")
	}
	for _, bad := range []struct{ key, body, sig string }{
		{"other", string(body), sig},
		{string(key), `{"user_id":"u2"}`, sig},
		{string(key), string(body), strings.TrimPrefix(sig, "sha256=")},
		{string(key), string(body), "sha256=zz"},
	} {
		if Verify([]byte(bad.key), []byte(bad.body), bad.sig) {
			t.Errorf("Verify(%q, %q, %q) = true, want false", bad.key, bad.body, bad.sig)
		}
	}
}

func TestClassify(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		status    int
		header    string
		retryable bool
		after     time.Duration
	}{
		{400, "", false, 0},
		{401, "", false, 0},
		{404, "", false, 0},
		{408, "", true, 0},
		{429, "3", true, 3 * time.Second},
		{429, now.Add(5 * time.Second).Format(http.TimeFormat), true, 5 * time.Second},
		{429, "soon", true, 0},
		{500, "", true, 0},
		{503, "1", true, time.Second},
		{301, "", false, 0},
	} {
		e := classify(c.status, c.header, "body", now)
		if e.Retryable != c.retryable || e.RetryAfter != c.after || e.Status != c.status {
			t.Errorf("classify(%d, %q) = %+v, want retryable %v after %v", c.status, c.header, e, c.retryable, c.after)
		}
	}
}

// partnerServer is a real HTTP partner that verifies signatures and answers
// with the statuses of script in turn (200 when it runs out).
type partnerServer struct {
	*httptest.Server
	key      []byte
	mu       sync.Mutex
	script   []int
	header   http.Header
	got      [][]rules.Change
	times    []time.Time
	badSig   atomic.Int32
	requests atomic.Int32
}

func newPartnerServer(t *testing.T, key string, script ...int) *partnerServer {
	p := &partnerServer{key: []byte(key), script: script}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		body, _ := io.ReadAll(r.Body)
		if !Verify(p.key, body, r.Header.Get(SignatureHeader)) {
			p.badSig.Add(1)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		p.header = r.Header.Clone()
		p.times = append(p.times, time.Now())
		status := 200
		if len(p.script) > 0 {
			status, p.script = p.script[0], p.script[1:]
		}
		if status == 429 {
			w.Header().Set("Retry-After", "1")
		}
		if status != 200 {
			http.Error(w, "scripted "+http.StatusText(status), status)
			return
		}
		var batch []rules.Change
		if strings.HasPrefix(strings.TrimSpace(string(body)), "[") {
			_ = json.Unmarshal(body, &batch)
		} else {
			var c rules.Change
			_ = json.Unmarshal(body, &c)
			batch = []rules.Change{c}
		}
		p.got = append(p.got, batch)
	}))
	t.Cleanup(p.Close)
	return p
}

func TestHTTPSinkArrayAndSingle(t *testing.T) {
	ctx := context.Background()
	srv := newPartnerServer(t, "secret")
	for _, array := range []bool{true, false} {
		s, err := NewHTTP(HTTPConfig{Endpoint: srv.URL, Key: []byte("secret"), Array: array,
			Headers: map[string]string{"Authorization": "Bearer t"}, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.WriteBatch(ctx, []rules.Change{change("u1", 1), change("u2", 1)}); err != nil {
			t.Fatalf("array=%v: %v", array, err)
		}
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.got) != 3 || len(srv.got[0]) != 2 || len(srv.got[1]) != 1 || len(srv.got[2]) != 1 {
		t.Fatalf("requests: %v, want one array of 2 then two single changes", srv.got)
	}
	if srv.got[2][0].UserID != "u2" {
		t.Errorf("single mode second request: %+v", srv.got[2])
	}
	if srv.header.Get("Authorization") != "Bearer t" || srv.header.Get(DeliveryHeader) == "" {
		t.Errorf("headers: %v", srv.header)
	}
	if srv.badSig.Load() != 0 {
		t.Errorf("%d bad signatures", srv.badSig.Load())
	}
}

func TestHTTPSinkErrors(t *testing.T) {
	ctx := context.Background()
	srv := newPartnerServer(t, "secret", 400)
	s, _ := NewHTTP(HTTPConfig{Endpoint: srv.URL, Key: []byte("secret"), Array: true})
	err := s.WriteBatch(ctx, []rules.Change{change("u1", 1)})
	var pe *Error
	if !errors.As(err, &pe) || pe.Status != 400 || pe.Retryable || !strings.Contains(pe.Body, "scripted") {
		t.Fatalf("400: got %v (%+v)", err, pe)
	}
	// Wrong key: the partner refuses with 401, which is not retried.
	bad, _ := NewHTTP(HTTPConfig{Endpoint: srv.URL, Key: []byte("wrong"), Array: true})
	if err := bad.WriteBatch(ctx, []rules.Change{change("u1", 1)}); !errors.As(err, &pe) || pe.Status != 401 {
		t.Fatalf("wrong key: got %v", err)
	}
	// A hanging partner times out and is retryable.
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer hang.Close()
	defer close(release)
	hs, _ := NewHTTP(HTTPConfig{Endpoint: hang.URL, Timeout: 100 * time.Millisecond, Array: true})
	start := time.Now()
	err = hs.WriteBatch(ctx, []rules.Change{change("u1", 1)})
	if !IsRetryable(err) || time.Since(start) > 2*time.Second {
		t.Fatalf("hanging partner: %v after %v, want retryable timeout", err, time.Since(start))
	}
	if _, err := NewHTTP(HTTPConfig{Endpoint: "ftp://x"}); err == nil {
		t.Error("ftp endpoint accepted")
	}
}

func TestDeliverRetriesAndHonoursRetryAfter(t *testing.T) {
	ctx := context.Background()
	srv := newPartnerServer(t, "k", 503, 429)
	s, _ := NewHTTP(HTTPConfig{Endpoint: srv.URL, Key: []byte("k"), Array: true})
	pol := RetryPolicy{InitialInterval: 10 * time.Millisecond, MaxInterval: 50 * time.Millisecond, MaxElapsed: 10 * time.Second}
	retries := 0
	out := Deliver(ctx, pol, []rules.Change{change("u1", 1)}, s.WriteBatch, func(int, time.Duration, error) { retries++ })
	if out[0].Err != nil || out[0].Attempts != 3 || retries != 2 {
		t.Fatalf("outcome %+v after %d retries, want success on attempt 3", out[0], retries)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	// The 429 asked for 1 s: the third request must not come sooner.
	if gap := srv.times[2].Sub(srv.times[1]); gap < 950*time.Millisecond {
		t.Fatalf("retry after 429 came %v later, want >= 1s (Retry-After)", gap)
	}
}

func TestDeliverBudgetAndRefusal(t *testing.T) {
	ctx := context.Background()
	srv := newPartnerServer(t, "k", 500, 500, 500, 500, 500, 500, 500, 500)
	s, _ := NewHTTP(HTTPConfig{Endpoint: srv.URL, Key: []byte("k"), Array: true})
	out := Deliver(ctx, RetryPolicy{InitialInterval: time.Millisecond, MaxAttempts: 3}, []rules.Change{change("u1", 1)}, s.WriteBatch, nil)
	if out[0].Err == nil || !out[0].Exhausted || out[0].Attempts != 3 {
		t.Fatalf("outcome %+v, want exhausted after 3 attempts", out[0])
	}
	refuse := newPartnerServer(t, "k", 422)
	s2, _ := NewHTTP(HTTPConfig{Endpoint: refuse.URL, Key: []byte("k"), Array: true})
	out = Deliver(ctx, RetryPolicy{InitialInterval: time.Millisecond}, []rules.Change{change("u1", 1)}, s2.WriteBatch, nil)
	if out[0].Err == nil || out[0].Exhausted || out[0].Attempts != 1 {
		t.Fatalf("422 outcome %+v, want refused at once", out[0])
	}
}

func TestFileDropLocal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, format := range []string{FormatNDJSON, FormatCSV} {
		f, err := NewFileDrop(FileDropConfig{Partner: "dmp", URL: dir, Format: format})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		batch := []rules.Change{change("u2", 3), change("u1", 1)}
		for range 2 { // a retried batch rewrites the same file
			if err := f.WriteBatch(ctx, batch); err != nil {
				t.Fatal(err)
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "dmp", "2026", "03", "01", "segments-*"))
	if len(files) != 2 {
		t.Fatalf("files %v, want one ndjson and one csv", files)
	}
	for _, p := range files {
		b, _ := os.ReadFile(p)
		switch filepath.Ext(p) {
		case ".csv":
			if string(b) != "user_id,segments,version\nu1,a,1\nu2,a,3\n" {
				t.Errorf("csv:\n%s", b)
			}
		case ".ndjson":
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			var r FileRow
			if len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &r) != nil || r.UserID != "u1" || r.Version != 1 {
				t.Errorf("ndjson:\n%s", b)
			}
		}
	}
}

func TestFileDropAndDeadLettersOnGCS(t *testing.T) {
	ctx := context.Background()
	g := emulatortest.GCS(t, "")
	client := emulatortest.StorageClient(t, g)
	if err := client.Bucket("lake").Create(ctx, "local", nil); err != nil {
		t.Fatal(err)
	}
	f, err := NewFileDrop(FileDropConfig{Partner: "dmp", URL: "gs://lake/drops", GCS: client})
	if err != nil {
		t.Fatal(err)
	}
	batch := []rules.Change{change("u1", 1)}
	for range 2 {
		if err := f.WriteBatch(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	data, _ := f.encode(batch)
	name := f.ObjectName(batch, data)
	if !strings.HasPrefix(name, "drops/dmp/2026/03/01/segments-20260301T120000Z-") {
		t.Fatalf("object name %q", name)
	}
	r, err := client.Bucket("lake").Object(name).NewReader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if string(got) != string(data) {
		t.Fatalf("object content %q, want %q", got, data)
	}

	dl := NewDeadLetters(client, "lake", "deadletter/", "dsp-a")
	o := Outcome{Err: &Error{Status: 400, Body: "no such segment"}, Attempts: 1}
	n1, err := dl.Put(ctx, NewLetter("dsp-a", batch, o))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(n1, "deadletter/dsp-a/") {
		t.Fatalf("letter name %q", n1)
	}
	names, err := dl.List(ctx)
	if err != nil || len(names) != 1 {
		t.Fatalf("list: %v %v", names, err)
	}
	l, err := dl.Get(ctx, names[0])
	if err != nil || l.Reason != ReasonRejected || l.Status != 400 || l.ResponseBody != "no such segment" || len(l.Changes) != 1 {
		t.Fatalf("letter %+v, %v", l, err)
	}
	if err := dl.Delete(ctx, names[0]); err != nil {
		t.Fatal(err)
	}
	if names, _ := dl.List(ctx); len(names) != 0 {
		t.Fatalf("after delete: %v", names)
	}
}
