// Package emulators starts the real Google Cloud emulators in-process on
// loopback — the Pub/Sub fake server (pstest), the Bigtable emulator (bttest)
// and fake-gcs-server, plus an S3 server (gofakes3) for s3:// lakes — and provisions them with the resources the terraform
// in infra/ creates, named from the same infra.Names. Tests and
// `segmentflow local` use it; every component still talks to them through the
// real client libraries over gRPC/HTTP.
package emulators
