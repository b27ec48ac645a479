// Package pubsubio is the portable Pub/Sub connector of the pipelines.
//
// Beam's own pubsubio only works on Dataflow, where the runner replaces it
// with a native transform. Read here is an unbounded splittable DoFn that
// pulls synchronously from a subscription on any runner (prism, Flink) and
// acknowledges a message only after the bundle that read it is committed
// (bundle finalization), so a crash means redelivery, never loss. On
// --runner=dataflow Read uses the native transform and converts its output
// to the same Message type.
//
// Publish is the matching sink: it batches the messages of a bundle per
// topic, retries failed publishes and fails the bundle (so the runner retries
// it) rather than dropping a message.
package pubsubio
