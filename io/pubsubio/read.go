package pubsubio

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/rtrackers/offsetrange"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.DoFn6x2[context.Context, *watermarkEstimator, beam.BundleFinalization, *sdf.LockRTracker, readSpec,
		func(beam.EventTime, Message), sdf.ProcessContinuation, error](&pullFn{})
	register.Emitter2[beam.EventTime, Message]()
	register.DoFn2x1[[]byte, func(beam.EventTime, Message), error](&fromNativeFn{})
	beam.RegisterType(reflect.TypeOf((*readSpec)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*pullTracker)(nil)))
}

// ReadOptions configure Read. Zero fields take the defaults noted.
type ReadOptions struct {
	// Endpoint is host:port of a Pub/Sub emulator; empty means the real
	// service (or PUBSUB_EMULATOR_HOST when set).
	Endpoint string
	// Readers is the number of concurrent pull loops (restrictions); 1.
	Readers int
	// MaxMessages is the most messages one pull returns; 1000.
	MaxMessages int
	// MaxBundle is the most messages read before the reader checkpoints so
	// that its bundle commits and gets acknowledged; 5000.
	MaxBundle int
	// MaxBundleTime bounds how long one bundle keeps pulling; 500 ms.
	MaxBundleTime time.Duration
	// PollInterval is how long an idle reader waits before pulling again; 200 ms.
	PollInterval time.Duration
	// AckDeadline is the deadline kept on in-flight messages by
	// ModifyAckDeadline; 60 s.
	AckDeadline time.Duration
	// MaxExtension bounds how long a message is kept in flight before it
	// is left to redelivery (its bundle must have failed); 10 min.
	MaxExtension time.Duration
	// IdleLag is how far behind the wall clock an idle reader holds the
	// watermark, so messages published just before it pulled are on time; 1 s.
	IdleLag time.Duration
	// Runner forces the implementation: "dataflow" uses Beam's native
	// transform. Empty: the value of the --runner flag.
	Runner string
}

func (o ReadOptions) withDefaults() ReadOptions {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.Readers <= 0 {
		o.Readers = 1
	}
	if o.MaxMessages <= 0 {
		o.MaxMessages = 1000
	}
	if o.MaxBundle <= 0 {
		o.MaxBundle = 5000
	}
	def(&o.MaxBundleTime, 500*time.Millisecond)
	def(&o.PollInterval, 200*time.Millisecond)
	def(&o.AckDeadline, 60*time.Second)
	def(&o.MaxExtension, 10*time.Minute)
	def(&o.IdleLag, time.Second)
	if o.Runner == "" {
		if f := flag.Lookup("runner"); f != nil {
			o.Runner = f.Value.String()
		}
	}
	return o
}

// readSpec is the single element the reader expands; it carries the options
// so the DoFn needs no construction-time state beyond what Beam serializes.
type readSpec struct {
	Project, Subscription, Endpoint string
	Readers, MaxMessages, MaxBundle int
	MaxBundleTime, PollInterval     time.Duration
	AckDeadline, MaxExtension       time.Duration
	IdleLag                         time.Duration
}

// Read reads subscription (an id in project) as an unbounded
// PCollection<Message> timestamped by EventTime.
func Read(s beam.Scope, project, subscription string, opts ReadOptions) beam.PCollection {
	s = s.Scope("pubsubio.Read")
	o := opts.withDefaults()
	if o.Runner == "dataflow" {
		return beam.ParDo(s, &fromNativeFn{}, nativeRead(s, project, subscription))
	}
	spec := readSpec{
		Project: project, Subscription: subscription, Endpoint: o.Endpoint,
		Readers: o.Readers, MaxMessages: o.MaxMessages, MaxBundle: o.MaxBundle,
		MaxBundleTime: o.MaxBundleTime, PollInterval: o.PollInterval,
		AckDeadline: o.AckDeadline, MaxExtension: o.MaxExtension, IdleLag: o.IdleLag,
	}
	return beam.ParDo(s, &pullFn{}, beam.Create(s, spec))
}

