// Package pubsubio is the portable Pub/Sub connector of the pipelines.
//
// Beam's own pubsubio only works on Dataflow, where the runner replaces it
// with a native transform. Read here is an unbounded splittable DoFn that
// pulls synchronously from a subscription on any runner (prism, Flink) and
// acknowledges a message only after the bundle that read it is committed, so
// a crash means redelivery, never loss. On --runner=dataflow Read uses the
// native transform and converts its output to the same Message type.
//
// The commit is learned from the checkpoint, not from bundle finalization:
// each bundle checkpoints with the ack ids it emitted in its residual
// restriction, and a runner hands a residual to a new bundle only after it
// has committed the bundle that returned it, so the next bundle acknowledges
// them first. Bundle finalization would say the same thing more directly,
// but in the v2.77 Go SDK it only works for a plan's first bundle:
// exec.Plan.Finalize replaces the plan's bundleFinalizer with a new one that
// the ParDo units never see, so later callbacks are registered on an orphan
// and prism answers FinalizeBundle with "couldn't find plan in finalizing
// map". Until each bundle's residual is resumed, the in-flight ack ids have
// their deadlines extended (inflight.go).
//
// Publish is the matching sink: it batches the messages of a bundle per
// topic, retries failed publishes and fails the bundle (so the runner retries
// it) rather than dropping a message.
package pubsubio
