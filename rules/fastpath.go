package rules

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
)

// Fast paths of the batches for the two things nearly every rule does:
// read a constant path (user.stats.daily.ads_watched, event.properties.level)
// and compare it with a number or a string. A rule made only of such
// comparisons is decided without the interpreter (fastRule); in the others,
// the planned reads and comparisons take the same shortcuts (memoAttr's
// fast read, cmpNode). All are shortcuts for the common case only: whatever
// they do not recognise (a missing key, a value of another type, NaN) goes
// to the node cel-go planned, so errors and every corner of CEL's semantics
// stay cel-go's. TestFastPathsAgree checks them against the plain programs.

// cmpNode is a planned comparison (==, !=, <, <=, >, >=) whose operands
// are, most of the time, two ints, doubles, strings, bools or timestamps.
// cel-go's goes through the overload's function and Compare, which boxes a
// -1 result: more time than the one Go comparison it comes down to.
type cmpNode struct {
	interpreter.InterpretableCall // the planned call, for everything else
	lhs, rhs                      interpreter.InterpretableV2
	op                            cmpOp
}

type cmpOp uint8

const (
	cmpEq cmpOp = iota
	cmpNe
	cmpLt
	cmpLe
	cmpGt
	cmpGe
)

var comparisons = map[string]cmpOp{
	operators.Equals:        cmpEq,
	operators.NotEquals:     cmpNe,
	operators.Less:          cmpLt,
	operators.LessEquals:    cmpLe,
	operators.Greater:       cmpGt,
	operators.GreaterEquals: cmpGe,
}

func (n *cmpNode) Exec(frame *interpreter.ExecutionFrame) ref.Val {
	c, ok := compare(n.lhs.Exec(frame), n.rhs.Exec(frame), n.op >= cmpLt)
	if !ok {
		return n.InterpretableCall.Exec(frame)
	}
	switch n.op {
	case cmpEq:
		return types.Bool(c == 0)
	case cmpNe:
		return types.Bool(c != 0)
	case cmpLt:
		return types.Bool(c < 0)
	case cmpLe:
		return types.Bool(c <= 0)
	case cmpGt:
		return types.Bool(c > 0)
	}
	return types.Bool(c >= 0)
}

func (n *cmpNode) Eval(a interpreter.Activation) ref.Val {
	return interpreter.EvalActivation(a, n.Exec)
}

// compare orders two values of the same simple type as CEL does, and with
// mixed an int and a double (a JSON number against an integer literal,
// `event.properties.stake >= 1000`) as CEL's ordering does; false for
// anything else, NaN included (unordered, and unequal to itself).
func compare(l, r ref.Val, mixed bool) (int, bool) {
	switch lv := l.(type) {
	case types.Int:
		switch rv := r.(type) {
		case types.Int:
			return cmp.Compare(lv, rv), true
		case types.Double:
			if mixed && !math.IsNaN(float64(rv)) {
				return -compareDoubleInt(rv, lv), true
			}
		}
	case types.Double:
		if math.IsNaN(float64(lv)) {
			return 0, false
		}
		switch rv := r.(type) {
		case types.Double:
			if !math.IsNaN(float64(rv)) {
				return cmp.Compare(lv, rv), true
			}
		case types.Int:
			if mixed {
				return compareDoubleInt(lv, rv), true
			}
		}
	case types.String:
		if rv, ok := r.(types.String); ok {
			return cmp.Compare(lv, rv), true
		}
	case types.Bool:
		if rv, ok := r.(types.Bool); ok {
			return cmp.Compare(b2i(lv), b2i(rv)), true
		}
	case types.Timestamp:
		if rv, ok := r.(types.Timestamp); ok {
			return lv.Time.Compare(rv.Time), true
		}
	}
	return 0, false
}

// compareDoubleInt is cel-go's: doubles beyond the int range order outside
// it, the others compare as doubles.
func compareDoubleInt(d types.Double, i types.Int) int {
	switch {
	case d < math.MinInt64:
		return -1
	case d > math.MaxInt64:
		return 1
	}
	return cmp.Compare(d, types.Double(i))
}

func b2i(b types.Bool) int {
	if b {
		return 1
	}
	return 0
}

