package rules

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
)

// Cost limits of one rule. The estimate bounds the worst case the checker
// can prove (maps and lists of an event are bounded by the collector's
// limits, see sizeEstimator); the runtime limit stops what the estimate
// cannot see, so one pathological rule cannot stall the classifier.
const (
	// MaxEstimatedCost refuses a rule at compile time.
	MaxEstimatedCost = 100_000
	// MaxRuntimeCost aborts one evaluation (counted as an error).
	MaxRuntimeCost = 100_000
	// cheapRuleCost: rules estimated at most this, or linear in their
	// inputs (linearCost), are not cost-tracked at run time.
	cheapRuleCost = 1_000
)

// Engine is a compiled rule-set version. It is immutable and safe for
// concurrent use: the classifier shares one Engine across all bundles until
// a new version is published.
type Engine struct {
	version  int64
	rs       *RuleSet
	env      *cel.Env
	types    *ruleTypes
	segments map[string]*segmentInfo
	rules    []*compiledRule
	// byName holds, per event name, the rules that may match it (the
	// pre-filtered or derived ones plus those for any event), in rule-set
	// order; anyName holds the rules for any event, used for names no rule
	// mentions.
	byName  map[string][]*compiledRule
	anyName []*compiledRule
	// batches run byName's and anyName's lists as one program each.
	batches  map[string]*batch
	anyBatch *batch
	partners []partnerInfo
}

type segmentInfo struct {
	Segment
	ttl time.Duration
	// exclusive: a member of Group whose winner is the latest match.
	exclusive bool
	// ancestors from the parent up to the root.
	ancestors []string
	// tracksLast: LastMatchedAt (and ExpiresAt) matter for this segment.
	tracksLast bool
}

type compiledRule struct {
	Rule
	prog cel.Program
	// names the rule can match; nil means any event.
	names []string
	// residual is the expression for events the index gives the rule: When
	// without the conjuncts that test the event name (see residual()).
	residual string
	// costly rules carry a runtime cost limit and are run on their own.
	costly bool
}

type partnerInfo struct {
	Partner
	segments map[string]bool
}

// Compile checks a rule set and builds its programs. Every problem is
// reported at once in a *CompileError.
func Compile(rs *RuleSet, version int64) (*Engine, error) {
	if rs == nil {
		return nil, &CompileError{Problems: []Problem{{Message: "no rule set"}}}
	}
	env, rt, err := newEnv()
	if err != nil {
		return nil, err
	}
	e := &Engine{
		types:    rt,
		version:  version,
		rs:       cloneRuleSet(rs),
		env:      env,
		segments: make(map[string]*segmentInfo, len(rs.Segments)),
		byName:   map[string][]*compiledRule{},
	}
	var problems []Problem
	problems = append(problems, e.compileSegments()...)
	problems = append(problems, e.compileRules()...)
	problems = append(problems, e.compilePartners()...)
	if len(problems) > 0 {
		return nil, &CompileError{Problems: problems}
	}
	if err := e.buildIndex(); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Engine) compileSegments() []Problem {
	var ps []Problem
	groupPolicy := map[string]string{}
	for i := range e.rs.Segments {
		s := e.rs.Segments[i]
		bad := func(format string, args ...any) {
			ps = append(ps, Problem{Segment: s.ID, Message: fmt.Sprintf(format, args...)})
		}
		if s.ID == "" {
			bad("segment #%d has no id", i+1)
			continue
		}
		if _, dup := e.segments[s.ID]; dup {
			bad("duplicate segment id")
			continue
		}
		info := &segmentInfo{Segment: s}
		e.segments[s.ID] = info
		switch s.Merge {
		case "", MergeAppend, MergeOverwrite:
		default:
			bad("merge %q: want overwrite or append", s.Merge)
		}
		if s.Group != "" && s.MergePolicy() == MergeAppend {
			bad("group %q needs merge: overwrite (a group holds one segment at a time)", s.Group)
		}
		if s.Group == "" && s.Merge == MergeOverwrite {
			bad("merge: overwrite needs a group to overwrite within")
		}
		if s.Group != "" {
			groupPolicy[s.Group] = MergeOverwrite
			info.exclusive = true
		}
		ttl, err := s.TTLDuration()
		if err != nil {
			bad("%v", err)
		}
		info.ttl = ttl
		info.tracksLast = info.exclusive || ttl > 0
		if s.Parent == s.ID {
			bad("segment is its own parent")
		}
	}
	// Parents: known, and no cycles. Walking each chain with a visited set
	// finds a cycle from any of its members, so every member is reported.
	for _, s := range e.rs.Segments {
		info, ok := e.segments[s.ID]
		if !ok || info.Segment.ID != s.ID || s.Parent == "" || s.Parent == s.ID {
			continue
		}
		if _, ok := e.segments[s.Parent]; !ok {
			ps = append(ps, Problem{Segment: s.ID, Message: fmt.Sprintf("unknown parent segment %q", s.Parent)})
			continue
		}
		seen := map[string]bool{s.ID: true}
		var chain []string
		for p := s.Parent; p != ""; {
			if seen[p] {
				ps = append(ps, Problem{Segment: s.ID, Message: fmt.Sprintf("cycle in parent hierarchy: %s -> %s", joinChain(s.ID, chain), p)})
				chain = nil
				break
			}
			seen[p] = true
			chain = append(chain, p)
			pi, ok := e.segments[p]
			if !ok {
				break // reported on the segment that names it
			}
			p = pi.Parent
		}
		info.ancestors = chain
	}
	return ps
}