// pullFn is the unbounded splittable reader. Its restriction is an offset
// range whose positions are just a count of messages read: Pub/Sub has no
// offsets, so the range only gives the runner something to checkpoint.
type pullFn struct {
	mu      sync.Mutex
	client  *pubsub.Client
	flights *inflight
}

func (fn *pullFn) CreateInitialRestriction(spec readSpec) offsetrange.Restriction {
	return offsetrange.Restriction{Start: 0, End: math.MaxInt64}
}

// SplitRestriction starts Readers independent pull loops.
func (fn *pullFn) SplitRestriction(spec readSpec, r offsetrange.Restriction) []offsetrange.Restriction {
	n := int64(max(spec.Readers, 1))
	out := make([]offsetrange.Restriction, 0, n)
	size := (r.End - r.Start) / n
	for i := int64(0); i < n; i++ {
		end := r.Start + (i+1)*size
		if i == n-1 {
			end = r.End
		}
		out = append(out, offsetrange.Restriction{Start: r.Start + i*size, End: end})
	}
	return out
}

func (fn *pullFn) RestrictionSize(spec readSpec, r offsetrange.Restriction) float64 {
	// Unknown backlog: report a constant so runners keep the reader alive.
	return 1
}

func (fn *pullFn) CreateTracker(r offsetrange.Restriction) *sdf.LockRTracker {
	return sdf.NewLockRTracker(&pullTracker{offsetrange.NewTracker(r)})
}

func (fn *pullFn) TruncateRestriction(rt *sdf.LockRTracker, spec readSpec) offsetrange.Restriction {
	start := rt.GetRestriction().(offsetrange.Restriction).Start
	return offsetrange.Restriction{Start: start, End: start}
}

func (fn *pullFn) InitialWatermarkEstimatorState(et beam.EventTime, r offsetrange.Restriction, spec readSpec) int64 {
	return et.Milliseconds()
}

func (fn *pullFn) CreateWatermarkEstimator(ms int64) *watermarkEstimator {
	return &watermarkEstimator{state: ms}
}

func (fn *pullFn) WatermarkEstimatorState(we *watermarkEstimator) int64 {
	return we.state
}

func (fn *pullFn) connect(ctx context.Context, spec readSpec) (*inflight, error) {
	fn.mu.Lock()
	defer fn.mu.Unlock()
	if fn.flights != nil {
		return fn.flights, nil
	}
	// The client outlives this call's context: it serves every bundle of
	// this DoFn instance until Teardown.
	c, err := newClient(context.WithoutCancel(ctx), spec.Project, spec.Endpoint)
	if err != nil {
		return nil, err
	}
	fn.client = c
	fn.flights = newInflight(&subscriber{
		sub:          subscriptionPath(spec.Project, spec.Subscription),
		ackDeadline:  spec.AckDeadline,
		maxExtension: spec.MaxExtension,
		client:       c.SubscriptionAdminClient,
	})
	return fn.flights, nil
}

func (fn *pullFn) Teardown() error {
	fn.mu.Lock()
	defer fn.mu.Unlock()
	if fn.flights != nil {
		fn.flights.close()
		fn.flights = nil
	}
	if fn.client != nil {
		err := fn.client.Close()
		fn.client = nil
		return err
	}
	return nil
}

