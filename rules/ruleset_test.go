package rules

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseYAMLAndJSONGiveTheSameRuleSet(t *testing.T) {
	b, err := os.ReadFile("../testdata/rulesets/game.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fromYAML, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	js, err := fromYAML.JSON()
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := Parse(js)
	if err != nil {
		t.Fatalf("parse own JSON: %v", err)
	}
	if !reflect.DeepEqual(fromYAML, fromJSON) {
		t.Fatalf("YAML and JSON forms differ:\n%+v\n%+v", fromYAML, fromJSON)
	}
	if len(fromYAML.Segments) < 10 || len(fromYAML.Rules) < 10 || len(fromYAML.Partners) != 3 {
		t.Fatalf("game.yaml parsed short: %d segments, %d rules, %d partners", len(fromYAML.Segments), len(fromYAML.Rules), len(fromYAML.Partners))
	}
	var clicks *Rule
	for i := range fromYAML.Rules {
		if fromYAML.Rules[i].ID == "clicks-ads" {
			clicks = &fromYAML.Rules[i]
		}
	}
	if clicks == nil || clicks.Segment != "ad-clicker" || !reflect.DeepEqual(clicks.Events, []string{"user-clicked-on-ad"}) {
		t.Fatalf("rule clicks-ads = %+v", clicks)
	}
}

func TestParseRefusesBadDocuments(t *testing.T) {
	for name, doc := range map[string]string{
		"empty":         "  \n",
		"unknown field": "segments: []\nrules:\n  - id: r\n    segmnet: x\n",
		"wrong type":    `{"segments": {"id": "x"}}`,
		"not yaml":      "segments: [\n",
		"trailing":      `{"segments": []} {"rules": []}`,
	} {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("%s: Parse accepted %q", name, doc)
		}
	}
}

func TestParseTTL(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"720h":  720 * time.Hour,
		"30d":   30 * 24 * time.Hour,
		"1d12h": 36 * time.Hour,
		"90m":   90 * time.Minute,
	} {
		got, err := ParseTTL(in)
		if err != nil || got != want {
			t.Errorf("ParseTTL(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0d", "-1h", "30 days", "d", "3dx"} {
		if d, err := ParseTTL(in); err == nil {
			t.Errorf("ParseTTL(%q) = %v, want an error", in, d)
		} else if in != "" && !strings.Contains(err.Error(), in) {
			t.Errorf("ParseTTL(%q) error %q does not quote the input", in, err)
		}
	}
}

func TestMergePolicyDefaults(t *testing.T) {
	if p := (Segment{ID: "a"}).MergePolicy(); p != MergeAppend {
		t.Errorf("ungrouped default = %s", p)
	}
	if p := (Segment{ID: "a", Group: "g"}).MergePolicy(); p != MergeOverwrite {
		t.Errorf("grouped default = %s", p)
	}
}