func joinChain(first string, rest []string) string {
	s := first
	for _, r := range rest {
		s += " -> " + r
	}
	return s
}

func (e *Engine) compileRules() []Problem {
	var ps []Problem
	seen := map[string]bool{}
	for i := range e.rs.Rules {
		r := e.rs.Rules[i]
		bad := func(format string, args ...any) {
			ps = append(ps, Problem{Rule: r.ID, Message: fmt.Sprintf(format, args...)})
		}
		if r.ID == "" {
			bad("rule #%d has no id", i+1)
			continue
		}
		if seen[r.ID] {
			bad("duplicate rule id")
			continue
		}
		seen[r.ID] = true
		if r.Segment == "" {
			bad("no segment")
		} else if _, ok := e.segments[r.Segment]; !ok {
			bad("unknown segment %q", r.Segment)
		}
		for _, n := range r.Events {
			if n == "" {
				bad("empty event name in events")
			}
		}
		if r.When == "" {
			bad("empty when expression")
			continue
		}
		cr, exprProblems := e.compileExpr(r)
		ps = append(ps, exprProblems...)
		if cr == nil {
			continue
		}
		e.rules = append(e.rules, cr)
	}
	return ps
}

// compileExpr type-checks, cost-checks and plans one rule's expression.
func (e *Engine) compileExpr(r Rule) (*compiledRule, []Problem) {
	ast, iss := e.env.Compile(r.When)
	if iss != nil && iss.Err() != nil {
		var ps []Problem
		for _, ce := range iss.Errors() {
			ps = append(ps, Problem{Rule: r.ID, Line: ce.Location.Line(), Column: ce.Location.Column() + 1, Message: ce.Message})
		}
		return nil, ps
	}
	at := func(msg string) []Problem {
		loc := ast.NativeRep().SourceInfo().GetStartLocation(ast.NativeRep().Expr().ID())
		line, col := loc.Line(), loc.Column()+1
		if line <= 0 {
			line, col = 1, 1
		}
		return []Problem{{Rule: r.ID, Line: line, Column: col, Message: msg}}
	}
	switch out := ast.OutputType(); {
	case out.IsExactType(types.BoolType), out.IsExactType(types.DynType):
		// dyn (e.g. a bare event.properties.flag) is checked at run time:
		// a non-bool result counts as an error, not a match.
	default:
		return nil, at(fmt.Sprintf("when must be a bool expression, this one gives %s", typeName(out)))
	}
	est, err := e.env.EstimateCost(ast, sizeEstimator{})
	if err != nil {
		return nil, at(fmt.Sprintf("cost estimate: %v", err))
	}
	if est.Max > MaxEstimatedCost {
		return nil, at(fmt.Sprintf("expression too expensive: estimated cost up to %d, limit %d", est.Max, MaxEstimatedCost))
	}
	popts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	costly := est.Max > cheapRuleCost && !linearCost(ast.NativeRep().Expr())
	if costly {
		// Only a rule whose cost grows faster than its input (a comprehension
		// over a trait list, say) can run away at run time, when an input is
		// larger than the collector's limits assumed. Tracking cost halves
		// evaluation speed and keeps a rule out of the batches, so cheap and
		// linear rules go without.
		popts = append(popts, cel.CostLimit(MaxRuntimeCost))
	}
	prog, err := e.env.Program(ast, popts...)
	if err != nil {
		return nil, at(fmt.Sprintf("plan: %v", err))
	}
	cr := &compiledRule{Rule: r, prog: prog, residual: r.When, costly: costly}
	derived := eventNames(ast.NativeRep().Expr())
	if derived != nil {
		if res, ok := residual(ast); ok {
			cr.residual = res
		}
	}
	switch {
	case len(r.Events) > 0 && derived != nil:
		cr.names = intersect(r.Events, derived)
		if len(cr.names) == 0 {
			return nil, at(fmt.Sprintf("can never match: events %v and the expression's event.name %v have nothing in common", r.Events, derived))
		}
	case len(r.Events) > 0:
		cr.names = dedupSorted(r.Events)
	default:
		cr.names = derived
	}
	return cr, nil
}

