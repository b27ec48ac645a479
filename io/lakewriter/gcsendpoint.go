package lakewriter

import (
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	"cloud.google.com/go/storage"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
)

// endpointGCS is the gs:// file system on an explicit storage endpoint (the
// GCS emulator of `segmentflow local` and the tests). Beam's gcs file system
// only finds an emulator through STORAGE_EMULATOR_HOST, process-wide, and
// reads through the XML API, which fake-gcs-server serves only under its
// public host; this one takes the endpoint as an option and reads over JSON.
type endpointGCS struct{ client *storage.Client }

func newEndpointGCS(ctx context.Context, baseURL string) (*endpointGCS, error) {
	base := strings.TrimRight(baseURL, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	c, err := storage.NewClient(ctx,
		option.WithEndpoint(base+"/storage/v1/"),
		option.WithoutAuthentication(),
		storage.WithJSONReads())
	if err != nil {
		return nil, fmt.Errorf("lakewriter: storage client for %s: %w", baseURL, err)
	}
	return &endpointGCS{client: c}, nil
}

func splitGS(url string) (bucket, object string, err error) {
	rest, ok := strings.CutPrefix(url, "gs://")
	if !ok {
		return "", "", fmt.Errorf("lakewriter: %q is not a gs:// URL", url)
	}
	bucket, object, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("lakewriter: %q has no bucket", url)
	}
	return bucket, object, nil
}

func (g *endpointGCS) obj(url string) (*storage.ObjectHandle, error) {
	b, o, err := splitGS(url)
	if err != nil {
		return nil, err
	}
	return g.client.Bucket(b).Object(o), nil
}

func (g *endpointGCS) Close() error { return g.client.Close() }

// List matches glob like Beam's gcs file system for the patterns the writer
// uses: '*' does not cross a '/'.
func (g *endpointGCS) List(ctx context.Context, glob string) ([]string, error) {
	b, pattern, err := splitGS(glob)
	if err != nil {
		return nil, err
	}
	prefix := pattern
	if i := strings.IndexAny(pattern, "*?["); i >= 0 {
		prefix = pattern[:i]
	}
	it := g.client.Bucket(b).Objects(ctx, &storage.Query{Prefix: prefix})
	var out []string
	for {
		a, err := it.Next()
		if err == iterator.Done {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if ok, _ := path.Match(pattern, a.Name); ok {
			out = append(out, "gs://"+b+"/"+a.Name)
		}
	}
}

func (g *endpointGCS) OpenRead(ctx context.Context, url string) (io.ReadCloser, error) {
	o, err := g.obj(url)
	if err != nil {
		return nil, err
	}
	return o.NewReader(ctx)
}

func (g *endpointGCS) OpenWrite(ctx context.Context, url string) (io.WriteCloser, error) {
	o, err := g.obj(url)
	if err != nil {
		return nil, err
	}
	return o.NewWriter(ctx), nil
}

func (g *endpointGCS) Size(ctx context.Context, url string) (int64, error) {
	o, err := g.obj(url)
	if err != nil {
		return -1, err
	}
	a, err := o.Attrs(ctx)
	if err != nil {
		return -1, err
	}
	return a.Size, nil
}

func (g *endpointGCS) Remove(ctx context.Context, url string) error {
	o, err := g.obj(url)
	if err != nil {
		return err
	}
	return o.Delete(ctx)
}

var (
	_ filesystem.Interface = (*endpointGCS)(nil)
	_ filesystem.Remover   = (*endpointGCS)(nil)
)
