package rulestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"cloud.google.com/go/storage"
)

// Publish makes doc (a rule-set document, JSON or YAML) the new current
// version, expectedCurrent+1. It refuses, writing nothing:
//   - a document that does not parse or compile (*InvalidError wrapping the
//     rules engine's error, a *rules.CompileError with per-rule positions);
//   - a stale expectedCurrent (*ConflictError naming the current version),
//     also when another publish wins the race between read and write.
//
// author and message go into the version object and its history entry.
func (s *Store) Publish(ctx context.Context, doc []byte, expectedCurrent int64, author, message string) (*Version, error) {
	return s.publish(ctx, doc, expectedCurrent, author, message, 0)
}

// Rollback publishes a copy of version n as the new current version
// (expectedCurrent+1); history keeps both, nothing is deleted. The old
// document is compiled again, so a version the engine no longer accepts is
// refused like any other invalid document.
func (s *Store) Rollback(ctx context.Context, n, expectedCurrent int64, author, message string) (*Version, error) {
	old, err := s.Get(ctx, n)
	if err != nil {
		return nil, fmt.Errorf("rulestore: rollback to %d: %w", n, err)
	}
	if message == "" {
		message = fmt.Sprintf("rollback to version %d", n)
	}
	return s.publish(ctx, old.Document, expectedCurrent, author, message, n)
}

func (s *Store) publish(ctx context.Context, doc []byte, expected int64, author, message string, rollbackOf int64) (*Version, error) {
	p, gen, err := s.readPointer(ctx)
	if err != nil {
		return nil, err
	}
	cur := int64(0)
	if p != nil {
		cur = p.Version
	}
	if cur != expected {
		return nil, &ConflictError{Current: cur, Expected: expected}
	}
	n := cur + 1
	canon, counts, err := Validate(doc, n)
	if err != nil {
		return nil, &InvalidError{Err: err}
	}
	now := s.now().UTC()
	vo := versionObject{
		Version: n, CreatedAt: now, CreatedBy: author, Message: message,
		Parent: cur, RollbackOf: rollbackOf, RuleSet: canon,
	}
	body, err := json.MarshalIndent(vo, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("rulestore: encode version %d: %w", n, err)
	}
	name := objectName(s.objects.VersionsPrefix, n)
	if err := s.write(ctx, name, body, storage.Conditions{DoesNotExist: true}); err != nil {
		if !isPrecondition(err) {
			return nil, err
		}
		if err := s.replaceOrphan(ctx, name, body, gen, expected); err != nil {
			return nil, err
		}
	}

	pb, err := json.MarshalIndent(pointer{Version: n, Object: name, UpdatedAt: now, UpdatedBy: author}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("rulestore: encode pointer: %w", err)
	}
	cond := storage.Conditions{DoesNotExist: true}
	if gen != 0 {
		cond = storage.Conditions{GenerationMatch: gen}
	}
	if err := s.write(ctx, s.objects.Current, pb, cond); err != nil {
		if isPrecondition(err) {
			return nil, s.conflict(ctx, expected)
		}
		return nil, err
	}

	h := historyOf(&vo, counts.Segments, counts.Rules)
	hb, err := json.MarshalIndent(h, "", "  ")
	if err == nil {
		err = s.write(ctx, objectName(s.objects.HistoryPrefix, n), hb, storage.Conditions{DoesNotExist: true})
	}
	if err != nil {
		// The version is published (the pointer moved); List rebuilds a
		// missing entry of the current version from its version object.
		slog.WarnContext(ctx, "rulestore: history entry not written", "version", n, "err", err)
	}
	slog.InfoContext(ctx, "rules version published", "bucket", s.name, "version", n, "parent", cur,
		"action", h.Action, "rollback_of", rollbackOf, "author", author, "message", message,
		"segments", counts.Segments, "rules", counts.Rules)
	return vo.toVersion(), nil
}

// replaceOrphan handles a version object that already exists under the name
// of the version being published. Either another publish on the same parent
// is between its two writes (a conflict: it will move the pointer), or a
// publisher died after writing it (an orphan nobody references: the pointer
// still has the generation we read, and the object is older than orphanAge,
// far longer than the two writes of a live publish take).
func (s *Store) replaceOrphan(ctx context.Context, name string, body []byte, pointerGen, expected int64) error {
	a, err := s.bucket.Object(name).Attrs(ctx)
	if err != nil {
		return fmt.Errorf("rulestore: attrs %s: %w", name, err)
	}
	g, err := s.pointerGeneration(ctx)
	if err != nil {
		return err
	}
	if g != pointerGen || s.now().Sub(a.Created) < s.orphanAge {
		return s.conflict(ctx, expected)
	}
	slog.WarnContext(ctx, "rulestore: replacing an unpublished version object", "object", name, "created", a.Created)
	if err := s.write(ctx, name, body, storage.Conditions{GenerationMatch: a.Generation}); err != nil {
		if isPrecondition(err) {
			return s.conflict(ctx, expected)
		}
		return err
	}
	return nil
}

// conflict re-reads the pointer to tell the caller what is current now.
func (s *Store) conflict(ctx context.Context, expected int64) error {
	cur, err := s.CurrentNumber(ctx)
	if err != nil {
		return errors.Join(&ConflictError{Current: -1, Expected: expected}, err)
	}
	return &ConflictError{Current: cur, Expected: expected}
}

func (s *Store) write(ctx context.Context, name string, body []byte, cond storage.Conditions) error {
	o := s.bucket.Object(name)
	if cond != (storage.Conditions{}) {
		o = o.If(cond)
	}
	w := o.NewWriter(ctx)
	w.ContentType = "application/json"
	// One request, no resumable session: the objects are small and a
	// precondition failure must surface here, not on a later chunk.
	w.ChunkSize = 0
	if _, err := w.Write(body); err != nil {
		_ = w.Close()
		return fmt.Errorf("rulestore: write %s: %w", name, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("rulestore: write %s: %w", name, err)
	}
	return nil
}
