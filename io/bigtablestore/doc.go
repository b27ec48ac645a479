// Package bigtablestore reads and writes the Bigtable tables of DESIGN.md:
// `users` (traits and stats that rules see as `user`) and `profiles` (the
// segmented profile served to ad decisions). Row keys are the plain user id:
// user ids from SDKs are random (UUIDs or hashed ids), so rows spread over
// tablets without a salt, and a plain key keeps point reads and debugging
// simple. A deployment with sequential ids should hash them before they
// reach the collector.
package bigtablestore
