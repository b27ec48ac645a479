package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const (
	gameRules   = "../../testdata/rulesets/game.yaml"
	sampleUsers = "../../testdata/users/sample.json"
	sampleEvts  = "../../testdata/events/sample.ndjson"
)

// segmentflow runs the binary's entry point as a rule author's CI would
// run the command, and returns its exit status and output.
func segmentflow(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = realMain(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestRulesCheckValidFile(t *testing.T) {
	code, out, errOut := segmentflow(t, "rules", "check", gameRules)
	if code != 0 {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 {
		t.Fatalf("want a one-line summary, got %q", out)
	}
	want := regexp.MustCompile(`^\S+game\.yaml: ok: 17 segments, 17 rules, 3 partners; rules indexed under 6 event names, some rules for any event$`)
	if !want.MatchString(lines[0]) {
		t.Errorf("summary %q does not match %s", lines[0], want)
	}
}

func TestRulesCheckInvalidFiles(t *testing.T) {
	// Each file's problems, as "rule id at line:column" (or the segment or
	// partner they are about) and a piece of the message.
	for file, want := range map[string][]string{
		"type-errors.yaml": {
			`rule "misspelt-field" at 1:17: undefined field 'ads_watchd'`,
			`rule "string-vs-int" at 1:12: found no matching overload for '_>_'`,
			`rule "not-bool" at 1:31: when must be a bool expression, this one gives int`,
		},
		"syntax-error.yaml":  {`rule "plays-cards" at 2:35: Syntax error`},
		"too-expensive.yaml": {`rule "nested-loops" at 1:21: expression too expensive`},
		"never-matches.yaml": {`rule "contradiction" at 1:12: can never match`},
		"cycle.yaml":         {`segment "a": cycle in parent hierarchy: a -> b -> c -> a`},
		"references.yaml":    {`rule "r1": unknown segment "engagd"`, `partner "dsp-a": unknown segment "whale"`, `segment "engaged": duplicate segment id`},
		"unknown-field.yaml": {`rules: parse: json: unknown field "segmnet"`},
	} {
		t.Run(file, func(t *testing.T) {
			path := filepath.Join("../../testdata/rulesets/invalid", file)
			code, out, _ := segmentflow(t, "rules", "check", path)
			if code != 1 {
				t.Fatalf("exit %d, want 1; output %q", code, out)
			}
			for _, w := range want {
				if !strings.Contains(out, path+": "+w) {
					t.Errorf("output lacks %q:\n%s", path+": "+w, out)
				}
			}
			if strings.Contains(out, ": ok:") {
				t.Errorf("an invalid file got a summary:\n%s", out)
			}
		})
	}
}

func TestRulesCheckUsage(t *testing.T) {
	if code, _, _ := segmentflow(t, "rules", "check"); code != 2 {
		t.Errorf("no file: exit %d, want 2", code)
	}
	if code, out, _ := segmentflow(t, "rules", "check", "no-such-file.yaml"); code != 1 || !strings.Contains(out, "no-such-file.yaml") {
		t.Errorf("missing file: exit %d, output %q", code, out)
	}
}

type profileLine struct {
	UserID   string `json:"user_id"`
	Segments []struct {
		ID         string `json:"id"`
		AssignedAt string `json:"assigned_at"`
	} `json:"segments"`
	UpdatedAt string `json:"updated_at"`
	Version   int64  `json:"version"`
}

// evalProfiles decodes eval's output, one Profile API document a line, and
// gives each user's segments as "id@assigned_at" in output order.
func evalProfiles(t *testing.T, out string) (order []string, segs map[string][]string) {
	t.Helper()
	segs = map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var p profileLine
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		order = append(order, p.UserID)
		segs[p.UserID] = []string{}
		for _, s := range p.Segments {
			segs[p.UserID] = append(segs[p.UserID], s.ID+"@"+s.AssignedAt)
		}
	}
	return order, segs
}

func TestRulesEvalSample(t *testing.T) {
	code, out, errOut := segmentflow(t, "rules", "eval", "--rules", gameRules, "--user", sampleUsers, sampleEvts)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	order, segs := evalProfiles(t, out)
	if got := strings.Join(order, ","); got != "alice,anon-7f3a,bob,carol,dave" {
		t.Errorf("profiles in order %s, want sorted by user id", got)
	}
	// What the rule set says of the sample day (see game.yaml and the
	// users' stats), segments sorted by id, each assigned at the time of
	// the first event that matched it.
	want := map[string][]string{
		// Identify at 9:00 (age 26, iOS); engaged from cards_played 7; the
		// ad click after four ads watched implies engaged too.
		"alice": {"active-player@2026-11-30T09:00:05Z", "ad-clicker@2026-11-30T09:04:40Z", "ad-watcher@2026-11-30T09:03:00Z",
			"age-25-34@2026-11-30T09:00:00Z", "engaged@2026-11-30T09:01:00Z", "os-ios@2026-11-30T09:00:00Z"},
		// Never seen by the stats pipeline: a new player.
		"anon-7f3a": {"active-player@2026-11-30T13:00:00Z", "new-player@2026-11-30T13:00:00Z", "os-ios@2026-11-30T13:00:00Z"},
		// The 2500 stake makes bob a whale (the duplicate delivery changes nothing).
		"bob": {"active-player@2026-11-30T10:00:00Z", "age-35-plus@2026-11-30T10:00:00Z", "engaged@2026-11-30T10:01:00Z",
			"os-android@2026-11-30T10:00:00Z", "regular-player@2026-11-30T10:00:00Z", "whale@2026-11-30T10:05:00Z"},
		// iPadOS counts as iOS; quick skips make an ad skipper, and nearly all skips ad averse.
		"carol": {"active-player@2026-11-30T11:00:03Z", "ad-averse@2026-11-30T11:02:00Z", "ad-skipper@2026-11-30T11:02:00Z",
			"age-13-17@2026-11-30T11:00:00Z", "new-player@2026-11-30T11:00:03Z", "os-ios@2026-11-30T11:00:00Z"},
		"dave": {"active-player@2026-11-30T12:00:00Z", "casual@2026-11-30T12:00:00Z", "os-android@2026-11-30T12:00:00Z",
			"returning-player@2026-11-30T12:00:00Z"},
	}
	for user, w := range want {
		if got := strings.Join(segs[user], " "); got != strings.Join(w, " ") {
			t.Errorf("%s:\n got %s\nwant %s", user, got, strings.Join(w, " "))
		}
	}
	if !strings.Contains(errOut, "rules eval: 5 users;") || !strings.Contains(errOut, "failed at run time 0; 0 bad line(s)") {
		t.Errorf("summary on stderr: %q", errOut)
	}
}

func TestRulesEvalNowAndUsers(t *testing.T) {
	// Ten days later the 7-day ttls (active-player, ad-watcher) have run
	// out; the 30-day ad-clicker and the groups remain.
	code, out, errOut := segmentflow(t, "rules", "eval", "--rules", gameRules, "--user", sampleUsers, "--now", "2026-12-10T00:00:00Z", sampleEvts)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	_, segs := evalProfiles(t, out)
	if got, want := strings.Join(segs["alice"], " "), "ad-clicker@2026-11-30T09:04:40Z age-25-34@2026-11-30T09:00:00Z engaged@2026-11-30T09:01:00Z os-ios@2026-11-30T09:00:00Z"; got != want {
		t.Errorf("alice at --now:\n got %s\nwant %s", got, want)
	}

	// --now is also the rules' now: in 2040 alice (born 2000-05-17) is 39.
	code, out, errOut = segmentflow(t, "rules", "eval", "--rules", gameRules, "--user", sampleUsers, "--now", "2040-01-01T00:00:00Z", sampleEvts)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	_, segs = evalProfiles(t, out)
	if got, want := strings.Join(segs["alice"], " "), "age-35-plus@2026-11-30T09:00:00Z engaged@2026-11-30T09:01:00Z os-ios@2026-11-30T09:00:00Z"; got != want {
		t.Errorf("alice in 2040:\n got %s\nwant %s", got, want)
	}

	// Without --user every user is one the platform has never seen: no
	// traits (no age band), zero stats (a new player, not engaged).
	code, out, errOut = segmentflow(t, "rules", "eval", "--rules", gameRules, sampleEvts)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	_, segs = evalProfiles(t, out)
	if got, want := strings.Join(segs["alice"], " "), "active-player@2026-11-30T09:00:05Z new-player@2026-11-30T09:00:05Z os-ios@2026-11-30T09:00:00Z"; got != want {
		t.Errorf("alice without --user:\n got %s\nwant %s", got, want)
	}
}

func TestRulesEvalStdinAndBadLines(t *testing.T) {
	// Events from stdin; a line that is not an event is reported with its
	// line number and makes the command exit 1 after printing the rest.
	in := filepath.Join(t.TempDir(), "events.ndjson")
	lines := `{"type":"track","event":"user-opened-app","userId":"zed","messageId":"m1","timestamp":"2026-11-30T08:00:00Z","context":{"os":{"name":"Android"}}}
not json
{"type":"identify","userId":"zed","messageId":"m2","timestamp":"2026-11-30T08:01:00Z"}
`
	if err := os.WriteFile(in, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stdin := os.Stdin
	os.Stdin = f
	t.Cleanup(func() { os.Stdin = stdin })

	code, out, errOut := segmentflow(t, "rules", "eval", "--rules", gameRules)
	if code != 1 {
		t.Fatalf("exit %d, want 1 for a bad line; stderr %q", code, errOut)
	}
	if !strings.Contains(errOut, "stdin:2: skipped:") || !strings.Contains(errOut, "1 bad line(s)") {
		t.Errorf("stderr does not report line 2: %q", errOut)
	}
	_, segs := evalProfiles(t, out)
	if got, want := strings.Join(segs["zed"], " "), "active-player@2026-11-30T08:00:00Z new-player@2026-11-30T08:00:00Z os-android@2026-11-30T08:00:00Z"; got != want {
		t.Errorf("zed:\n got %s\nwant %s", got, want)
	}
}

func TestRulesEvalUsage(t *testing.T) {
	for _, args := range [][]string{
		{"rules", "eval", sampleEvts},                                   // no --rules
		{"rules", "eval", "--rules", gameRules, "--now", "yesterday"},   // bad --now
		{"rules", "eval", "--rules", gameRules, sampleEvts, sampleEvts}, // two event files
	} {
		if code, _, _ := segmentflow(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
