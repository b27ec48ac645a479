package partner

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"

	"github.com/segmentflow/segmentflow/rules"
)

// File-drop formats.
const (
	// FormatNDJSON writes one JSON object per line:
	// {"user_id","segments","version","event_time"}.
	FormatNDJSON = "ndjson"
	// FormatCSV writes a header and user_id,segments,version rows with the
	// segments joined by "|".
	FormatCSV = "csv"
)

// FileDropConfig configures a FileDrop sink.
type FileDropConfig struct {
	// Partner is the partner id; it is part of every object name.
	Partner string
	// URL is where files go: gs://bucket/prefix, file:///dir or a plain
	// local directory.
	URL string
	// Format is FormatNDJSON (default) or FormatCSV.
	Format string
	// GCS is the storage client for gs:// URLs.
	GCS *storage.Client
}

// FileDrop writes each batch of changes as one segment-list file, for
// list-based DMPs that ingest files instead of calls. Object names are
// deterministic per batch (a hash of the content), so a retried batch
// rewrites the same object instead of adding a duplicate file:
//
//	<prefix>/<partner>/YYYY/MM/DD/segments-<latest event time>-<content hash>.<ext>
type FileDrop struct {
	cfg    FileDropConfig
	put    func(ctx context.Context, name string, data []byte) error
	prefix string
	where  string
}

// NewFileDrop checks the configuration and returns the sink.
func NewFileDrop(cfg FileDropConfig) (*FileDrop, error) {
	if cfg.Partner == "" {
		return nil, errors.New("partner: file drop needs a partner id")
	}
	switch cfg.Format {
	case "":
		cfg.Format = FormatNDJSON
	case FormatNDJSON, FormatCSV:
	default:
		return nil, fmt.Errorf("partner: file drop format %q: want %s or %s", cfg.Format, FormatNDJSON, FormatCSV)
	}
	f := &FileDrop{cfg: cfg, where: cfg.URL}
	switch {
	case strings.HasPrefix(cfg.URL, "gs://"):
		bucket, prefix, _ := strings.Cut(strings.TrimPrefix(cfg.URL, "gs://"), "/")
		if bucket == "" {
			return nil, fmt.Errorf("partner: file drop URL %q has no bucket", cfg.URL)
		}
		if cfg.GCS == nil {
			return nil, fmt.Errorf("partner: file drop to %s needs a GCS client", cfg.URL)
		}
		f.prefix = strings.Trim(prefix, "/")
		f.put = gcsPut(cfg.GCS.Bucket(bucket))
	case strings.Contains(cfg.URL, "://") && !strings.HasPrefix(cfg.URL, "file://"):
		return nil, fmt.Errorf("partner: file drop URL %q: only gs://, file:// and local paths are supported", cfg.URL)
	case cfg.URL == "":
		return nil, errors.New("partner: file drop needs a path")
	default:
		dir := strings.TrimPrefix(cfg.URL, "file://")
		f.put = localPut(dir)
	}
	return f, nil
}

// Connect creates a local directory; GCS buckets must exist already.
func (f *FileDrop) Connect(ctx context.Context) error {
	if strings.HasPrefix(f.cfg.URL, "gs://") {
		return nil
	}
	if err := os.MkdirAll(strings.TrimPrefix(f.cfg.URL, "file://"), 0o755); err != nil {
		return fmt.Errorf("partner: file drop dir: %w", err)
	}
	return nil
}

// Close does nothing: each batch is a complete object.
func (f *FileDrop) Close(context.Context) error { return nil }

// WriteBatch writes the batch as one file; all changes share its outcome.
func (f *FileDrop) WriteBatch(ctx context.Context, changes []rules.Change) error {
	if len(changes) == 0 {
		return nil
	}
	data, err := f.encode(changes)
	if err != nil {
		return &Error{Err: err}
	}
	name := f.ObjectName(changes, data)
	if err := f.put(ctx, name, data); err != nil {
		return &Error{Retryable: ctx.Err() == nil, Err: fmt.Errorf("write %s: %w", name, err)}
	}
	return nil
}

// ObjectName is the deterministic name of the file holding data.
func (f *FileDrop) ObjectName(changes []rules.Change, data []byte) string {
	var latest time.Time
	for _, c := range changes {
		if c.EventTime.After(latest) {
			latest = c.EventTime
		}
	}
	latest = latest.UTC()
	sum := sha256.Sum256(data)
	base := fmt.Sprintf("segments-%s-%s.%s", latest.Format("20060102T150405Z"), hex.EncodeToString(sum[:8]), f.cfg.Format)
	return path.Join(f.prefix, f.cfg.Partner, latest.Format("2006/01/02"), base)
}

// encode writes the rows sorted by user id, so the same batch always gives
// the same bytes (and so the same object name).
func (f *FileDrop) encode(changes []rules.Change) ([]byte, error) {
	rows := append([]rules.Change(nil), changes...)
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].UserID != rows[j].UserID {
			return rows[i].UserID < rows[j].UserID
		}
		return rows[i].Version < rows[j].Version
	})
	var buf bytes.Buffer
	switch f.cfg.Format {
	case FormatCSV:
		w := csv.NewWriter(&buf)
		_ = w.Write([]string{"user_id", "segments", "version"})
		for _, c := range rows {
			_ = w.Write([]string{c.UserID, strings.Join(c.Segments, "|"), strconv.FormatInt(c.Version, 10)})
		}
		w.Flush()
		if err := w.Error(); err != nil {
			return nil, fmt.Errorf("encode csv: %w", err)
		}
	default:
		enc := json.NewEncoder(&buf)
		for _, c := range rows {
			segs := c.Segments
			if segs == nil {
				segs = []string{}
			}
			if err := enc.Encode(FileRow{UserID: c.UserID, Segments: segs, Version: c.Version, EventTime: c.EventTime}); err != nil {
				return nil, fmt.Errorf("encode ndjson: %w", err)
			}
		}
	}
	return buf.Bytes(), nil
}

// FileRow is one NDJSON line of a file drop.
type FileRow struct {
	UserID    string    `json:"user_id"`
	Segments  []string  `json:"segments"`
	Version   int64     `json:"version"`
	EventTime time.Time `json:"event_time"`
}

func gcsPut(b *storage.BucketHandle) func(ctx context.Context, name string, data []byte) error {
	return func(ctx context.Context, name string, data []byte) error {
		// DoesNotExist: a retry after a lost response finds the object
		// already there, which is success (same name, same content).
		w := b.Object(name).If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
		w.ContentType = "application/x-ndjson"
		if strings.HasSuffix(name, ".csv") {
			w.ContentType = "text/csv"
		}
		if _, err := w.Write(data); err != nil {
			_ = w.Close()
			return err
		}
		err := w.Close()
		var ge *googleapi.Error
		if errors.As(err, &ge) && ge.Code == http.StatusPreconditionFailed {
			return nil
		}
		return err
	}
}

func localPut(dir string) func(ctx context.Context, name string, data []byte) error {
	return func(_ context.Context, name string, data []byte) error {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		// Write then rename: an ingesting DMP never sees half a file.
		tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
		if err != nil {
			return err
		}
		if _, err := tmp.Write(data); err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			return err
		}
		if err := tmp.Close(); err != nil {
			os.Remove(tmp.Name())
			return err
		}
		return os.Rename(tmp.Name(), p)
	}
}
