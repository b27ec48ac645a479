package transforms

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"cloud.google.com/go/bigtable"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/segmentflow/segmentflow/io/bigtablestore"
)

func init() {
	register.DoFn4x1[context.Context, beam.EventTime, Item, func(beam.EventTime, string, Item), error](&joinFn{})
	register.Emitter3[beam.EventTime, string, Item]()
}

// JoinOptions configure JoinUsers.
type JoinOptions struct {
	Rules    RulesSource
	Bigtable Bigtable
	// CacheSize bounds the users kept between bundles; CacheTTL is how long
	// one is trusted. Both small: the cache only spares a user's burst of
	// events a lookup each, it is not a copy of the table.
	CacheSize int
	CacheTTL  time.Duration
	// Batch is the most events held before their users are read in one
	// ReadRows; the rest of a bundle is read when it finishes.
	Batch int
}

// JoinUsers is the dispatch and the user-state join. Events no rule of the
// current rule set can match are dropped (identify calls always go on: their
// traits are written through). The others are keyed by user and carry the
// user's `users` row, read for all the events of a bundle at once.
func JoinUsers(s beam.Scope, items beam.PCollection, opts JoinOptions) beam.PCollection {
	s = s.Scope("classify.JoinUsers")
	if opts.CacheSize <= 0 {
		opts.CacheSize = 10_000
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = 5 * time.Second
	}
	if opts.Batch <= 0 {
		opts.Batch = 500
	}
	return beam.ParDo(s, &joinFn{Rules: opts.Rules, Bigtable: opts.Bigtable, CacheSize: opts.CacheSize, CacheTTLMs: opts.CacheTTL.Milliseconds(), Batch: opts.Batch}, items)
}

type pendingItem struct {
	ts   beam.EventTime
	item Item
}

type joinFn struct {
	Rules      RulesSource
	Bigtable   Bigtable
	CacheSize  int
	CacheTTLMs int64
	Batch      int

	rules   *liveRules
	client  *bigtable.Client
	users   *bigtablestore.Users
	cache   *expirable.LRU[string, []byte]
	pending []pendingItem
}

func (fn *joinFn) Setup(ctx context.Context) error {
	lr, err := fn.Rules.start(ctx)
	if err != nil {
		return err
	}
	c, err := fn.Bigtable.client(context.WithoutCancel(ctx))
	if err != nil {
		lr.stop()
		return err
	}
	fn.rules, fn.client = lr, c
	fn.users = bigtablestore.NewUsers(c, fn.Bigtable.Users)
	fn.cache = expirable.NewLRU[string, []byte](fn.CacheSize, nil, time.Duration(fn.CacheTTLMs)*time.Millisecond)
	return nil
}

func (fn *joinFn) StartBundle(ctx context.Context, emit func(beam.EventTime, string, Item)) {
	fn.pending = fn.pending[:0]
}

func (fn *joinFn) ProcessElement(ctx context.Context, ts beam.EventTime, it Item, emit func(beam.EventTime, string, Item)) error {
	if !it.Identify && !fn.rules.current().Interested(it.Name) {
		notDispatched.Inc(ctx, 1)
		return nil
	}
	fn.pending = append(fn.pending, pendingItem{ts: ts, item: it})
	if len(fn.pending) >= fn.Batch {
		return fn.flush(ctx, emit)
	}
	return nil
}

func (fn *joinFn) FinishBundle(ctx context.Context, emit func(beam.EventTime, string, Item)) error {
	return fn.flush(ctx, emit)
}

// flush reads the users of the pending events the cache does not hold, in
// one ReadRows, and emits the events. A user without a row is the empty
// user, cached like any other so its burst costs one lookup too.
func (fn *joinFn) flush(ctx context.Context, emit func(beam.EventTime, string, Item)) error {
	if len(fn.pending) == 0 {
		return nil
	}
	rows := map[string][]byte{}
	var missing []string
	for _, p := range fn.pending {
		u := p.item.User
		if _, ok := rows[u]; ok {
			continue
		}
		if b, ok := fn.cache.Get(u); ok {
			rows[u] = b
			userCacheHits.Inc(ctx, 1)
			continue
		}
		rows[u] = nil
		missing = append(missing, u)
	}
	if len(missing) > 0 {
		userLookups.Inc(ctx, int64(len(missing)))
		got, err := fn.users.Get(ctx, missing)
		if err != nil {
			// Failing the bundle makes the runner retry it; an event
			// classified against a user that could not be read would be
			// classified wrongly for good.
			return fmt.Errorf("transforms: join %d users: %w", len(missing), err)
		}
		for _, id := range missing {
			var b []byte
			if u, ok := got[id]; ok {
				if b, err = json.Marshal(u); err != nil {
					return fmt.Errorf("transforms: encode user %s: %w", id, err)
				}
			}
			rows[id] = b
			fn.cache.Add(id, b)
		}
	}
	for _, p := range fn.pending {
		it := p.item
		it.UserRow = rows[it.User]
		emit(p.ts, it.User, it)
	}
	fn.pending = fn.pending[:0]
	return nil
}

func (fn *joinFn) Teardown() error {
	fn.rules.stop()
	if fn.client != nil {
		return fn.client.Close()
	}
	return nil
}
