// Package localstack runs the whole platform on one machine: the Pub/Sub,
// Bigtable and GCS emulators on loopback, provisioned from infra/names.json,
// the example rule set published as version 1, the collector, the rules API
// and console, the profile API, the lake and classify pipelines on prism in
// this process, activate for the rule set's partners with local webhook
// receivers, an optional synthetic game (Generator) and a status line.
// `segmentflow local` is a thin command over Start; the end-to-end test
// drives the same entry point.
package localstack
