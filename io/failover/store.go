// Package failover keeps events in GCS while Pub/Sub cannot take them and
// republishes them once it can. Objects are gzip NDJSON, one normalized event
// (event.Marshal) per line, named PREFIX/YYYY/MM/DD/HH/<node>-<unique>.json.gz
// by the UTC hour they were written; the batch `reconcile` pipeline reads the
// same objects, so an event is never lost even if it is never replayed.
package failover

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/storage"
)

// Store writes gzip NDJSON objects under one prefix of one bucket. The same
// component writes failover objects (prefix failover/) and bad rows (prefix
// badrows/).
type Store struct {
	client *storage.Client
	bucket string
	// prefix ends in "/" (infra names' lake prefixes do).
	prefix string
	node   string
	// timeout bounds one object write, so a dead GCS fails the request
	// (503, the client retries) instead of hanging it.
	timeout time.Duration
	now     func() time.Time
}

// StoreOptions configure a Store. Zero fields take defaults.
type StoreOptions struct {
	// Timeout of one object write; 5 s by default.
	Timeout time.Duration
}

// NewStore returns a store writing gs://bucket/prefix... objects named for
// node. It does not own client.
func NewStore(client *storage.Client, bucket, prefix, node string, opts StoreOptions) *Store {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return &Store{client: client, bucket: bucket, prefix: prefix, node: sanitize(node), timeout: opts.Timeout, now: time.Now}
}

// Bucket is the bucket written to.
func (s *Store) Bucket() string { return s.bucket }

// Prefix is the object prefix written under.
func (s *Store) Prefix() string { return s.prefix }

// Connect checks that the bucket exists and answers.
func (s *Store) Connect(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if _, err := s.client.Bucket(s.bucket).Attrs(ctx); err != nil {
		return fmt.Errorf("failover: bucket %s: %w", s.bucket, err)
	}
	return nil
}

// ObjectName is the name of an object written at t by node.
func ObjectName(prefix string, t time.Time, node, unique string) string {
	t = t.UTC()
	return fmt.Sprintf("%s%04d/%02d/%02d/%02d/%s-%s.json.gz", prefix, t.Year(), t.Month(), t.Day(), t.Hour(), node, unique)
}

// Write stores lines (each one JSON document, no newline) as one new object
// and returns its name. It returns only once GCS holds the object.
func (s *Store) Write(ctx context.Context, lines [][]byte) (string, error) {
	if len(lines) == 0 {
		return "", nil
	}
	body, err := encode(lines)
	if err != nil {
		return "", err
	}
	unique, err := uniqueID(s.now())
	if err != nil {
		return "", err
	}
	name := ObjectName(s.prefix, s.now(), s.node, unique)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	// DoesNotExist makes the upload idempotent, so the client retries it on
	// transient errors without ever overwriting another object.
	w := s.client.Bucket(s.bucket).Object(name).If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
	w.ContentType = "application/gzip"
	w.ChunkSize = 0 // small objects: one request, no resumable session
	if _, err := w.Write(body); err != nil {
		_ = w.Close()
		return "", fmt.Errorf("failover: write gs://%s/%s: %w", s.bucket, name, err)
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("failover: write gs://%s/%s: %w", s.bucket, name, err)
	}
	return name, nil
}

func encode(lines [][]byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	for _, l := range lines {
		if bytes.IndexByte(l, '\n') >= 0 {
			return nil, fmt.Errorf("failover: a line contains a newline")
		}
		zw.Write(l)
		zw.Write([]byte{'\n'})
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("failover: gzip: %w", err)
	}
	return buf.Bytes(), nil
}

// uniqueID sorts by time within a node and never collides across writers.
func uniqueID(t time.Time) (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("failover: random id: %w", err)
	}
	return fmt.Sprintf("%019d-%s", t.UnixNano(), hex.EncodeToString(b[:])), nil
}

// sanitize keeps a node id usable as part of an object name.
func sanitize(node string) string {
	if node == "" {
		return "node"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_':
			return r
		}
		return '_'
	}, node)
}
