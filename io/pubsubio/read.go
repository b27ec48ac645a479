package pubsubio

import (
	"context"
	"flag"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.DoFn5x2[context.Context, *watermarkEstimator, *sdf.LockRTracker, readSpec,
		func(beam.EventTime, Message), sdf.ProcessContinuation, error](&pullFn{})
	register.Emitter2[beam.EventTime, Message]()
	register.DoFn2x1[[]byte, func(beam.EventTime, Message), error](&fromNativeFn{})
	beam.RegisterType(reflect.TypeOf((*readSpec)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*pullRestriction)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*watermarkState)(nil)).Elem())
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
	// that its bundle commits and gets acknowledged; 2000. Their ack ids
	// travel in the checkpoint, so this also bounds its size.
	MaxBundle int
	// MaxBundleTime bounds how long one bundle keeps pulling; 500 ms. A
	// Pull already in flight is let finish (see pullRPCTimeout).
	MaxBundleTime time.Duration
	// PollInterval is how long an idle reader waits before pulling again; 200 ms.
	PollInterval time.Duration
	// AckDeadline is the deadline kept on in-flight messages by
	// ModifyAckDeadline, within 10 s to 10 min; 60 s.
	AckDeadline time.Duration
	// MaxExtension bounds how long a message is kept in flight before it
	// is left to redelivery (its bundle must have failed); 10 min.
	MaxExtension time.Duration
	// IdleLag is how far behind the wall clock the watermark stays, so
	// messages published just before a pull are still on time; 1 s.
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
		o.MaxBundle = 2000
	}
	def(&o.MaxBundleTime, 500*time.Millisecond)
	def(&o.PollInterval, 200*time.Millisecond)
	def(&o.AckDeadline, 60*time.Second)
	// Pub/Sub accepts deadlines of 10 s to 10 min.
	o.AckDeadline = min(max(o.AckDeadline, minAckDeadline), 10*time.Minute)
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

// pullFn is the unbounded splittable reader: each restriction is one pull
// loop, and each ProcessElement call is one bundle's worth of it.
type pullFn struct {
	mu      sync.Mutex
	client  *pubsub.Client
	flights *inflight
}

func (fn *pullFn) CreateInitialRestriction(spec readSpec) pullRestriction {
	return pullRestriction{}
}

// SplitRestriction starts Readers independent pull loops.
func (fn *pullFn) SplitRestriction(spec readSpec, r pullRestriction) []pullRestriction {
	out := make([]pullRestriction, max(spec.Readers, 1))
	out[0] = r
	return out
}

func (fn *pullFn) RestrictionSize(spec readSpec, r pullRestriction) float64 {
	// Unknown backlog: report a constant so runners keep the reader alive.
	return 1
}

func (fn *pullFn) CreateTracker(r pullRestriction) *sdf.LockRTracker {
	return sdf.NewLockRTracker(newPullTracker(r))
}

// TruncateRestriction stops the loop on drain but keeps the pending ids:
// their bundle was committed, so the final call still acknowledges them.
func (fn *pullFn) TruncateRestriction(rt *sdf.LockRTracker, spec readSpec) pullRestriction {
	r := rt.GetRestriction().(pullRestriction)
	return pullRestriction{Pending: r.Pending, Done: true}
}

func (fn *pullFn) InitialWatermarkEstimatorState(et beam.EventTime, r pullRestriction, spec readSpec) watermarkState {
	return watermarkState{Millis: et.Milliseconds(), LagMillis: spec.IdleLag.Milliseconds()}
}

func (fn *pullFn) CreateWatermarkEstimator(st watermarkState) *watermarkEstimator {
	return &watermarkEstimator{state: st}
}

