package transforms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	"cloud.google.com/go/bigtable"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/segmentflow/segmentflow/event"
	"github.com/segmentflow/segmentflow/io/bigtablestore"
	"github.com/segmentflow/segmentflow/rules"
)

func init() {
	register.DoFn5x1[context.Context, state.Provider, timers.Provider, string, Item, error](&dedupMergeFn{})
}

// MergeOptions configure DedupMerge.
type MergeOptions struct {
	Rules       RulesSource
	Bigtable    Bigtable
	Activations Activations
	// Horizon is how long (event time) a message id is remembered: a
	// duplicate delivered before the watermark passes its event time plus
	// Horizon is dropped. 24 h when zero.
	Horizon time.Duration
	// Idle is how long (event time) after a user's latest event the cached
	// profile stays in state; it is read again from Bigtable after. 10 min
	// when zero.
	Idle time.Duration
}

// DedupMerge is the one stateful step, keyed by user (a PCollection<KV<
// string, Item>> from JoinUsers): it drops duplicate deliveries, writes
// identify traits through to `users`, classifies each event with the
// current rule set, folds the matches into the user's profile (read from
// `profiles` the first time), and when the profile changed, publishes the
// partner changes and writes it.
//
// One step and one timer per user, not per message: per-message keys or
// timers make prism's scheduler scan grow with every message in flight
// (issue 10), and one step means two events of a user never race.
func DedupMerge(s beam.Scope, keyed beam.PCollection, opts MergeOptions) {
	s = s.Scope("classify.DedupMerge")
	if opts.Horizon <= 0 {
		opts.Horizon = 24 * time.Hour
	}
	if opts.Idle <= 0 {
		opts.Idle = 10 * time.Minute
	}
	beam.ParDo0(s, &dedupMergeFn{
		Rules: opts.Rules, Bigtable: opts.Bigtable, Activations: opts.Activations,
		HorizonMs: opts.Horizon.Milliseconds(), IdleMs: opts.Idle.Milliseconds(),
		State: state.MakeValueState[[]byte]("user"),
		Timer: timers.InEventTime("gc"),
	}, keyed)
}

type dedupMergeFn struct {
	Rules       RulesSource
	Bigtable    Bigtable
	Activations Activations
	HorizonMs   int64
	IdleMs      int64

	State state.Value[[]byte]
	Timer timers.EventTime

	rules    *liveRules
	client   *bigtable.Client
	users    *bigtablestore.Users
	profiles *bigtablestore.Profiles
	fanOut   *fanOut
	// changes are the bundle's changes of segment sets, published to the
	// partners before the profiles are written.
	changes []profileChange
	// writes holds the bundle's profile writes, the latest per user; they
	// go to Bigtable in one ApplyBulk when the bundle finishes. A failed
	// write fails the bundle, which discards its state changes too, so state
	// never runs ahead of the table.
	writes map[string]bigtablestore.StoredProfile
}

func (fn *dedupMergeFn) horizon() time.Duration {
	return time.Duration(fn.HorizonMs) * time.Millisecond
}
func (fn *dedupMergeFn) idle() time.Duration { return time.Duration(fn.IdleMs) * time.Millisecond }

func (fn *dedupMergeFn) Setup(ctx context.Context) error {
	lr, err := fn.Rules.start(ctx)
	if err != nil {
		return err
	}
	c, err := fn.Bigtable.client(context.WithoutCancel(ctx))
	if err != nil {
		lr.stop()
		return err
	}
	fo, err := fn.Activations.connect(context.WithoutCancel(ctx))
	if err != nil {
		lr.stop()
		c.Close()
		return err
	}
	fn.rules, fn.client, fn.fanOut = lr, c, fo
	fn.users = bigtablestore.NewUsers(c, fn.Bigtable.Users)
	fn.profiles = bigtablestore.NewProfiles(c, fn.Bigtable.Profiles)
	return nil
}

func (fn *dedupMergeFn) StartBundle(ctx context.Context) {
	fn.writes = map[string]bigtablestore.StoredProfile{}
	fn.changes = nil
}

func (fn *dedupMergeFn) ProcessElement(ctx context.Context, sp state.Provider, tp timers.Provider, user string, it Item) error {
	raw, _, err := fn.State.Read(sp)
	if err != nil {
		return fmt.Errorf("transforms: read state of %s: %w", user, err)
	}
	st, err := decodeUserState(raw)
	if err != nil {
		return err
	}
	if _, dup := st.Seen[it.MessageID]; dup {
		deduped.Inc(ctx, 1)
		return nil
	}
	if st.Seen == nil {
		st.Seen = map[string]int64{}
	}
	st.Seen[it.MessageID] = it.EventTime.UnixMilli()
	if ms := it.EventTime.UnixMilli(); ms > st.LastMs {
		st.LastMs = ms
	}
	if err := fn.classify(ctx, st, user, it); err != nil {
		return err
	}
	return fn.save(sp, tp, user, st)
}

