package lakewriter

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestNames(t *testing.T) {
	l := layout{Dest: "gs://b/raw/", Staging: "gs://b/staging/lake/raw/", Interval: 10 * time.Minute}
	w := l.window(time.Date(2026, 12, 2, 8, 17, 31, 5, time.FixedZone("x", 3600)))
	if got := l.finalName(w, 3, 0); got != "gs://b/raw/2026/12/02/07/071000-03.json.gz" {
		t.Errorf("final name %s", got)
	}
	if got := l.finalName(w, 3, 2); got != "gs://b/raw/2026/12/02/07/071000-03-2.json.gz" {
		t.Errorf("final name %s", got)
	}
	for name, want := range map[string]int{
		l.finalName(w, 3, 0): 0, l.finalName(w, 3, 12): 12, l.finalName(w, 4, 0): -1,
		"gs://b/raw/2026/12/02/07/071000-03-x.json.gz": -1,
	} {
		if got := rollIndex(name, w, 3); got != want {
			t.Errorf("rollIndex(%s) = %d, want %d", name, got, want)
		}
	}
	created := time.Unix(1764662251, 123)
	p := l.partName(w, 3, created, "abcd", 7, 1234, 1764662250000)
	pm, ok := parsePartName(p)
	if !ok || pm.Events != 7 || pm.Bytes != 1234 || pm.MinPublish != 1764662250000 || pm.Name != p {
		t.Fatalf("parsePartName(%s) = %+v, %v", p, pm, ok)
	}
	if !strings.HasPrefix(p, "gs://b/staging/lake/raw/03/20261202T071000Z/") {
		t.Errorf("part %s not in its window folder", p)
	}
	sw, err := l.groupStaged(3, []string{p, l.manifestName(w, 3), l.windowDir(w, 3) + "junk.tmp-1", "gs://b/elsewhere/x"})
	if err != nil || len(sw) != 1 || !sw[0].Manifest || len(sw[0].Parts) != 1 || !sw[0].Window.Start.Equal(w.Start) {
		t.Fatalf("groupStaged = %+v, %v", sw, err)
	}
}

func TestPlan(t *testing.T) {
	parts := []partMeta{{Bytes: 4}, {Bytes: 4}, {Bytes: 3}, {Bytes: 20}, {Bytes: 1}}
	var sizes [][]int64
	for _, g := range plan(parts, 10) {
		var s []int64
		for _, p := range g {
			s = append(s, p.Bytes)
		}
		sizes = append(sizes, s)
	}
	if got := fmt.Sprint(sizes); got != "[[4 4] [3] [20] [1]]" {
		t.Fatalf("plan = %s, want [[4 4] [3] [20] [1]]", got)
	}
}

func TestLakeLine(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":1}`:         `{"a":1}`,
		"{\n \"a\": 1\n}": `{"a":1}`,
		`{"a":`:           "error",
		"  ":              "error",
	} {
		got, err := lakeLine([]byte(in))
		if (err != nil) != (want == "error") || (err == nil && string(got) != want) {
			t.Errorf("lakeLine(%q) = %q, %v; want %s", in, got, err, want)
		}
	}
}