// planComparisons plans the comparison operators into cmpNodes and counts
// them in n.
func planComparisons(n *int) cel.ProgramOption {
	return cel.CustomDecoratorV2(func(i interpreter.InterpretableV2) (interpreter.InterpretableV2, error) {
		call, ok := i.(interpreter.InterpretableCall)
		if !ok || len(call.Args()) != 2 {
			return i, nil
		}
		op, ok := comparisons[call.Function()]
		if !ok {
			return i, nil
		}
		*n++
		return &cmpNode{InterpretableCall: call, lhs: call.Args()[0], rhs: call.Args()[1], op: op}, nil
	})
}

// pathStep is one qualifier of a constant path: a field of one of our
// object types, or a key of a map(string, dyn).
type pathStep struct {
	ot  *objectType // a field of ot, read by get; nil for a map key
	get func(o any) any
	key string
}

// fastPath reads a constant path of `event` or `user` from the activation
// with plain Go: what cel-go does for it (resolve the variable, qualify
// step by step through the field types, adapt the result) at a fraction
// of the cost. It reads only what cel-go would read without error.
type fastPath struct {
	user    bool // the root is `user`, else `event`
	steps   []pathStep
	adapter types.Adapter
}

// read gives the path's value, or false when cel-go must answer (a missing
// key, a value that is not what the next step reads).
func (p *fastPath) read(act *activation) (ref.Val, bool) {
	cur, ok := p.readRaw(act)
	if !ok {
		return nil, false
	}
	// The JSON kinds directly, as the adapter would convert them.
	switch v := cur.(type) {
	case ref.Val:
		return v, true
	case float64:
		return types.Double(v), true
	case string:
		return types.String(v), true
	case bool:
		return types.Bool(v), true
	}
	return p.adapter.NativeToValue(cur), true
}

