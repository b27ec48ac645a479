package lakewriter

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// layout names every object the writer touches. Dest and Staging are URLs
// (gs://b/raw/, s3://b/raw/ or a local directory) ending in a slash.
type layout struct {
	Dest     string
	Staging  string
	Interval time.Duration
}

// window is one processing-time window, identified by its start.
type window struct{ Start time.Time }

func (l layout) window(t time.Time) window {
	return window{Start: t.UTC().Truncate(l.Interval)}
}

func (l layout) end(w window) time.Time { return w.Start.Add(l.Interval) }

// windowID is how a window appears in staging paths: sortable and exact.
func windowID(w window) string { return w.Start.UTC().Format("20060102T150405Z") }

func parseWindowID(s string) (window, error) {
	t, err := time.Parse("20060102T150405Z", s)
	if err != nil {
		return window{}, fmt.Errorf("lakewriter: bad window id %q: %w", s, err)
	}
	return window{Start: t.UTC()}, nil
}

// finalPrefix is the hour directory of a window's objects.
func (l layout) finalPrefix(w window) string {
	return l.Dest + w.Start.UTC().Format("2006/01/02/15/")
}

// finalName is the object of roll n of a shard's window.
func (l layout) finalName(w window, shard, n int) string {
	base := fmt.Sprintf("%s-%02d", w.Start.UTC().Format("150405"), shard)
	if n > 0 {
		base += "-" + strconv.Itoa(n)
	}
	return l.finalPrefix(w) + base + ".json.gz"
}

// finalGlob matches every roll of a shard's window.
func (l layout) finalGlob(w window, shard int) string {
	return l.finalPrefix(w) + fmt.Sprintf("%s-%02d*.json.gz", w.Start.UTC().Format("150405"), shard)
}

// rollIndex is n of a final object name (0 for the first roll), or -1 when
// name is not a final object of that window and shard.
func rollIndex(name string, w window, shard int) int {
	base := strings.TrimSuffix(path.Base(name), ".json.gz")
	head := fmt.Sprintf("%s-%02d", w.Start.UTC().Format("150405"), shard)
	switch {
	case base == head:
		return 0
	case strings.HasPrefix(base, head+"-"):
		n, err := strconv.Atoi(base[len(head)+1:])
		if err != nil || n < 1 {
			return -1
		}
		return n
	}
	return -1
}

// shardDir holds the staged parts of one shard, one folder per window.
func (l layout) shardDir(shard int) string {
	return l.Staging + fmt.Sprintf("%02d/", shard)
}

func (l layout) windowDir(w window, shard int) string {
	return l.shardDir(shard) + windowID(w) + "/"
}

func (l layout) manifestName(w window, shard int) string {
	return l.windowDir(w, shard) + "_manifest.json"
}

// partMeta is what a part's name records about it, so the roller can plan a
// roll and report metrics from a listing alone.
type partMeta struct {
	Name   string // full URL
	Events int
	Bytes  int64
	// MinPublish is the oldest publish time among its records (ms).
	MinPublish int64
}

// partName is <created unix ns>-<random>-e<events>-b<bytes>-p<min publish ms>.json.gz:
// created first so parts sort in the order they were written.
func (l layout) partName(w window, shard int, created time.Time, id string, events int, bytes, minPublish int64) string {
	return l.windowDir(w, shard) + fmt.Sprintf("%019d-%s-e%d-b%d-p%d.json.gz", created.UnixNano(), id, events, bytes, minPublish)
}

func parsePartName(name string) (partMeta, bool) {
	base := path.Base(name)
	if !strings.HasSuffix(base, ".json.gz") {
		return partMeta{}, false
	}
	f := strings.Split(strings.TrimSuffix(base, ".json.gz"), "-")
	if len(f) != 5 || len(f[2]) < 2 || len(f[3]) < 2 || len(f[4]) < 2 || f[2][0] != 'e' || f[3][0] != 'b' || f[4][0] != 'p' {
		return partMeta{}, false
	}
	ev, err1 := strconv.Atoi(f[2][1:])
	by, err2 := strconv.ParseInt(f[3][1:], 10, 64)
	mp, err3 := strconv.ParseInt(f[4][1:], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return partMeta{}, false
	}
	return partMeta{Name: name, Events: ev, Bytes: by, MinPublish: mp}, true
}

// stagedWindow is what a listing of a shard's staging folder found for one window.
type stagedWindow struct {
	Window   window
	Parts    []partMeta // sorted by name
	Manifest bool
}

// groupStaged sorts a listing of shardDir into windows. Names that are
// neither parts nor manifests (e.g. a local temporary file) are ignored.
func (l layout) groupStaged(shard int, names []string) ([]stagedWindow, error) {
	byID := map[string]*stagedWindow{}
	dir := l.shardDir(shard)
	for _, n := range names {
		rel, ok := strings.CutPrefix(n, dir)
		if !ok {
			continue
		}
		wid, file, ok := strings.Cut(rel, "/")
		if !ok || strings.Contains(file, "/") {
			continue
		}
		sw := byID[wid]
		if sw == nil {
			w, err := parseWindowID(wid)
			if err != nil {
				continue
			}
			sw = &stagedWindow{Window: w}
			byID[wid] = sw
		}
		if file == "_manifest.json" {
			sw.Manifest = true
			continue
		}
		if pm, ok := parsePartName(n); ok {
			sw.Parts = append(sw.Parts, pm)
		}
	}
	out := make([]stagedWindow, 0, len(byID))
	for _, sw := range byID {
		sort.Slice(sw.Parts, func(i, j int) bool { return sw.Parts[i].Name < sw.Parts[j].Name })
		out = append(out, *sw)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Window.Start.Before(out[j].Window.Start) })
	return out, nil
}

// plan cuts sorted parts into rolls of at most maxBytes each (a single part
// larger than that is a roll of its own).
func plan(parts []partMeta, maxBytes int64) [][]partMeta {
	var rolls [][]partMeta
	var cur []partMeta
	var size int64
	for _, p := range parts {
		if len(cur) > 0 && size+p.Bytes > maxBytes {
			rolls = append(rolls, cur)
			cur, size = nil, 0
		}
		cur = append(cur, p)
		size += p.Bytes
	}
	if len(cur) > 0 {
		rolls = append(rolls, cur)
	}
	return rolls
}

// withSlash makes a directory URL end in exactly one slash.
func withSlash(u string) string {
	return strings.TrimRight(u, "/") + "/"
}
