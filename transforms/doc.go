// Package transforms holds the reusable DoFns of the streaming pipelines:
// parsing with a dead-letter output, the dispatch and user-state join with a
// per-bundle batched Bigtable lookup, the per-user stateful dedup and merge,
// the partner fan-out, and the rules source that hot-reloads the current
// rule set. The domain logic (CEL, merge policy, diffs) lives in rules/;
// these DoFns only move data through it.
package transforms
