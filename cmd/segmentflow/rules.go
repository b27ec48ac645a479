package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/segmentflow/segmentflow/event"
	"github.com/segmentflow/segmentflow/rules"
)

const rulesUsage = `Usage:
  segmentflow rules check FILE
      compile a rule set (JSON or YAML); print every problem and exit 1, or a summary and exit 0
  segmentflow rules eval --rules FILE [--user USERS.json] [--now RFC3339] [EVENTS.ndjson]
      classify events (normalized or Segment format, one JSON per line; stdin without a file)
      into one profile per user, printed as Profile API JSON lines sorted by user id
  segmentflow rules [serve flags]
      the rules repository REST API and console
`

// runRules dispatches the rule-author tools; anything else is the rules
// repository service.
func runRules(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "check":
			return runRulesCheck(args[1:], stdout, stderr)
		case "eval":
			return runRulesEval(ctx, args[1:], stdout, stderr)
		case "help":
			fmt.Fprint(stdout, rulesUsage)
			return nil
		}
	}
	return runRulesServe(ctx, args, stdout, stderr)
}

func runRulesCheck(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rules check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	version := fs.Int64("version", 1, "rule-set version to compile as")
	fs.Usage = func() { fmt.Fprint(stderr, rulesUsage) }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	file := fs.Arg(0)
	eng, err := loadRules(file, *version)
	if err != nil {
		var ce *rules.CompileError
		if errors.As(err, &ce) {
			for _, p := range ce.Problems {
				fmt.Fprintf(stdout, "%s: %s\n", file, p)
			}
			fmt.Fprintf(stdout, "%s: %d problem(s)\n", file, len(ce.Problems))
		} else {
			fmt.Fprintf(stdout, "%s: %v\n", file, err)
		}
		return exitError{1}
	}
	rs := eng.RuleSet()
	names, anyEvent := eng.EventNames()
	extra := ""
	if anyEvent {
		extra = ", some rules for any event"
	}
	fmt.Fprintf(stdout, "%s: ok: %d segments, %d rules, %d partners; rules indexed under %d event names%s\n",
		file, len(rs.Segments), len(rs.Rules), len(rs.Partners), len(names), extra)
	return nil
}

func loadRules(file string, version int64) (*rules.Engine, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	rs, err := rules.Parse(b)
	if err != nil {
		return nil, err
	}
	return rules.Compile(rs, version)
}

// evalProfile is one user's running state in `rules eval`.
type evalProfile struct {
	state   rules.State
	updated time.Time
	version int64
}

func runRulesEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rules eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rulesFile := fs.String("rules", "", "rule-set file (JSON or YAML), required")
	usersFile := fs.String("user", "", "JSON object of users by id, each {\"traits\":{...},\"stats\":{...}}")
	nowFlag := fs.String("now", "", "the rules' `now` (RFC 3339); default: the latest event time seen so far")
	version := fs.Int64("version", 1, "rule-set version stamped on matches")
	fs.Usage = func() { fmt.Fprint(stderr, rulesUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rulesFile == "" || fs.NArg() > 1 {
		fs.Usage()
		return errUsage
	}
	var fixedNow time.Time
	if *nowFlag != "" {
		t, err := time.Parse(time.RFC3339Nano, *nowFlag)
		if err != nil {
			return fmt.Errorf("%w: --now %q: want RFC 3339", errUsage, *nowFlag)
		}
		fixedNow = t
	}
	eng, err := loadRules(*rulesFile, *version)
	if err != nil {
		return fmt.Errorf("load %s: %w", *rulesFile, err)
	}
	users := map[string]rules.User{}
	if *usersFile != "" {
		b, err := os.ReadFile(*usersFile)
		if err != nil {
			return fmt.Errorf("read users: %w", err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&users); err != nil {
			return fmt.Errorf("users %s: %w", *usersFile, err)
		}
	}
	in := io.Reader(os.Stdin)
	src := "stdin"
	if fs.NArg() == 1 && fs.Arg(0) != "-" {
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			return fmt.Errorf("open events: %w", err)
		}
		defer f.Close()
		in, src = f, fs.Arg(0)
	}

	profiles := map[string]*evalProfile{}
	var latest time.Time
	var total rules.EvalStats
	bad := 0
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		ev, err := event.FromLine(line)
		if err != nil {
			bad++
			fmt.Fprintf(stderr, "%s:%d: skipped: %v\n", src, n, err)
			continue
		}
		at := ev.EventTime
		if at.After(latest) {
			latest = at
		}
		now := latest
		if !fixedNow.IsZero() {
			now = fixedNow
		}
		id := ev.UserKey()
		p := profiles[id]
		if p == nil {
			p = &evalProfile{state: rules.State{Segments: map[string]rules.Membership{}}}
			profiles[id] = p
		}
		u := users[id]
		matches, st := eng.Evaluate(&ev, &u, now)
		total.Add(st)
		if eng.Merge(&p.state, matches, now) {
			p.version++
			if at.After(p.updated) {
				p.updated = at
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", src, err)
	}
	now := latest
	if !fixedNow.IsZero() {
		now = fixedNow
	}
	ids := make([]string, 0, len(profiles))
	for id := range profiles {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	enc := json.NewEncoder(stdout)
	for _, id := range ids {
		p := profiles[id]
		prof := rules.Profile{UserID: id, Segments: eng.View(p.state, now), UpdatedAt: p.updated, Version: p.version}
		if err := enc.Encode(prof.Doc()); err != nil {
			return fmt.Errorf("write profile: %w", err)
		}
	}
	fmt.Fprintf(stderr, "rules eval: %d users; rules evaluated %d, matched %d, failed at run time %d; %d bad line(s)\n",
		len(ids), total.Evaluated, total.Matched, total.Errors, bad)
	if bad > 0 {
		return exitError{1}
	}
	return nil
}
