package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/segmentflow/segmentflow/emulators"
	"github.com/segmentflow/segmentflow/emulators/emulatortest"
	"github.com/segmentflow/segmentflow/infra"
	"github.com/segmentflow/segmentflow/io/bigtablestore"
	"github.com/segmentflow/segmentflow/io/rulestore"
	"github.com/segmentflow/segmentflow/rules"
)

// TestProfilesCommand runs `segmentflow profiles` against the Bigtable and
// GCS emulators: it serves a stored profile with the published rule set's
// ttl applied, 404s an unknown user, and stops when its context ends.
func TestProfilesCommand(t *testing.T) {
	ctx := context.Background()
	n := infra.Default()
	bt := emulatortest.Bigtable(t)
	g := emulatortest.GCS(t, "")
	emulatortest.Provision(t, emulators.Config{Project: "p", Instance: "i", Names: n}, nil, bt, g)
	btc := emulatortest.BigtableClient(t, bt, "p", "i")
	gc := emulatortest.StorageClient(t, g)

	// "short" lasts a minute; u1 matched it an hour ago, so only "engaged"
	// is served.
	doc := "segments: [{id: engaged}, {id: short, ttl: 1m}]\nrules:\n  - {id: r, segment: engaged, when: 'true'}\n"
	if _, err := rulestore.New(gc, n.Buckets.Rules).Publish(ctx, []byte(doc), 0, "test", "v1"); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	segs := map[string]rules.Membership{
		"engaged": {AssignedAt: at, Rule: "r", RulesVersion: 1},
		"short":   {AssignedAt: at, LastMatchedAt: at, Rule: "r", RulesVersion: 1},
	}
	if err := bigtablestore.NewProfiles(btc, n.Tables.Profiles).Put(ctx, bigtablestore.StoredProfile{
		Profile: rules.Profile{UserID: "u1", Segments: segs, UpdatedAt: at, Version: 1},
		State:   rules.State{Segments: segs},
	}); err != nil {
		t.Fatal(err)
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- runProfiles(runCtx, []string{
			"--addr", "127.0.0.1:0", "--project", "p", "--instance", "i",
			"--bigtable-endpoint", bt.Addr, "--gcs-endpoint", g.Host, "--rules-poll", "50ms",
		}, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no startup line: %v (run: %v)", err, <-done)
	}
	go io.Copy(io.Discard, pr)
	base := regexp.MustCompile(`http://\S+/`).FindString(line)
	if base == "" {
		t.Fatalf("startup line %q has no URL", line)
	}

	// The rule set is loaded asynchronously; until then the stored expiry
	// (none) would keep "short". The bound only limits a broken watch.
	var doc1 rules.ProfileDoc
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(base + "v1/profiles/u1")
		if err != nil {
			t.Fatal(err)
		}
		doc1 = rules.ProfileDoc{}
		err = json.NewDecoder(res.Body).Decode(&doc1)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("GET u1: %d %v", res.StatusCode, err)
		}
		if len(doc1.Segments) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	want := []rules.SegmentRef{{ID: "engaged", AssignedAt: at}}
	if len(doc1.Segments) != 1 || doc1.Segments[0] != want[0] || doc1.Version != 1 || !doc1.UpdatedAt.Equal(at) {
		t.Fatalf("profile %+v, want segments %v", doc1, want)
	}
	res, err := http.Get(base + "v1/profiles/nobody")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown user: %d", res.StatusCode)
	}
	for _, p := range []string{"healthz", "readyz", "metrics"} {
		res, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", p, res.StatusCode)
		}
	}

	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("profiles: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("profiles did not stop after its context ended")
	}
}
