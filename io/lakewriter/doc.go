// Package lakewriter writes an unbounded stream of JSON records into the raw
// lake as gzip NDJSON objects cut by processing time:
//
//	DEST/YYYY/MM/DD/HH/<window>-<shard>[-<n>].json.gz
//
// where <window> is the window's start (HHMMSS, UTC), <shard> one of a few
// shards per window and <n> the size-roll index (absent for the first
// object of a window and shard). Beam's textio rewrites one file per window
// and fileio has no writer, so this is a writer of its own, in two steps:
//
//  1. write (fused with the source, no shuffle before it): every bundle
//     gzips its records into one staging part and writes it before the
//     bundle commits, so by the time the source acknowledges the messages
//     (bundle finalization) their bytes are durable.
//  2. roll (a stateful DoFn keyed by shard, processing-time timers): once a
//     window plus a grace period has passed, the parts of each shard are
//     concatenated (gzip members concatenate into a valid gzip stream) into
//     final objects of at most MaxBytes, under a manifest so a crash in the
//     middle of a roll is redone with the same parts and the same name.
//
// The roller finds its work by listing the staging area, not from pipeline
// state, so a restarted pipeline rolls what an earlier run staged. Objects
// are written whole (GCS and S3 uploads become visible on close; local files
// are written under a temporary name and renamed), so no reader ever sees a
// partial object. See docs/lake.md for the delivery guarantees.
package lakewriter
