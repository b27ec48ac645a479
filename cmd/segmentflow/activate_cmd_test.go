package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"

	"github.com/segmentflow/segmentflow/emulators"
	"github.com/segmentflow/segmentflow/emulators/emulatortest"
	"github.com/segmentflow/segmentflow/infra"
	"github.com/segmentflow/segmentflow/io/partner"
	"github.com/segmentflow/segmentflow/rules"
)

// partnerServer is a partner endpoint that checks signatures and records
// the changes it accepted; status decides its answer.
type partnerServer struct {
	*httptest.Server
	key    []byte
	status atomic.Int32
	badSig atomic.Int32
	mu     sync.Mutex
	got    []rules.Change
}

func newPartnerServer(t *testing.T, key string, status int) *partnerServer {
	p := &partnerServer{key: []byte(key)}
	p.status.Store(int32(status))
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !partner.Verify(p.key, body, r.Header.Get(partner.SignatureHeader)) {
			p.badSig.Add(1)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if s := int(p.status.Load()); s != http.StatusOK {
			http.Error(w, "refused", s)
			return
		}
		var batch []rules.Change
		if err := json.Unmarshal(body, &batch); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		p.mu.Lock()
		p.got = append(p.got, batch...)
		p.mu.Unlock()
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *partnerServer) users() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, c := range p.got {
		out = append(out, c.UserID)
	}
	return out
}

// waitFor polls cond; the bound only stops a broken run from hanging.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestActivateCommand runs `segmentflow activate` through realMain with a
// rule set file and a deployment config: a healthy partner receives its
// change signed with its key, a partner answering 400 has the change in its
// dead-letter store; the service endpoints answer; SIGINT stops it with
// status 0. Then `activate redrive` delivers the dead letter once the
// partner accepts, and the store is empty.
func TestActivateCommand(t *testing.T) {
	ctx := context.Background()
	ps := emulatortest.PubSub(t)
	g := emulatortest.GCS(t, "")
	n := infra.Default()
	emulatortest.Provision(t, emulators.Config{Project: "p", Names: n, Partners: []string{"dsp-a", "dmp-b"}}, ps, nil, g)
	psc := emulatortest.PubSubClient(t, ps, "p")
	gc := emulatortest.StorageClient(t, g)

	a := newPartnerServer(t, "key-a", http.StatusOK)
	b := newPartnerServer(t, "key-b", http.StatusBadRequest)
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yaml")
	doc := fmt.Sprintf(`segments: [{id: gamer}]
rules:
  - {id: r, segment: gamer, when: 'true'}
partners:
  - {id: dsp-a, segments: [gamer], endpoint: %q}
  - {id: dmp-b, segments: [gamer], endpoint: %q}
`, a.URL+"/segments", b.URL+"/audiences")
	configFile := filepath.Join(dir, "activate.yaml")
	cfg := `defaults: {batch_wait: 20ms, timeout: 2s}
partners:
  dsp-a: {hmac_key: key-a}
  dmp-b: {hmac_key_env: SEGMENTFLOW_TEST_KEY_B}
`
	for f, body := range map[string]string{rulesFile: doc, configFile: cfg} {
		if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("SEGMENTFLOW_TEST_KEY_B", "key-b")
	common := []string{"--project", "p", "--pubsub-endpoint", ps.Addr, "--gcs-endpoint", g.URL, "--rules", rulesFile, "--config", configFile}

	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- realMain(append([]string{"activate", "--addr", "127.0.0.1:0"}, common...), pw, &stderr)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no startup line: %v (exit %d, stderr %s)", err, <-done, stderr.String())
	}
	go io.Copy(io.Discard, pr)
	base := regexp.MustCompile(`http://\S+/`).FindString(line)
	if base == "" || !strings.Contains(line, "dsp-a, dmp-b") {
		t.Fatalf("startup line %q", line)
	}

	publish := func(partnerID, user string) {
		c, _ := json.Marshal(rules.Change{UserID: user, Segments: []string{"gamer"}, Added: []string{"gamer"}, Removed: []string{}, EventTime: time.Now().UTC(), Version: 1})
		pub := psc.Publisher(n.ActivationTopic(partnerID))
		defer pub.Stop()
		if _, err := pub.Publish(ctx, &pubsub.Message{Data: c}).Get(ctx); err != nil {
			t.Fatal(err)
		}
	}
	publish("dsp-a", "u-a")
	publish("dmp-b", "u-b")

	dl := partner.NewDeadLetters(gc, n.Buckets.Lake, n.LakePrefixes.Deadletter, "dmp-b")
	waitFor(t, "dsp-a's delivery", func() bool { return len(a.users()) == 1 })
	waitFor(t, "dmp-b's dead letter", func() bool { l, err := dl.List(ctx); return err == nil && len(l) == 1 })
	if got := a.users(); got[0] != "u-a" || a.badSig.Load() != 0 || b.badSig.Load() != 0 {
		t.Fatalf("dsp-a got %v; bad signatures a=%d b=%d", got, a.badSig.Load(), b.badSig.Load())
	}

	get := func(path string) (int, string) {
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	if code, _ := get("healthz"); code != http.StatusOK {
		t.Fatalf("healthz %d", code)
	}
	if code, body := get("readyz"); code != http.StatusOK || !strings.Contains(body, `"ready"`) {
		t.Fatalf("readyz %d %s", code, body)
	}
	_, metrics := get("metrics")
	for _, want := range []string{`segmentflow_activate_delivered_total{partner="dsp-a"} 1`, `segmentflow_activate_dead_lettered_total{partner="dmp-b"`} {
		if !strings.Contains(metrics, want) {
			t.Fatalf("metrics lack %s:\n%s", want, metrics)
		}
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("activate exit %d: %s", code, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("activate did not stop on SIGINT")
	}

	// Still refused: the letter stays and redrive says so with status 1.
	var out bytes.Buffer
	if code := realMain(append([]string{"activate", "redrive", "--partner", "dmp-b"}, common...), &out, io.Discard); code != 1 || !strings.Contains(out.String(), "1 refused again") {
		t.Fatalf("redrive while refused: exit %d, %q", code, out.String())
	}
	b.status.Store(http.StatusOK)
	out.Reset()
	if code := realMain(append([]string{"activate", "redrive", "--partner", "dmp-b"}, common...), &out, &stderr); code != 0 || !strings.Contains(out.String(), "1 changes delivered") {
		t.Fatalf("redrive: exit %d, %q %s", code, out.String(), stderr.String())
	}
	if got := b.users(); len(got) != 1 || got[0] != "u-b" {
		t.Fatalf("dmp-b got %v after redrive", got)
	}
	if l, err := dl.List(ctx); err != nil || len(l) != 0 {
		t.Fatalf("dead letters after redrive: %v %v", l, err)
	}
	if code := realMain([]string{"activate", "redrive"}, io.Discard, io.Discard); code != 2 {
		t.Fatalf("redrive without --partner: exit %d, want 2", code)
	}
}
