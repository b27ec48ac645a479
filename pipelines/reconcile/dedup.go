package reconcile

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/segmentflow/segmentflow/event"
)

var dupCount = beam.NewCounter("reconcile", "duplicates")

// dedupFn keeps one copy of a message id: the earliest received (the first
// delivery), ties broken by the bytes so reruns pick the same copy. The copy
// goes on keyed by its Parquet file: partition by event time plus a shard by
// message id.
//
// In a dated run the kept copy's event time decides: a message whose kept
// copy lies outside From..To is left to its own date's run (which keeps the
// same copy), so copies that straddle midnight are written once.
type dedupFn struct {
	Shards int
	// From and To are the dated run's event-time range (Unix ms, To
	// exclusive); both zero: no bound.
	From, To int64
}

func (f *dedupFn) ProcessElement(ctx context.Context, id string, copies func(*[]byte) bool, emit func(string, []byte), tally func(Tally)) error {
	var best, b []byte
	var bestEv event.Event
	n := int64(0)
	for copies(&b) {
		n++
		ev, err := event.Unmarshal(b)
		if err != nil {
			return fmt.Errorf("reconcile: decode %s after parse: %w", id, err)
		}
		if best == nil || ev.ReceivedAt.Before(bestEv.ReceivedAt) ||
			(ev.ReceivedAt.Equal(bestEv.ReceivedAt) && bytes.Compare(b, best) < 0) {
			best, bestEv = append([]byte(nil), b...), ev
		}
	}
	if best == nil {
		return nil
	}
	t := Tally{Duplicates: n - 1}
	if ms := bestEv.EventTime.UnixMilli(); f.To != 0 && (ms < f.From || ms >= f.To) {
		outsideCount.Inc(ctx, 1)
		t.Outside = 1
	} else {
		h := fnv.New32a()
		h.Write([]byte(id))
		shard := int(h.Sum32() % uint32(f.Shards))
		emit(partition(bestEv.EventTime)+"/"+shardName(shard, f.Shards), best)
	}
	if t.Duplicates > 0 {
		dupCount.Inc(ctx, t.Duplicates)
	}
	if t != (Tally{}) {
		tally(t)
	}
	return nil
}