// ProcessElement pulls until the bundle is full, its time is up or the
// subscription is empty, emits every message, and registers their
// acknowledgement for when the runner has committed the bundle.
func (fn *pullFn) ProcessElement(ctx context.Context, we *watermarkEstimator, bf beam.BundleFinalization, rt *sdf.LockRTracker, spec readSpec, emit func(beam.EventTime, Message)) (sdf.ProcessContinuation, error) {
	flights, err := fn.connect(ctx, spec)
	if err != nil {
		return sdf.ResumeProcessingIn(spec.PollInterval), err
	}
	flights.beat()
	sub := subscriptionPath(spec.Project, spec.Subscription)
	deadline := time.Now().Add(spec.MaxBundleTime)
	var acks []string
	pos := rt.GetRestriction().(offsetrange.Restriction).Start
	stopped := false
	for len(acks) < spec.MaxBundle && time.Now().Before(deadline) && !stopped {
		pctx, cancel := context.WithTimeout(ctx, spec.MaxBundleTime+5*time.Second)
		resp, err := fn.client.SubscriptionAdminClient.Pull(pctx, &pubsubpb.PullRequest{
			Subscription: sub, MaxMessages: int32(min(spec.MaxMessages, spec.MaxBundle-len(acks))),
			ReturnImmediately: true,
		})
		cancel()
		if err != nil {
			if len(acks) > 0 {
				break // commit what was read; the next call retries the pull
			}
			slog.Warn("pubsubio: pull", "subscription", sub, "error", err)
			return sdf.ResumeProcessingIn(spec.PollInterval), nil
		}
		got := resp.GetReceivedMessages()
		if len(got) == 0 {
			break
		}
		ids := make([]string, 0, len(got))
		for _, rm := range got {
			ids = append(ids, rm.GetAckId())
		}
		flights.add(ids)
		for i, rm := range got {
			if !rt.TryClaim(pos) {
				// The restriction was split away; give the rest back.
				flights.nack(ctx, ids[i:])
				stopped = true
				break
			}
			pos++
			m := fromProto(rm.GetMessage().GetMessageId(), rm.GetMessage())
			emit(beam.EventTime(EventTime(m).UnixMilli()), m)
			acks = append(acks, rm.GetAckId())
		}
	}
	if len(acks) > 0 {
		ackIDs := acks
		bf.RegisterCallback(spec.MaxExtension, func() error {
			actx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := flights.ack(actx, ackIDs); err != nil {
				return fmt.Errorf("pubsubio: acknowledge %d messages on %s: %w", len(ackIDs), sub, err)
			}
			return nil
		})
	} else {
		// prism finalizes every bundle of a stage that asks for
		// finalization, so register a callback even for an empty one
		// (the SDK otherwise reports an unknown bundle).
		bf.RegisterCallback(time.Minute, func() error { return nil })
		we.ObserveTimestamp(time.Now().Add(-spec.IdleLag))
	}
	if stopped || rt.IsDone() {
		return sdf.StopProcessing(), rt.GetError()
	}
	if len(acks) == 0 {
		return sdf.ResumeProcessingIn(spec.PollInterval), nil
	}
	// More may be waiting: checkpoint now so this bundle commits (and is
	// acknowledged), then continue at once.
	return sdf.ResumeProcessingIn(0), nil
}

// pullTracker is an offset tracker that only accepts checkpoints (fraction
// 0), not fractional splits: a split of a pull loop would start another pull
// loop, and the runner would multiply readers with every split.
type pullTracker struct{ *offsetrange.Tracker }

func (t *pullTracker) TrySplit(fraction float64) (any, any, error) {
	if fraction > 0 {
		return t.GetRestriction(), nil, nil
	}
	return t.Tracker.TrySplit(fraction)
}

// watermarkEstimator observes the timestamps of emitted messages; the
// watermark is the latest one seen, capped at the wall clock (a device clock
// in the future must not push the watermark past real time), and never moves
// back.
type watermarkEstimator struct{ state int64 }

func (e *watermarkEstimator) CurrentWatermark() time.Time { return time.UnixMilli(e.state) }

func (e *watermarkEstimator) ObserveTimestamp(t time.Time) {
	if now := time.Now(); t.After(now) {
		t = now
	}
	if ms := t.UnixMilli(); ms > e.state {
		e.state = ms
	}
}
