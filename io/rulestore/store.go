package rulestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"

	"github.com/segmentflow/segmentflow/infra"
)

// Store is the rules repository in one bucket. It is safe for concurrent use;
// all coordination between writers goes through GCS preconditions.
type Store struct {
	bucket  *storage.BucketHandle
	name    string
	objects infra.RulesObjects
	// now is the clock for created_at and updated_at.
	now func() time.Time
	// orphanAge is how old an unreferenced version object must be before a
	// publish may replace it (see Publish).
	orphanAge time.Duration
}

// New returns the repository in bucket, with the object names of infra.Default().
func New(client *storage.Client, bucket string) *Store {
	return &Store{
		bucket:    client.Bucket(bucket),
		name:      bucket,
		objects:   infra.Default().RulesObjects,
		now:       time.Now,
		orphanAge: time.Minute,
	}
}

// Bucket is the bucket the store lives in.
func (s *Store) Bucket() string { return s.name }

// readPointer returns the pointer and its generation; generation 0 and a nil
// pointer when there is none yet.
func (s *Store) readPointer(ctx context.Context) (*pointer, int64, error) {
	r, err := s.bucket.Object(s.objects.Current).NewReader(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("rulestore: read %s: %w", s.objects.Current, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, 0, fmt.Errorf("rulestore: read %s: %w", s.objects.Current, err)
	}
	var p pointer
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, 0, fmt.Errorf("rulestore: decode %s: %w", s.objects.Current, err)
	}
	return &p, r.Attrs.Generation, nil
}

// pointerGeneration is the cheap check Watch polls: metadata only.
func (s *Store) pointerGeneration(ctx context.Context) (int64, error) {
	a, err := s.bucket.Object(s.objects.Current).Attrs(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("rulestore: attrs %s: %w", s.objects.Current, err)
	}
	return a.Generation, nil
}

// CurrentNumber is the current version number (0 when none is published).
func (s *Store) CurrentNumber(ctx context.Context) (int64, error) {
	p, _, err := s.readPointer(ctx)
	if err != nil || p == nil {
		return 0, err
	}
	return p.Version, nil
}

// Current returns the current version, ErrNotFound when none is published.
func (s *Store) Current(ctx context.Context) (*Version, error) {
	p, _, err := s.readPointer(ctx)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, ErrNotFound
	}
	return s.readVersion(ctx, p.Object)
}

// Get returns version n, ErrNotFound when it was never published.
func (s *Store) Get(ctx context.Context, n int64) (*Version, error) {
	if n <= 0 {
		return nil, ErrNotFound
	}
	// A version object above the current version is an orphan of a publish
	// that did not complete; it was never published.
	cur, err := s.CurrentNumber(ctx)
	if err != nil {
		return nil, err
	}
	if n > cur {
		return nil, ErrNotFound
	}
	return s.readVersion(ctx, objectName(s.objects.VersionsPrefix, n))
}

func (s *Store) readVersion(ctx context.Context, name string) (*Version, error) {
	vo, _, err := s.readVersionObject(ctx, name)
	if err != nil {
		return nil, err
	}
	return vo.toVersion(), nil
}

func (s *Store) readVersionObject(ctx context.Context, name string) (*versionObject, int64, error) {
	r, err := s.bucket.Object(name).NewReader(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("rulestore: read %s: %w", name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, 0, fmt.Errorf("rulestore: read %s: %w", name, err)
	}
	var vo versionObject
	if err := json.Unmarshal(b, &vo); err != nil {
		return nil, 0, fmt.Errorf("rulestore: decode %s: %w", name, err)
	}
	vo.RuleSet = compact(vo.RuleSet)
	return &vo, r.Attrs.Generation, nil
}

// List returns the history of published versions, newest first.
func (s *Store) List(ctx context.Context) ([]HistoryEntry, error) {
	cur, err := s.CurrentNumber(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	it := s.bucket.Objects(ctx, &storage.Query{Prefix: s.objects.HistoryPrefix})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("rulestore: list %s: %w", s.objects.HistoryPrefix, err)
		}
		names = append(names, a.Name)
	}
	seen := make(map[int64]bool, len(names))
	out := make([]HistoryEntry, 0, len(names)+1)
	for _, name := range names {
		n, ok := numberOf(s.objects.HistoryPrefix, name)
		if !ok || n > cur {
			continue
		}
		h, err := s.readHistory(ctx, name)
		if err != nil {
			return nil, err
		}
		seen[n] = true
		out = append(out, *h)
	}
	// A publisher that moved the pointer but died before writing its history
	// entry leaves the current version without one; rebuild it from the
	// version object so history never misses a published version.
	if cur > 0 && !seen[cur] {
		vo, _, err := s.readVersionObject(ctx, objectName(s.objects.VersionsPrefix, cur))
		if err != nil {
			return nil, err
		}
		out = append(out, historyOf(vo, 0, 0))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version > out[j].Version })
	return out, nil
}

func (s *Store) readHistory(ctx context.Context, name string) (*HistoryEntry, error) {
	r, err := s.bucket.Object(name).NewReader(ctx)
	if err != nil {
		return nil, fmt.Errorf("rulestore: read %s: %w", name, err)
	}
	defer r.Close()
	var h HistoryEntry
	if err := json.NewDecoder(r).Decode(&h); err != nil {
		return nil, fmt.Errorf("rulestore: decode %s: %w", name, err)
	}
	return &h, nil
}

func historyOf(vo *versionObject, segments, rules int) HistoryEntry {
	action := ActionPublish
	if vo.RollbackOf > 0 {
		action = ActionRollback
	}
	return HistoryEntry{
		Version: vo.Version, Action: action, Author: vo.CreatedBy, Message: vo.Message,
		At: vo.CreatedAt, Parent: vo.Parent, RollbackOf: vo.RollbackOf, Segments: segments, Rules: rules,
	}
}

// numberOf parses the version number out of an object name under prefix.
func numberOf(prefix, name string) (int64, bool) {
	s := strings.TrimSuffix(strings.TrimPrefix(name, prefix), ".json")
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0
}

// isPrecondition reports whether err is GCS refusing a write because a
// generation precondition did not hold.
func isPrecondition(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == http.StatusPreconditionFailed
}