// classify runs steps 4 to 8 for one new event of user.
func (fn *dedupMergeFn) classify(ctx context.Context, st *userState, user string, it Item) error {
	ev, err := event.Unmarshal(it.Data)
	if err != nil {
		return fmt.Errorf("transforms: event %s parsed before, not now: %w", it.MessageID, err)
	}
	var u rules.User
	if len(it.UserRow) > 0 {
		if err := json.Unmarshal(it.UserRow, &u); err != nil {
			return fmt.Errorf("transforms: user row of %s: %w", user, err)
		}
	}
	if ev.Type == event.Identify && len(ev.Traits) > 0 {
		if err := fn.users.PutTraits(ctx, user, ev.Traits); err != nil {
			return err
		}
		traitsWritten.Inc(ctx, 1)
		if st.Traits == nil {
			st.Traits = map[string]any{}
		}
		maps.Copy(st.Traits, ev.Traits)
	}
	if len(st.Traits) > 0 {
		if u.Traits == nil {
			u.Traits = map[string]any{}
		}
		maps.Copy(u.Traits, st.Traits)
	}
	if st.Profile == nil {
		if err := fn.hydrate(ctx, st, user); err != nil {
			return err
		}
	}
	eng := fn.rules.current()
	matches, stats := eng.Evaluate(&ev, &u, ev.EventTime)
	classified.Inc(ctx, 1)
	ruleMatches.Inc(ctx, int64(stats.Matched))
	ruleErrors.Inc(ctx, int64(stats.Errors))

	p := st.Profile
	changed := eng.Merge(&p.State, matches, ev.EventTime)
	view := eng.View(p.State, ViewTime(p.State))
	if !changed && viewsEqual(view, p.View) {
		return nil
	}
	before := p.View
	p.View = view
	p.Version++
	fn.writes[user] = bigtablestore.StoredProfile{
		Profile:    rules.Profile{UserID: user, Segments: view, Version: p.Version},
		State:      cloneState(p.State),
		ReceivedAt: it.ReceivedAt,
	}
	if !sameIDs(before, view) {
		fn.changes = append(fn.changes, profileChange{user: user, before: rules.SortedIDs(before), after: rules.SortedIDs(view),
			eventTime: ev.EventTime, receivedAt: it.ReceivedAt, version: p.Version})
	}
	return nil
}

// hydrate reads the user's stored profile, the first time the user is seen
// since the pipeline started or since the cached one was dropped.
func (fn *dedupMergeFn) hydrate(ctx context.Context, st *userState, user string) error {
	sp, err := fn.profiles.Get(ctx, user)
	if err != nil {
		return err
	}
	hydrated.Inc(ctx, 1)
	p := &cachedProfile{State: rules.State{Segments: map[string]rules.Membership{}}, View: map[string]rules.Membership{}}
	if sp != nil {
		p.Version = sp.Profile.Version
		if sp.State.Segments != nil {
			p.State = sp.State
		}
		if sp.Profile.Segments != nil {
			p.View = sp.Profile.Segments
		}
	}
	st.Profile = p
	return nil
}

func (fn *dedupMergeFn) save(sp state.Provider, tp timers.Provider, user string, st *userState) error {
	if next := st.nextTimer(fn.horizon(), fn.idle()); next != st.TimerMs {
		st.TimerMs = next
		if next == 0 {
			fn.Timer.Clear(tp)
		} else {
			fn.Timer.Set(tp, time.UnixMilli(next))
		}
	}
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("transforms: encode state of %s: %w", user, err)
	}
	if err := fn.State.Write(sp, b); err != nil {
		return fmt.Errorf("transforms: write state of %s: %w", user, err)
	}
	return nil
}

// OnTimer clears what the timer was set for: ids past the horizon and an
// idle profile; a user with nothing left has no state at all.
func (fn *dedupMergeFn) OnTimer(ctx context.Context, sp state.Provider, tp timers.Provider, user string, t timers.Context) error {
	raw, ok, err := fn.State.Read(sp)
	if err != nil {
		return fmt.Errorf("transforms: read state of %s: %w", user, err)
	}
	if !ok {
		return nil
	}
	st, err := decodeUserState(raw)
	if err != nil {
		return err
	}
	if st.expire(st.TimerMs, fn.horizon(), fn.idle()) {
		profilesDrop.Inc(ctx, 1)
	}
	st.TimerMs = 0 // it fired
	if st.empty() {
		return fn.State.Clear(sp)
	}
	return fn.save(sp, tp, user, st)
}

func (fn *dedupMergeFn) FinishBundle(ctx context.Context) error {
	if len(fn.writes) == 0 {
		return nil
	}
	if err := fn.fanOut.publish(ctx, fn.rules.current(), fn.changes); err != nil {
		return err
	}
	batch := make([]bigtablestore.StoredProfile, 0, len(fn.writes))
	now := time.Now().UTC()
	for _, w := range fn.writes {
		w.Profile.UpdatedAt = now
		batch = append(batch, w)
	}
	failed, err := fn.profiles.PutMany(ctx, batch)
	if err == nil && len(failed) > 0 {
		for id, e := range failed {
			err = fmt.Errorf("transforms: write profile %s (and %d more): %w", id, len(failed)-1, e)
			break
		}
	}
	if err != nil {
		return err
	}
	for _, w := range batch {
		profileWrites.Inc(ctx, 1)
		if !w.ReceivedAt.IsZero() {
			writeLatency.Update(ctx, time.Since(w.ReceivedAt).Milliseconds())
		}
	}
	fn.writes, fn.changes = nil, nil
	return nil
}

func (fn *dedupMergeFn) Teardown() error {
	fn.rules.stop()
	err := fn.fanOut.close()
	if fn.client != nil {
		err = errors.Join(err, fn.client.Close())
	}
	return err
}

func cloneState(s rules.State) rules.State {
	return rules.State{Segments: maps.Clone(s.Segments)}
}
