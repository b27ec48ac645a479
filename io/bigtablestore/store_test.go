package bigtablestore

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/segmentflow/segmentflow/emulators"
	"github.com/segmentflow/segmentflow/emulators/emulatortest"
	"github.com/segmentflow/segmentflow/infra"
	"github.com/segmentflow/segmentflow/rules"
)

func setup(t *testing.T) (*Users, *Profiles) {
	t.Helper()
	bt := emulatortest.Bigtable(t)
	n := infra.Default()
	emulatortest.Provision(t, emulators.Config{Project: "p", Instance: "i", Names: n}, nil, bt, nil)
	c := emulatortest.BigtableClient(t, bt, "p", "i")
	return NewUsers(c, n.Tables.Users), NewProfiles(c, n.Tables.Profiles)
}

func TestUsersRoundTrip(t *testing.T) {
	ctx := context.Background()
	users, _ := setup(t)
	if err := users.PutTraits(ctx, "u1", map[string]any{"birthDate": "1990-04-01", "level": 7.0}); err != nil {
		t.Fatal(err)
	}
	// A later identify adds a trait and overwrites one; the rest stays.
	if err := users.PutTraits(ctx, "u1", map[string]any{"level": 8.0, "os": "android"}); err != nil {
		t.Fatal(err)
	}
	st := rules.Stats{Daily: rules.Counters{AdsWatched: 4}, RegularPlayer: true,
		LastEngagement: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	if err := users.PutStats(ctx, "u2", st); err != nil {
		t.Fatal(err)
	}
	got, err := users.Get(ctx, []string{"u1", "u2", "nobody"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]rules.User{
		"u1": {Traits: map[string]any{"birthDate": "1990-04-01", "level": 8.0, "os": "android"}},
		"u2": {Stats: st},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("users (-want +got):\n%s", d)
	}
}

func TestProfilesRoundTripAndReplace(t *testing.T) {
	ctx := context.Background()
	_, profiles := setup(t)
	if sp, err := profiles.Get(ctx, "u1"); err != nil || sp != nil {
		t.Fatalf("absent profile: %v %v", sp, err)
	}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	a := rules.Membership{AssignedAt: t0, Rule: "r1", RulesVersion: 1}
	b := rules.Membership{AssignedAt: t0.Add(time.Minute), Rule: "r2", RulesVersion: 2, ExpiresAt: t0.Add(time.Hour)}
	first := StoredProfile{
		Profile: rules.Profile{UserID: "u1", Segments: map[string]rules.Membership{"engaged": a, "casual": b}, UpdatedAt: t0, Version: 1},
		State:   rules.State{Segments: map[string]rules.Membership{"engaged": a, "casual": b}},
	}
	if err := profiles.Put(ctx, first); err != nil {
		t.Fatal(err)
	}
	// The second write drops "casual": it must vanish from the row.
	second := StoredProfile{
		Profile: rules.Profile{UserID: "u1", Segments: map[string]rules.Membership{"engaged": a}, UpdatedAt: t0.Add(2 * time.Minute), Version: 2},
		State:   rules.State{Segments: map[string]rules.Membership{"engaged": a, "casual": b}},
	}
	if failed, err := profiles.PutMany(ctx, []StoredProfile{second}); err != nil || failed != nil {
		t.Fatal(failed, err)
	}
	got, err := profiles.Get(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(&second, got); d != "" {
		t.Fatalf("profile (-want +got):\n%s", d)
	}
	// The served read leaves the merge state out and nothing else.
	served, err := profiles.GetServed(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	wantServed := second
	wantServed.State = rules.State{}
	if d := cmp.Diff(&wantServed, served); d != "" {
		t.Fatalf("served profile (-want +got):\n%s", d)
	}
	if sp, err := profiles.GetServed(ctx, "u9"); err != nil || sp != nil {
		t.Fatalf("absent served profile: %v %v", sp, err)
	}
	many, err := profiles.GetMany(ctx, []string{"u1", "u9"})
	if err != nil || len(many) != 1 || many["u1"].Profile.Version != 2 {
		t.Fatalf("GetMany: %v %v", many, err)
	}
}
