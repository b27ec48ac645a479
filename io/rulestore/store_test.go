package rulestore

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/storage"

	"github.com/segmentflow/segmentflow/emulators"
	"github.com/segmentflow/segmentflow/emulators/emulatortest"
	"github.com/segmentflow/segmentflow/infra"
	"github.com/segmentflow/segmentflow/rules"
)

const docV1 = `
segments:
  - id: engaged
  - id: ad-clicker
    parent: engaged
rules:
  - id: clicks-ads
    segment: ad-clicker
    events: [user-clicked-on-ad]
    when: 'event.name == "user-clicked-on-ad" && user.stats.daily.ads_watched >= 3'
`

const docV2 = `{"segments":[{"id":"engaged"}],"rules":[{"id":"opens","segment":"engaged","when":"event.name == \"user-opened-app\""}]}`

// docBad has a type error: a string compared with an int.
const docBad = `
segments: [{id: engaged}]
rules:
  - id: broken
    segment: engaged
    when: 'event.name == 3'
`

func newStore(t *testing.T) (*Store, *storage.Client) {
	t.Helper()
	g := emulatortest.GCS(t, "")
	names := infra.Default()
	emulatortest.Provision(t, emulators.Config{Project: "test", Names: names}, nil, nil, g)
	c := emulatortest.StorageClient(t, g)
	return New(c, names.Buckets.Rules), c
}

func TestPublishGetListConflict(t *testing.T) {
	ctx := context.Background()
	s, c := newStore(t)

	if _, err := s.Current(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Current on an empty bucket: %v, want ErrNotFound", err)
	}
	if h, err := s.List(ctx); err != nil || len(h) != 0 {
		t.Fatalf("List on an empty bucket: %v %v", h, err)
	}

	v1, err := s.Publish(ctx, []byte(docV1), 0, "alice", "first")
	if err != nil {
		t.Fatal(err)
	}
	if v1.Number != 1 || v1.CreatedBy != "alice" || v1.Parent != 0 {
		t.Fatalf("v1 = %+v", v1)
	}
	// The stored document is JSON the rules engine reads back.
	rs, err := rules.Parse(v1.Document)
	if err != nil || len(rs.Rules) != 1 || rs.Rules[0].ID != "clicks-ads" {
		t.Fatalf("stored document: %v %+v", err, rs)
	}

	// The pointer object has the documented shape.
	r, err := c.Bucket(s.Bucket()).Object("rulesets/current.json").NewReader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	var p map[string]any
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if p["version"] != float64(1) || p["object"] != "rulesets/versions/0000001.json" || p["updated_by"] != "alice" {
		t.Fatalf("pointer = %s", b)
	}

	// A stale expected version is a conflict naming the current one.
	_, err = s.Publish(ctx, []byte(docV2), 0, "bob", "stale")
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.Current != 1 {
		t.Fatalf("stale publish: %v, want ConflictError{Current: 1}", err)
	}

	// An invalid document is refused with the engine's positions; nothing moves.
	_, err = s.Publish(ctx, []byte(docBad), 1, "bob", "bad")
	var cerr *rules.CompileError
	if !errors.As(err, &cerr) || len(cerr.Problems) == 0 || cerr.Problems[0].Rule != "broken" || cerr.Problems[0].Column == 0 {
		t.Fatalf("invalid publish: %v, want a CompileError on rule broken with a column", err)
	}
	if n, _ := s.CurrentNumber(ctx); n != 1 {
		t.Fatalf("current after invalid publish = %d", n)
	}

	v2, err := s.Publish(ctx, []byte(docV2), 1, "bob", "second")
	if err != nil {
		t.Fatal(err)
	}
	cur, err := s.Current(ctx)
	if err != nil || cur.Number != 2 || cur.Message != "second" || string(cur.Document) != string(v2.Document) {
		t.Fatalf("Current = %+v, %v", cur, err)
	}
	old, err := s.Get(ctx, 1)
	if err != nil || string(old.Document) != string(v1.Document) {
		t.Fatalf("Get(1) = %+v, %v", old, err)
	}
	if _, err := s.Get(ctx, 3); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(3) = %v, want ErrNotFound", err)
	}

	v3, err := s.Rollback(ctx, 1, 2, "carol", "")
	if err != nil {
		t.Fatal(err)
	}
	if v3.Number != 3 || v3.RollbackOf != 1 || string(v3.Document) != string(v1.Document) {
		t.Fatalf("rollback = %+v", v3)
	}

	h, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 || h[0].Version != 3 || h[0].Action != ActionRollback || h[0].RollbackOf != 1 ||
		h[0].Author != "carol" || h[1].Version != 2 || h[1].Author != "bob" || h[2].Version != 1 || h[2].Segments != 2 {
		t.Fatalf("history = %+v", h)
	}
}

