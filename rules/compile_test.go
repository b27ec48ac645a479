package rules

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func compileFile(t *testing.T, path string) error {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Parse(b)
	if err != nil {
		return err
	}
	_, err = Compile(rs, 7)
	return err
}

func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	var ce *CompileError
	if !errors.As(err, &ce) {
		t.Fatalf("want a *CompileError, got %v", err)
	}
	return ce.Problems
}

// want is a problem expected in a compile error; zero fields are not compared.
type want struct {
	rule, segment, partner string
	line, column           int
	contains               string
}

func (w want) matches(p Problem) bool {
	return (w.rule == "" || w.rule == p.Rule) && (w.segment == "" || w.segment == p.Segment) &&
		(w.partner == "" || w.partner == p.Partner) && (w.line == 0 || w.line == p.Line) &&
		(w.column == 0 || w.column == p.Column) && strings.Contains(p.Message, w.contains)
}

func TestInvalidRuleSetsReportEveryProblemWithItsPosition(t *testing.T) {
	cases := map[string][]want{
		"syntax-error.yaml": {{rule: "plays-cards", line: 2, column: 35, contains: "Syntax error"}},
		"type-errors.yaml": {
			{rule: "misspelt-field", line: 1, column: 17, contains: "undefined field 'ads_watchd'"},
			{rule: "string-vs-int", line: 1, column: 12, contains: "no matching overload"},
			{rule: "not-bool", line: 1, contains: "bool expression, this one gives int"},
		},
		"references.yaml": {
			{segment: "engaged", contains: "duplicate segment id"},
			{segment: "ad-clicker", contains: `unknown parent segment "big-spender"`},
			{segment: "casual", contains: "needs merge: overwrite"},
			{segment: "lapsed", contains: `ttl "30 days"`},
			{rule: "r1", contains: `unknown segment "engagd"`},
			{rule: "r1", contains: "duplicate rule id"},
			{partner: "dsp-a", contains: `unknown segment "whale"`},
			{partner: "drop", contains: "needs a path"},
		},
		"cycle.yaml": {
			{segment: "a", contains: "cycle in parent hierarchy: a -> b -> c -> a"},
			{segment: "b", contains: "cycle"},
			{segment: "c", contains: "cycle"},
		},
		"too-expensive.yaml": {{rule: "nested-loops", line: 1, contains: "too expensive"}},
		"never-matches.yaml": {{rule: "contradiction", contains: "can never match"}},
	}
	for file, wants := range cases {
		t.Run(file, func(t *testing.T) {
			err := compileFile(t, filepath.Join("../testdata/rulesets/invalid", file))
			ps := problemsOf(t, err)
			if len(ps) != len(wants) {
				t.Errorf("got %d problems, want %d:\n%v", len(ps), len(wants), err)
			}
			for _, w := range wants {
				found := false
				for _, p := range ps {
					if w.matches(p) {
						found = true
					}
				}
				if !found {
					t.Errorf("no problem like %+v in:\n%v", w, err)
				}
			}
			// Error() lists every problem, one per line, after a header.
			if got := strings.Count(err.Error(), "\n"); got != len(ps) {
				t.Errorf("Error() has %d problem lines, want %d:\n%s", got, len(ps), err)
			}
		})
	}
}

func TestEveryInvalidFileIsCovered(t *testing.T) {
	files, err := filepath.Glob("../testdata/rulesets/invalid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid rule sets: %v", err)
	}
	for _, f := range files {
		if err := compileFile(t, f); err == nil {
			t.Errorf("%s compiled", f)
		}
	}
}

func TestCompileIndexesRulesByEventName(t *testing.T) {
	rs := &RuleSet{
		Segments: []Segment{{ID: "s"}},
		Rules: []Rule{
			{ID: "listed", Segment: "s", Events: []string{"b", "a", "a"}, When: "true"},
			{ID: "derived-eq", Segment: "s", When: `user.stats.regular_player && "c" == event.name`},
			{ID: "derived-in", Segment: "s", When: `event.name in ["d", "e"] && event.properties.x == 1`},
			{ID: "intersected", Segment: "s", When: `event.name in ["d", "e"] && event.name == "e"`},
			{ID: "or-is-any", Segment: "s", When: `event.name == "f" || event.name == "g"`},
			{ID: "negation-is-any", Segment: "s", When: `event.name != "h"`},
		},
	}
	eng, err := Compile(rs, 1)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, r := range eng.rules {
		got[r.ID] = r.names
	}
	wantNames := map[string][]string{
		"listed": {"a", "b"}, "derived-eq": {"c"}, "derived-in": {"d", "e"}, "intersected": {"e"},
		"or-is-any": nil, "negation-is-any": nil,
	}
	for id, w := range wantNames {
		if strings.Join(got[id], ",") != strings.Join(w, ",") || (w == nil) != (got[id] == nil) {
			t.Errorf("rule %s indexed under %v, want %v", id, got[id], w)
		}
	}
	names, anyEvent := eng.EventNames()
	if strings.Join(names, ",") != "a,b,c,d,e" || !anyEvent {
		t.Errorf("EventNames = %v, %v", names, anyEvent)
	}
	// The index for "e": derived-in, intersected and the two any-event rules, in document order.
	var ids []string
	for _, r := range eng.byName["e"] {
		ids = append(ids, r.ID)
	}
	if strings.Join(ids, ",") != "derived-in,intersected,or-is-any,negation-is-any" {
		t.Errorf(`index["e"] = %v`, ids)
	}
	if !eng.Interested("zzz") {
		t.Error("any-event rules exist, so every name is interesting")
	}
}

func TestInterestedWithoutAnyEventRules(t *testing.T) {
	eng, err := Compile(&RuleSet{
		Segments: []Segment{{ID: "s"}},
		Rules:    []Rule{{ID: "r", Segment: "s", When: `event.name == "user-opened-app"`}},
	}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !eng.Interested("user-opened-app") || eng.Interested("user-skipped-ad") {
		t.Error("Interested does not follow the derived index")
	}
}

func TestGameCatalog(t *testing.T) {
	eng := loadGame(t)
	if got := eng.Ancestors("ad-clicker"); strings.Join(got, ",") != "engaged" {
		t.Errorf("ancestors of ad-clicker = %v", got)
	}
	if s, ok := eng.Segment("whale"); !ok || s.TTL != "30d" {
		t.Errorf("whale = %+v %v", s, ok)
	}
	ps := eng.Partners()
	if len(ps) != 3 || ps[2].DeliveryKind() != PartnerFileDrop || ps[0].DeliveryKind() != PartnerHTTP {
		t.Errorf("partners = %+v", ps)
	}
	if eng.Version() != 1 {
		t.Errorf("version = %d", eng.Version())
	}
}
