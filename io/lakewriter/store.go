package lakewriter

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"cloud.google.com/go/storage"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	// The schemes the lake may live on, chosen by the URL.
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/s3"
)

// store is the file system of the lake with the operations the writer
// needs on top of filesystem.Interface.
type store struct {
	fs filesystem.Interface
	// renameCommit: the scheme shows a file while it is being written (local
	// files), so objects are written under a temporary name and renamed.
	// Object stores (gs, s3) make an upload visible only when it completes.
	renameCommit bool
}

// openStore opens the file system of url. gcsEndpoint, when set, sends gs://
// URLs to that storage endpoint (an emulator) instead of Google Cloud.
func openStore(ctx context.Context, url, gcsEndpoint string) (*store, error) {
	if strings.HasPrefix(url, "gs://") && gcsEndpoint != "" {
		g, err := newEndpointGCS(ctx, gcsEndpoint)
		if err != nil {
			return nil, err
		}
		return &store{fs: g}, nil
	}
	f, err := filesystem.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("lakewriter: file system for %s: %w", url, err)
	}
	return &store{fs: f, renameCommit: !strings.Contains(url, "://")}, nil
}

func (s *store) Close() error { return s.fs.Close() }

// list expands glob; nothing found is an empty list, not an error.
func (s *store) list(ctx context.Context, glob string) ([]string, error) {
	names, err := s.fs.List(ctx, glob)
	if err != nil {
		return nil, fmt.Errorf("lakewriter: list %s: %w", glob, err)
	}
	return names, nil
}

// write makes name hold exactly what fill writes, or leaves it untouched:
// no reader ever sees a partial object.
func (s *store) write(ctx context.Context, name string, fill func(io.Writer) error) error {
	target := name
	if s.renameCommit {
		target = name + ".tmp-" + randomID()
	}
	// Cancelling the upload's context is what aborts it: closing a GCS or
	// S3 writer would commit whatever was written so far.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.fs.OpenWrite(wctx, target)
	if err != nil {
		return fmt.Errorf("lakewriter: open %s: %w", target, err)
	}
	if err := fill(w); err != nil {
		cancel()
		w.Close()
		if s.renameCommit {
			s.remove(ctx, target)
		}
		return fmt.Errorf("lakewriter: write %s: %w", target, err)
	}
	if err := w.Close(); err != nil {
		if s.renameCommit {
			s.remove(ctx, target)
		}
		return fmt.Errorf("lakewriter: commit %s: %w", target, err)
	}
	if !s.renameCommit {
		return nil
	}
	r, ok := s.fs.(filesystem.Renamer)
	if !ok {
		return fmt.Errorf("lakewriter: %s: file system cannot rename", name)
	}
	if err := r.Rename(ctx, target, name); err != nil {
		s.remove(ctx, target)
		return fmt.Errorf("lakewriter: rename %s: %w", target, err)
	}
	return nil
}

// copyTo streams object name into w.
func (s *store) copyTo(ctx context.Context, w io.Writer, name string) (int64, error) {
	r, err := s.fs.OpenRead(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("lakewriter: open %s: %w", name, err)
	}
	defer r.Close()
	n, err := io.Copy(w, r)
	if err != nil {
		return n, fmt.Errorf("lakewriter: read %s: %w", name, err)
	}
	return n, nil
}

func (s *store) read(ctx context.Context, name string) ([]byte, error) {
	var b bytes.Buffer
	if _, err := s.copyTo(ctx, &b, name); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// remove deletes name; one already gone is fine (a redone roll).
func (s *store) remove(ctx context.Context, name string) error {
	r, ok := s.fs.(filesystem.Remover)
	if !ok {
		return fmt.Errorf("lakewriter: %s: file system cannot remove", name)
	}
	if err := r.Remove(ctx, name); err != nil && !isNotExist(err) {
		return fmt.Errorf("lakewriter: remove %s: %w", name, err)
	}
	return nil
}

// pruneDirs removes the empty folders among the entries of a local
// directory URL whose base name passes old. Object stores have no folders;
// on a local lake every window would otherwise leave one behind in staging,
// and every roll lists them.
func (s *store) pruneDirs(dir string, old func(base string) bool) {
	if !s.renameCommit {
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() && old(e.Name()) {
			// Fails, as it should, on a folder that is not empty.
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

func isNotExist(err error) bool {
	// The s3 file system wraps its errors with %v, so only its code is left.
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, storage.ErrObjectNotExist) ||
		strings.Contains(err.Error(), "NoSuchKey")
}

func randomID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
