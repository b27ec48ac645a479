package localstack

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
)

// lakeWatch counts the events in raw lake objects rolled during this run by
// reading each new object once. Objects are cut by processing-time hour, so
// a listing starts two hours back instead of at the bucket's beginning.
type lakeWatch struct {
	bucket  *storage.BucketHandle
	prefix  string
	start   time.Time
	seen    map[string]time.Time // object -> its hour folder's time, pruned after 3 h
	events  atomic.Int64
	objects atomic.Int64
}

func newLakeWatch(c *storage.Client, bucket, rawPrefix string, start time.Time) *lakeWatch {
	return &lakeWatch{bucket: c.Bucket(bucket), prefix: rawPrefix, start: start, seen: map[string]time.Time{}}
}

func (w *lakeWatch) scan(ctx context.Context) error {
	now := time.Now().UTC()
	q := &storage.Query{Prefix: w.prefix, StartOffset: w.prefix + now.Add(-2*time.Hour).Format("2006/01/02/15/")}
	if err := q.SetAttrSelection([]string{"Name", "Created"}); err != nil {
		return fmt.Errorf("localstack: lake query: %w", err)
	}
	it := w.bucket.Objects(ctx, q)
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return fmt.Errorf("localstack: list lake: %w", err)
		}
		if _, ok := w.seen[a.Name]; ok || a.Created.Before(w.start) || !strings.HasSuffix(a.Name, ".json.gz") {
			continue
		}
		n, err := w.count(ctx, a.Name)
		if err != nil {
			return err
		}
		w.seen[a.Name] = now
		w.events.Add(n)
		w.objects.Add(1)
	}
	for name, t := range w.seen {
		if now.Sub(t) > 3*time.Hour {
			delete(w.seen, name)
		}
	}
	return nil
}

// count is the number of NDJSON lines of one gzip object.
func (w *lakeWatch) count(ctx context.Context, name string) (int64, error) {
	r, err := w.bucket.Object(name).NewReader(ctx)
	if err != nil {
		return 0, fmt.Errorf("localstack: read lake object %s: %w", name, err)
	}
	defer r.Close()
	zr, err := gzip.NewReader(r)
	if err != nil {
		return 0, fmt.Errorf("localstack: lake object %s: %w", name, err)
	}
	defer zr.Close()
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var n int64
	for sc.Scan() {
		if len(sc.Bytes()) > 0 {
			n++
		}
	}
	if err := sc.Err(); err != nil {
		return n, fmt.Errorf("localstack: lake object %s: %w", name, err)
	}
	return n, nil
}
