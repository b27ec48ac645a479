package failover

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"

	"github.com/segmentflow/segmentflow/event"
	"github.com/segmentflow/segmentflow/io/pubsubsink"
)

// Sink takes republished messages; the collector passes its Pub/Sub tiers
// (primary, then standby).
type Sink interface {
	WriteBatch(ctx context.Context, msgs []pubsubsink.Message) error
}

// Replayer republishes failover objects and deletes each one only after
// every event in it was published.
type Replayer struct {
	client *storage.Client
	bucket string
	prefix string
	sink   Sink
	opts   ReplayOptions
	log    *slog.Logger
}

// ReplayOptions configure a Replayer. Zero fields take defaults.
type ReplayOptions struct {
	// ChunkSize is how many events are published per WriteBatch; 500.
	ChunkSize int
	// CorruptPrefix receives objects with lines that are not events (they
	// are moved there rather than replayed forever); "badrows/failover/".
	CorruptPrefix string
	// OnPublished is told how many events each object contributed.
	OnPublished func(object string, events int)
}

// Result counts what one ReplayOnce did.
type Result struct {
	Objects  int
	Events   int
	Corrupt  int
	Failures int
}

// NewReplayer replays gs://bucket/prefix... into sink.
func NewReplayer(client *storage.Client, bucket, prefix string, sink Sink, opts ReplayOptions, log *slog.Logger) *Replayer {
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = 500
	}
	if opts.CorruptPrefix == "" {
		opts.CorruptPrefix = "badrows/failover/"
	}
	if log == nil {
		log = slog.Default()
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return &Replayer{client: client, bucket: bucket, prefix: prefix, sink: sink, opts: opts, log: log}
}

// ReplayOnce republishes every object present now. It stops at the first
// object that cannot be published (Pub/Sub still down) and leaves it and
// the rest for the next round.
func (r *Replayer) ReplayOnce(ctx context.Context) (Result, error) {
	var res Result
	it := r.client.Bucket(r.bucket).Objects(ctx, &storage.Query{Prefix: r.prefix})
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return res, nil
		}
		if err != nil {
			return res, fmt.Errorf("failover: list gs://%s/%s: %w", r.bucket, r.prefix, err)
		}
		if !strings.HasSuffix(attrs.Name, ".json.gz") {
			continue
		}
		n, corrupt, err := r.replayObject(ctx, attrs)
		if err != nil {
			res.Failures++
			return res, err
		}
		res.Objects++
		res.Events += n
		if corrupt {
			res.Corrupt++
		}
	}
}

func (r *Replayer) replayObject(ctx context.Context, attrs *storage.ObjectAttrs) (int, bool, error) {
	obj := r.client.Bucket(r.bucket).Object(attrs.Name)
	lines, bad, err := r.read(ctx, obj)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return 0, false, nil // another replayer took it
	}
	if err != nil {
		return 0, false, err
	}
	msgs := make([]pubsubsink.Message, 0, len(lines))
	for _, l := range lines {
		ev, err := event.Unmarshal(l)
		if err != nil {
			bad++
			continue
		}
		msgs = append(msgs, pubsubsink.Message{Data: l, Attributes: event.Attributes(&ev)})
	}
	for start := 0; start < len(msgs); start += r.opts.ChunkSize {
		end := min(start+r.opts.ChunkSize, len(msgs))
		if err := r.sink.WriteBatch(ctx, msgs[start:end]); err != nil {
			// Republishing the chunks already sent duplicates them next
			// round; downstream dedups by message id, and nothing is lost.
			return 0, false, fmt.Errorf("failover: republish gs://%s/%s: %w", r.bucket, attrs.Name, err)
		}
	}
	if bad > 0 {
		dst := r.opts.CorruptPrefix + strings.TrimPrefix(attrs.Name, r.prefix)
		if _, err := r.client.Bucket(r.bucket).Object(dst).CopierFrom(obj).Run(ctx); err != nil {
			return 0, false, fmt.Errorf("failover: keep corrupt gs://%s/%s: %w", r.bucket, attrs.Name, err)
		}
		r.log.Warn("failover object has lines that are not events; moved", "object", attrs.Name, "to", dst, "bad_lines", bad)
	}
	err = obj.If(storage.Conditions{GenerationMatch: attrs.Generation}).Delete(ctx)
	if err != nil && !errors.Is(err, storage.ErrObjectNotExist) && !isPrecondition(err) {
		return 0, false, fmt.Errorf("failover: delete replayed gs://%s/%s: %w", r.bucket, attrs.Name, err)
	}
	if r.opts.OnPublished != nil {
		r.opts.OnPublished(attrs.Name, len(msgs))
	}
	r.log.Info("failover object replayed", "object", attrs.Name, "events", len(msgs))
	return len(msgs), bad > 0, nil
}

// read returns the object's lines and how many of them were unreadable.
func (r *Replayer) read(ctx context.Context, obj *storage.ObjectHandle) ([][]byte, int, error) {
	rd, err := obj.NewReader(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("failover: read gs://%s/%s: %w", r.bucket, obj.ObjectName(), err)
	}
	defer rd.Close()
	zr, err := gzip.NewReader(rd)
	if err != nil {
		return nil, 1, nil // not gzip at all: the whole object is corrupt
	}
	var lines [][]byte
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		l := bytes.TrimSpace(sc.Bytes())
		if len(l) == 0 {
			continue
		}
		lines = append(lines, append([]byte(nil), l...))
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return lines, 1, nil
	}
	return lines, 0, nil
}

// Run replays every interval until ctx is done.
func (r *Replayer) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		res, err := r.ReplayOnce(ctx)
		if err != nil && ctx.Err() == nil {
			r.log.Debug("failover replay deferred", "err", err, "objects_done", res.Objects)
		}
	}
}

func isPrecondition(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == 412
}