func (e *Engine) compilePartners() []Problem {
	var ps []Problem
	seen := map[string]bool{}
	for i, p := range e.rs.Partners {
		bad := func(format string, args ...any) {
			ps = append(ps, Problem{Partner: p.ID, Message: fmt.Sprintf(format, args...)})
		}
		if p.ID == "" {
			bad("partner #%d has no id", i+1)
			continue
		}
		if seen[p.ID] {
			bad("duplicate partner id")
			continue
		}
		seen[p.ID] = true
		pi := partnerInfo{Partner: p, segments: map[string]bool{}}
		for _, s := range p.Segments {
			if _, ok := e.segments[s]; !ok {
				bad("unknown segment %q", s)
			}
			pi.segments[s] = true
		}
		switch p.DeliveryKind() {
		case PartnerHTTP:
			if p.Endpoint == "" {
				bad("http partner needs an endpoint")
			}
		case PartnerFileDrop:
			if p.Path == "" {
				bad("filedrop partner needs a path")
			}
		default:
			bad("kind %q: want http or filedrop", p.Kind)
		}
		e.partners = append(e.partners, pi)
	}
	return ps
}

// buildIndex files each rule under the event names it can match. A rule for
// any event is appended to every name's list so one lookup gives the whole,
// ordered candidate list, which is then planned as one batch.
func (e *Engine) buildIndex() error {
	for _, r := range e.rules {
		if r.names == nil {
			e.anyName = append(e.anyName, r)
			continue
		}
		for _, n := range r.names {
			e.byName[n] = nil
		}
	}
	for _, r := range e.rules {
		for n := range e.byName {
			if r.names == nil || slices.Contains(r.names, n) {
				e.byName[n] = append(e.byName[n], r)
			}
		}
	}
	benv, err := batchEnv(e.env)
	if err != nil {
		return fmt.Errorf("rules: batch environment: %w", err)
	}
	e.batches = make(map[string]*batch, len(e.byName))
	for n, rules := range e.byName {
		if e.batches[n], err = newBatch(benv, e.types, rules, true); err != nil {
			return err
		}
	}
	// Rules for any event pin no name, so there is nothing to strip.
	e.anyBatch, err = newBatch(benv, e.types, e.anyName, false)
	return err
}

// Version is the rule-set version this engine was compiled from.
func (e *Engine) Version() int64 { return e.version }

// RuleSet is the compiled document (a copy; do not modify).
func (e *Engine) RuleSet() *RuleSet { return e.rs }

// Partners are the partners of the rule set, in document order.
func (e *Engine) Partners() []Partner {
	out := make([]Partner, len(e.partners))
	for i, p := range e.partners {
		out[i] = p.Partner
	}
	return out
}

// Segment looks up a segment of the catalog.
func (e *Engine) Segment(id string) (Segment, bool) {
	s, ok := e.segments[id]
	if !ok {
		return Segment{}, false
	}
	return s.Segment, true
}

// Ancestors are a segment's parent, grandparent, ... up to the root.
func (e *Engine) Ancestors(id string) []string {
	if s, ok := e.segments[id]; ok {
		return slices.Clone(s.ancestors)
	}
	return nil
}

// Interested reports whether some rule may match events of this name, so a
// dispatcher can skip the user lookup for events no rule cares about.
func (e *Engine) Interested(eventName string) bool {
	if len(e.anyName) > 0 {
		return true
	}
	_, ok := e.byName[eventName]
	return ok
}

// EventNames are the names rules are indexed under (sorted), and whether
// some rule matches any event.
func (e *Engine) EventNames() (names []string, anyEvent bool) {
	for n := range e.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, len(e.anyName) > 0
}

func cloneRuleSet(rs *RuleSet) *RuleSet {
	c := &RuleSet{
		Segments: slices.Clone(rs.Segments),
		Rules:    slices.Clone(rs.Rules),
		Partners: slices.Clone(rs.Partners),
	}
	for i := range c.Rules {
		c.Rules[i].Events = slices.Clone(c.Rules[i].Events)
	}
	for i := range c.Partners {
		c.Partners[i].Segments = slices.Clone(c.Partners[i].Segments)
	}
	return c
}

func dedupSorted(xs []string) []string {
	out := slices.Clone(xs)
	sort.Strings(out)
	return slices.Compact(out)
}

func intersect(a, b []string) []string {
	var out []string
	for _, x := range dedupSorted(a) {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