// readRaw gives the Go value at the end of the path, as read reads it.
func (p *fastPath) readRaw(act *activation) (any, bool) {
	var cur any = act.event
	if p.user {
		cur = act.user
	}
	for i := range p.steps {
		s := &p.steps[i]
		if s.ot != nil {
			o, ok := cur.(*object)
			if !ok || o.ot != s.ot {
				return nil, false
			}
			cur = s.get(o.v)
			continue
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[s.key]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// plain holds the Go types of cel-go's planned plain reads: the attribute
// node and the qualifiers of object fields and map keys. A presence test
// (has) or an optional selection uses other qualifier types on the same
// node, so only paths made of these are read fast. They are learnt from a
// planned expression rather than named; if that fails, no path is read
// fast (and TestFastPathsAreTaken fails).
var plain = sync.OnceValue(func() (s struct {
	attr  string
	quals map[string]bool
}) {
	env, _, err := newEnv()
	if err != nil {
		return s
	}
	a, iss := env.Compile(`event.properties.k`)
	if iss.Err() != nil {
		return s
	}
	var attrs []interpreter.InterpretableAttribute
	_, err = env.Program(a, cel.CustomDecoratorV2(func(i interpreter.InterpretableV2) (interpreter.InterpretableV2, error) {
		// The planner hands the same node back as it adds qualifiers.
		if ia, ok := i.(interpreter.InterpretableAttribute); ok && !slices.Contains(attrs, ia) {
			attrs = append(attrs, ia)
		}
		return i, nil
	}))
	if err != nil || len(attrs) != 1 {
		return s
	}
	na, ok := attrs[0].Attr().(interpreter.NamespacedAttribute)
	if !ok || len(na.Qualifiers()) != 2 {
		return s
	}
	s.attr, s.quals = fmt.Sprintf("%T", attrs[0]), map[string]bool{}
	for _, q := range na.Qualifiers() {
		s.quals[fmt.Sprintf("%T", q)] = true
	}
	return s
})

// fastPathOf gives the fast read of a planned attribute, or nil when it is
// not a plain read of a constant path of `event` or `user` that the object
// types describe step by step.
func (rt *ruleTypes) fastPathOf(ia interpreter.InterpretableAttribute) *fastPath {
	shapes := plain()
	if shapes.attr == "" || fmt.Sprintf("%T", ia) != shapes.attr || ia.IsOptional() {
		return nil
	}
	na, ok := ia.Attr().(interpreter.NamespacedAttribute)
	if !ok {
		return nil
	}
	names := na.CandidateVariableNames()
	if len(names) != 1 {
		return nil
	}
	var fields []string
	for _, q := range na.Qualifiers() {
		cq, ok := q.(interpreter.ConstantQualifier)
		if !ok || q.IsOptional() || !shapes.quals[fmt.Sprintf("%T", q)] {
			return nil
		}
		name, ok := cq.Value().(types.String)
		if !ok {
			return nil
		}
		fields = append(fields, string(name))
	}
	return rt.pathOf(names[0], fields, ia.Adapter())
}

// pathOf gives the fast read of root.f1.f2..., or nil when root is not
// `event` or `user` or the object types do not describe the path step by
// step.
func (rt *ruleTypes) pathOf(root string, fields []string, adapter types.Adapter) *fastPath {
	p := &fastPath{adapter: adapter}
	var ot *objectType
	switch root {
	case varEvent:
		ot = rt.event
	case varUser:
		ot, p.user = rt.user, true
	default:
		return nil
	}
	for _, name := range fields {
		if ot == nil { // inside a map(string, dyn)
			p.steps = append(p.steps, pathStep{key: name})
			continue
		}
		f, ok := ot.byName[name]
		if !ok {
			return nil
		}
		p.steps = append(p.steps, pathStep{ot: ot, get: f.get})
		switch {
		case f.typ.IsExactType(dynMap):
			ot = nil
		case f.typ == rt.stats.t:
			ot = rt.stats
		case f.typ == rt.counters.t:
			ot = rt.counters
		default:
			ot = nil
			if !f.typ.IsExactType(types.StringType) && !f.typ.IsExactType(types.IntType) &&
				!f.typ.IsExactType(types.BoolType) && !f.typ.IsExactType(types.TimestampType) {
				return nil
			}
		}
	}
	return p
}

// A fastRule is a batched rule whose expression is a conjunction of terms
// the fast paths decide on their own: comparisons of a constant path with
// a literal (`user.stats.daily.ads_watched >= 3`), bare paths
// (`user.stats.regular_player`) and bool literals (the `true` left of a
// rule whose only test was its event name). It runs without the
// interpreter: any false term makes it a non-match, as CEL's && does
// whatever the other terms give; all terms true make it a match; anything
// else (a term the fast paths cannot decide: a missing key, a value of
// another type) leaves it to the rule's planned node, which then gives the
// answer, error included.
type fastRule struct {
	terms []fastTerm
}

type fastTerm struct {
	path    int     // the batch's fast path the term reads; -1 for a literal term
	lit     ref.Val // what the path is compared with; nil for a bare path
	op      cmpOp
	litLeft bool // `3 <= path`
}

// unreadable marks, in activation.raw, a path the fast read cannot give.
var unreadable any = new(struct{ unreadable bool })

// eval decides the rule, or returns false when the planned node must.
// Paths are read once per event into act.raw, as the Go values they hold
// (a property's float64, a trait's string): a term compares them in place,
// so deciding a rule boxes nothing.
func (r *fastRule) eval(paths []*fastPath, act *activation) (types.Int, bool) {
	decided := true
	for i := range r.terms {
		t := &r.terms[i]
		var raw any
		if t.path < 0 {
			raw = t.lit
		} else {
			raw = act.raw[t.path]
			if raw == nil {
				v, ok := paths[t.path].readRaw(act)
				if !ok {
					v = unreadable
				}
				act.raw[t.path], raw = v, v
			}
			if raw == unreadable {
				decided = false
				continue
			}
		}
		b, ok := t.decide(raw)
		switch {
		case !ok:
			decided = false
		case !b:
			return outcomeNoMatch, true
		}
	}
	if !decided {
		return outcomeUnset, false
	}
	return outcomeMatch, true
}

// decide gives the term's value for the path's raw value, or false when
// it is not one the fast paths compare (CEL then answers).
func (t *fastTerm) decide(raw any) (bool, bool) {
	// The Go kinds a path holds, as the adapter would convert them; the
	// conversions stay on the stack, compare keeps nothing.
	var v ref.Val
	switch x := raw.(type) {
	case ref.Val:
		v = x
	case float64:
		v = types.Double(x)
	case string:
		v = types.String(x)
	case bool:
		v = types.Bool(x)
	case int64:
		v = types.Int(x)
	default:
		return false, false
	}
	if t.lit == nil || t.path < 0 {
		b, ok := v.(types.Bool)
		return bool(b), ok
	}
	l, r := v, t.lit
	if t.litLeft {
		l, r = r, l
	}
	c, ok := compare(l, r, t.op >= cmpLt)
	if !ok {
		return false, false
	}
	switch t.op {
	case cmpEq:
		return c == 0, true
	case cmpNe:
		return c != 0, true
	case cmpLt:
		return c < 0, true
	case cmpLe:
		return c <= 0, true
	case cmpGt:
		return c > 0, true
	}
	return c >= 0, true
}

// fastRules finds the rules of a batch program that are fast rules, by
// outcome index (nil for the others), and the distinct paths they read.
func (rt *ruleTypes) fastRules(a *ast.AST, adapter types.Adapter, n int) ([]*fastRule, []*fastPath) {
	rules := make([]*fastRule, n)
	var paths []*fastPath
	index := map[string]int{}
	pathIndex := func(e ast.Expr) (int, bool) {
		root, fields, ok := selectPath(e)
		if !ok {
			return 0, false
		}
		key := root + "." + strings.Join(fields, ".")
		if i, seen := index[key]; seen {
			return i, true
		}
		p := rt.pathOf(root, fields, adapter)
		if p == nil {
			return 0, false
		}
		index[key] = len(paths)
		paths = append(paths, p)
		return len(paths) - 1, true
	}
	for _, call := range conjuncts(a.Expr()) {
		if call.Kind() != ast.CallKind || call.AsCall().FunctionName() != outcomeFunc || len(call.AsCall().Args()) != 2 {
			continue
		}
		args := call.AsCall().Args()
		k, ok := intLiteral(args[0])
		if !ok || k < 0 || k >= n {
			continue
		}
		r := &fastRule{}
		for _, e := range conjuncts(args[1]) {
			t, ok := fastTermOf(e, pathIndex)
			if !ok {
				r = nil
				break
			}
			r.terms = append(r.terms, t)
		}
		rules[k] = r
	}
	return rules, paths
}

func fastTermOf(e ast.Expr, pathIndex func(ast.Expr) (int, bool)) (fastTerm, bool) {
	switch e.Kind() {
	case ast.LiteralKind:
		if b, ok := e.AsLiteral().(types.Bool); ok {
			return fastTerm{path: -1, lit: b}, true
		}
	case ast.SelectKind:
		if p, ok := pathIndex(e); ok {
			return fastTerm{path: p}, true
		}
	case ast.CallKind:
		c := e.AsCall()
		op, ok := comparisons[c.FunctionName()]
		if !ok || c.IsMemberFunction() || len(c.Args()) != 2 {
			break
		}
		l, r := c.Args()[0], c.Args()[1]
		if p, ok := pathIndex(l); ok && r.Kind() == ast.LiteralKind {
			return fastTerm{path: p, lit: r.AsLiteral(), op: op}, true
		}
		if p, ok := pathIndex(r); ok && l.Kind() == ast.LiteralKind {
			return fastTerm{path: p, lit: l.AsLiteral(), op: op, litLeft: true}, true
		}
	}
	return fastTerm{}, false
}

// conjuncts flattens a tree of && into its terms.
func conjuncts(e ast.Expr) []ast.Expr {
	if e.Kind() == ast.CallKind && e.AsCall().FunctionName() == operators.LogicalAnd {
		var out []ast.Expr
		for _, a := range e.AsCall().Args() {
			out = append(out, conjuncts(a)...)
		}
		return out
	}
	return []ast.Expr{e}
}

// selectPath gives root and fields of a plain select chain root.f1.f2...
// (no presence test).
func selectPath(e ast.Expr) (string, []string, bool) {
	var fields []string
	for e.Kind() == ast.SelectKind {
		sel := e.AsSelect()
		if sel.IsTestOnly() {
			return "", nil, false
		}
		fields = append(fields, sel.FieldName())
		e = sel.Operand()
	}
	if e.Kind() != ast.IdentKind || len(fields) == 0 {
		return "", nil, false
	}
	slices.Reverse(fields)
	return e.AsIdent(), fields, true
}

func intLiteral(e ast.Expr) (int, bool) {
	if e.Kind() != ast.LiteralKind {
		return 0, false
	}
	i, ok := e.AsLiteral().(types.Int)
	return int(i), ok
}
