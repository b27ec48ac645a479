package emulators

import (
	"fmt"
	"net/http/httptest"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// S3 is a running in-memory S3 server (gofakes3), for the lake's s3:// paths.
type S3 struct {
	// URL is its endpoint, http://127.0.0.1:PORT. An IP host makes the AWS
	// SDK address buckets by path, which is what the server serves.
	URL     string
	Backend *s3mem.Backend
	srv     *httptest.Server
}

// StartS3 starts the server on a free loopback port.
func StartS3() *S3 {
	b := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(b, gofakes3.WithoutVersioning()).Server())
	return &S3{URL: srv.URL, Backend: b, srv: srv}
}

// CreateBucket creates a bucket.
func (s *S3) CreateBucket(name string) error {
	if err := s.Backend.CreateBucket(name); err != nil {
		return fmt.Errorf("emulators: s3 bucket %s: %w", name, err)
	}
	return nil
}

// Env is what points the AWS SDK's default configuration, and so Beam's s3
// file system, at the server: AWS has no per-client option Beam passes on.
func (s *S3) Env() map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL":      s.URL,
		"AWS_REGION":            "us-east-1",
		"AWS_ACCESS_KEY_ID":     "local",
		"AWS_SECRET_ACCESS_KEY": "local",
	}
}

// Close stops the server.
func (s *S3) Close() { s.srv.Close() }
