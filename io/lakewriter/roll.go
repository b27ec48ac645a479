package lakewriter

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// roller turns the staged parts of closed windows into final objects.
type roller struct {
	st       *store
	l        layout
	maxBytes int64
	// grace is how long after a window's end its parts are left to arrive
	// (bundles that started in the window may still be writing).
	grace time.Duration
}

// rolled is what one pass did, for metrics and the next timer.
type rolled struct {
	Objects int
	Bytes   int64
	Events  int
	// Lags are, per object, commit time minus the oldest publish time in it.
	Lags []time.Duration
	// NextDue is when the earliest still-open window may be rolled; zero
	// when nothing is left in staging.
	NextDue time.Time
}

// manifest records a roll in progress, so a crash between writing the final
// object and removing its parts is finished, not rolled a second time.
type manifest struct {
	Final string   `json:"final"`
	Parts []string `json:"parts"`
}

// rollShard rolls every window of shard that closed (end + grace) by now.
// It stops at the first storage error; what is left stays staged and is
// rolled by the next pass.
func (r *roller) rollShard(ctx context.Context, shard int, now time.Time) (rolled, error) {
	var res rolled
	names, err := r.st.list(ctx, r.l.shardDir(shard)+"*/*")
	if err != nil {
		return res, err
	}
	staged, err := r.l.groupStaged(shard, names)
	if err != nil {
		return res, err
	}
	for _, sw := range staged {
		due := r.l.end(sw.Window).Add(r.grace)
		if now.Before(due) {
			if res.NextDue.IsZero() || due.Before(res.NextDue) {
				res.NextDue = due
			}
			continue
		}
		if err := r.rollWindow(ctx, sw, shard, now, &res); err != nil {
			return res, fmt.Errorf("lakewriter: roll shard %02d window %s: %w", shard, windowID(sw.Window), err)
		}
	}
	// A window's folder goes only well after its roll: a late bundle may
	// still be creating it to stage a part.
	r.st.pruneDirs(r.l.shardDir(shard), func(base string) bool {
		w, err := parseWindowID(base)
		return err == nil && now.After(r.l.end(w).Add(r.grace+r.l.Interval))
	})
	return res, nil
}

func (r *roller) rollWindow(ctx context.Context, sw stagedWindow, shard int, now time.Time, res *rolled) error {
	parts := sw.Parts
	if sw.Manifest {
		rest, err := r.finishManifest(ctx, sw, shard, now, res)
		if err != nil {
			return err
		}
		parts = rest
	}
	if len(parts) == 0 {
		return nil
	}
	next, err := r.nextIndex(ctx, sw.Window, shard)
	if err != nil {
		return err
	}
	for _, group := range plan(parts, r.maxBytes) {
		m := manifest{Final: r.l.finalName(sw.Window, shard, next)}
		for _, p := range group {
			m.Parts = append(m.Parts, p.Name)
		}
		body, err := json.Marshal(m)
		if err != nil {
			return err
		}
		if err := r.st.write(ctx, r.l.manifestName(sw.Window, shard), func(w io.Writer) error {
			_, err := w.Write(body)
			return err
		}); err != nil {
			return err
		}
		if err := r.commit(ctx, m, group, r.l.manifestName(sw.Window, shard), now, res); err != nil {
			return err
		}
		next++
	}
	return nil
}

// finishManifest completes the roll a previous pass began, and returns the
// parts it did not cover.
func (r *roller) finishManifest(ctx context.Context, sw stagedWindow, shard int, now time.Time, res *rolled) ([]partMeta, error) {
	name := r.l.manifestName(sw.Window, shard)
	body, err := r.st.read(ctx, name)
	if err != nil {
		return nil, err
	}
	var m manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", name, err)
	}
	staged := map[string]partMeta{}
	for _, p := range sw.Parts {
		staged[p.Name] = p
	}
	var group []partMeta
	for _, n := range m.Parts {
		if p, ok := staged[n]; ok {
			group = append(group, p)
			delete(staged, n)
		}
	}
	switch {
	case len(group) == len(m.Parts):
		// The final object may or may not have been written: write it again,
		// from the same parts, to the same name.
		if err := r.commit(ctx, m, group, name, now, res); err != nil {
			return nil, err
		}
	default:
		// Parts are removed only after the final object is written, so it
		// exists; finish the clean-up.
		if err := r.cleanup(ctx, group, name); err != nil {
			return nil, err
		}
	}
	var rest []partMeta
	for _, p := range sw.Parts {
		if _, ok := staged[p.Name]; ok {
			rest = append(rest, p)
		}
	}
	return rest, nil
}

// commit writes m.Final as the concatenation of its parts (each a complete
// gzip member, so the whole is one valid gzip stream), then removes the
// parts and the manifest.
func (r *roller) commit(ctx context.Context, m manifest, group []partMeta, manifestName string, now time.Time, res *rolled) error {
	if err := r.st.write(ctx, m.Final, func(w io.Writer) error {
		for _, p := range group {
			if _, err := r.st.copyTo(ctx, w, p.Name); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	var oldest int64
	for _, p := range group {
		res.Bytes += p.Bytes
		res.Events += p.Events
		if oldest == 0 || (p.MinPublish > 0 && p.MinPublish < oldest) {
			oldest = p.MinPublish
		}
	}
	res.Objects++
	if oldest > 0 {
		res.Lags = append(res.Lags, now.Sub(time.UnixMilli(oldest)))
	}
	return r.cleanup(ctx, group, manifestName)
}

func (r *roller) cleanup(ctx context.Context, group []partMeta, manifestName string) error {
	for _, p := range group {
		if err := r.st.remove(ctx, p.Name); err != nil {
			return err
		}
	}
	return r.st.remove(ctx, manifestName)
}

// nextIndex is the roll index after the last final object of the window.
func (r *roller) nextIndex(ctx context.Context, w window, shard int) (int, error) {
	names, err := r.st.list(ctx, r.l.finalGlob(w, shard))
	if err != nil {
		return 0, err
	}
	next := 0
	for _, n := range names {
		if i := rollIndex(n, w, shard); i >= next {
			next = i + 1
		}
	}
	return next, nil
}