// TestConcurrentPublishes: editors racing on the same version never both
// win; every loser learns the version that won.
func TestConcurrentPublishes(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	if _, err := s.Publish(ctx, []byte(docV1), 0, "alice", "base"); err != nil {
		t.Fatal(err)
	}
	const editors = 8
	var wg sync.WaitGroup
	errs := make([]error, editors)
	for i := range editors {
		wg.Go(func() {
			_, errs[i] = s.Publish(ctx, []byte(docV2), 1, "editor", "race")
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		var ce *ConflictError
		switch {
		case err == nil:
			won++
		case errors.As(err, &ce):
			if ce.Current < 1 {
				t.Errorf("conflict names current %d", ce.Current)
			}
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d publishes won the race, want exactly 1", won)
	}
	if n, _ := s.CurrentNumber(ctx); n != 2 {
		t.Fatalf("current = %d, want 2", n)
	}
}

// TestOrphanVersionObject: a publisher that died after writing its version
// object but before moving the pointer does not block publishing forever.
func TestOrphanVersionObject(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	if err := s.write(ctx, objectName(s.objects.VersionsPrefix, 1), []byte(`{"version":1}`), storage.Conditions{DoesNotExist: true}); err != nil {
		t.Fatal(err)
	}
	// A fresh object may belong to a live publish: conflict.
	var ce *ConflictError
	if _, err := s.Publish(ctx, []byte(docV1), 0, "alice", "x"); !errors.As(err, &ce) {
		t.Fatalf("publish over a fresh orphan: %v, want a conflict", err)
	}
	if _, err := s.Get(ctx, 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an orphan must not be readable as a version: %v", err)
	}
	s.orphanAge = 0
	v, err := s.Publish(ctx, []byte(docV1), 0, "alice", "x")
	if err != nil || v.Number != 1 {
		t.Fatalf("publish over a stale orphan: %+v %v", v, err)
	}
	got, err := s.Get(ctx, 1)
	if err != nil || got.CreatedBy != "alice" {
		t.Fatalf("Get(1) = %+v %v", got, err)
	}
}

func TestWatch(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	got := make(chan int64, 10)
	w := Watch(ctx, s, 20*time.Millisecond, func(v *Version) { got <- v.Number })
	defer w.Stop()

	want := func(n int64) {
		t.Helper()
		select {
		case v := <-got:
			if v != n {
				t.Fatalf("watch delivered %d, want %d", v, n)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("watch did not deliver version %d", n)
		}
	}
	if _, err := s.Publish(ctx, []byte(docV1), 0, "a", ""); err != nil {
		t.Fatal(err)
	}
	want(1)
	if _, err := s.Publish(ctx, []byte(docV2), 1, "a", ""); err != nil {
		t.Fatal(err)
	}
	want(2)
	if w.Version() != 2 || w.Err() != nil {
		t.Fatalf("watcher state %d %v", w.Version(), w.Err())
	}
	select {
	case v := <-got:
		t.Fatalf("unexpected extra delivery of %d", v)
	case <-time.After(100 * time.Millisecond):
	}
}