func (fn *pullFn) WatermarkEstimatorState(we *watermarkEstimator) watermarkState {
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

// ProcessElement first acknowledges the messages of the previous bundle of
// this loop (the runner only resumes a checkpoint after committing the bundle
// that made it), then pulls until the bundle is full, its time is up or the
// subscription is empty, emits every message and checkpoints with their ack
// ids in the residual.
func (fn *pullFn) ProcessElement(ctx context.Context, we *watermarkEstimator, rt *sdf.LockRTracker, spec readSpec, emit func(beam.EventTime, Message)) (sdf.ProcessContinuation, error) {
	flights, err := fn.connect(ctx, spec)
	if err != nil {
		return sdf.ResumeProcessingIn(spec.PollInterval), err
	}
	flights.begin()
	defer flights.end()
	sub := subscriptionPath(spec.Project, spec.Subscription)

	rest := rt.GetRestriction().(pullRestriction)
	if err := flights.ack(ctx, rest.Pending); err != nil {
		// Not a loss: the messages come again and downstream dedups them.
		slog.Warn("pubsubio: acknowledge committed messages", "subscription", sub, "messages", len(rest.Pending), "error", err)
	}

	deadline := time.Now().Add(spec.MaxBundleTime)
	var emitted []string
	stopped := rest.Done
	for first := true; !stopped && len(emitted) < spec.MaxBundle && time.Now().Before(deadline); first = false {
		resp, err := fn.pull(ctx, sub, min(spec.MaxMessages, spec.MaxBundle-len(emitted)), first)
		if err != nil {
			if ctx.Err() != nil {
				break // the bundle is being cancelled
			}
			// Commit what was read; the next call pulls again.
			slog.Warn("pubsubio: pull", "subscription", sub, "error", err)
			break
		}
		got := resp.GetReceivedMessages()
		if len(got) == 0 {
			break
		}
		ids := make([]string, len(got))
		for i, rm := range got {
			ids[i] = rm.GetAckId()
		}
		flights.add(ids)
		for i, rm := range got {
			if !rt.TryClaim(rm.GetAckId()) {
				// The runner checkpointed this loop meanwhile: hand the
				// unclaimed rest back for immediate redelivery.
				flights.nack(ctx, ids[i:])
				stopped = true
				break
			}
			m := fromProto(rm.GetMessage().GetMessageId(), rm.GetMessage())
			emit(beam.EventTime(EventTime(m).UnixMilli()), m)
			emitted = append(emitted, ids[i])
		}
	}
	// The ids now belong to the checkpoint; keep their deadlines extended
	// only until the next bundle has had time to acknowledge them.
	flights.handOff(emitted)
	if len(emitted) == 0 {
		we.advanceIdle()
	}
	if stopped || rt.IsDone() {
		return sdf.StopProcessing(), rt.GetError()
	}
	if err := rt.GetError(); err != nil {
		return sdf.StopProcessing(), err
	}
	if len(emitted) == 0 {
		return sdf.ResumeProcessingIn(spec.PollInterval), nil
	}
	// More may be waiting: checkpoint now so this bundle commits (and the
	// next call acknowledges it), then continue at once.
	return sdf.ResumeProcessingIn(0), nil
}

// pullRPCTimeout bounds one Pull RPC. It is never the bundle's deadline: a
// server that has already handed messages out counts them as delivered, so
// a response cut off client-side leaves them invisible until their ack
// deadline runs out (pstest's waiting Pull, which sleeps 500 ms and then
// takes messages, lost that race about once per thousand events).
const pullRPCTimeout = 30 * time.Second

// pull fetches up to n messages. The first pull of a bundle lets the server
// wait (for its own bounded time) for messages to arrive, so an idle reader
// neither spins nor adds latency; later ones return at once, so a bundle
// whose backlog ran dry commits without waiting.
func (fn *pullFn) pull(ctx context.Context, sub string, n int, wait bool) (*pubsubpb.PullResponse, error) {
	pctx, cancel := context.WithTimeout(ctx, pullRPCTimeout)
	defer cancel()
	resp, err := fn.client.SubscriptionAdminClient.Pull(pctx, &pubsubpb.PullRequest{
		Subscription: sub, MaxMessages: int32(n), ReturnImmediately: !wait,
	})
	if err != nil && pctx.Err() != nil && ctx.Err() == nil {
		return &pubsubpb.PullResponse{}, nil // the wait ran out: nothing came
	}
	return resp, err
}
