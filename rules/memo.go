package rules

import (
	"fmt"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/overloads"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
)

// Rules of one rule set read the same few paths over and over
// (user.stats.daily.ads_watched, event.properties.level) and repeat whole
// tests (user.traits.country != "XX"): in a batch, each distinct path and
// each subexpression that occurs more than once is evaluated once per event
// and the value shared by every rule that reads it, as a Rete network
// shares its nodes. CEL expressions are pure, so this changes nothing but
// the work. The memo is an interpreter decorator: it wraps each attribute
// and each repeated call the planner builds, and once the program is
// planned every wrapper with a constant key gets a slot in the event's
// activation.
type memoAttr struct {
	interpreter.InterpretableAttribute
	slot int // -1: not memoized
	// fast reads the path without the interpreter when it can (fastpath.go).
	fast *fastPath
}

// Exec reads the slot, or resolves and fills it. Only the top-level frame
// has the rule activation as its scope: inside a comprehension an
// identifier may name the iteration variable instead, so reads there go
// straight to the interpreter.
func (m *memoAttr) Exec(frame *interpreter.ExecutionFrame) ref.Val {
	if m.slot < 0 {
		return m.InterpretableAttribute.Exec(frame)
	}
	act, ok := frame.Scope().(*activation)
	if !ok || m.slot >= len(act.memo) {
		return m.InterpretableAttribute.Exec(frame)
	}
	if v := act.memo[m.slot]; v != nil {
		return v
	}
	v, ok := ref.Val(nil), false
	if m.fast != nil {
		v, ok = m.fast.read(act)
	}
	if !ok {
		v = m.InterpretableAttribute.Exec(frame)
	}
	act.memo[m.slot] = v
	return v
}

func (m *memoAttr) Eval(a interpreter.Activation) ref.Val {
	return interpreter.EvalActivation(a, m.Exec)
}

// memoExpr is a repeated call (an operator or a function).
type memoExpr struct {
	interpreter.InterpretableV2
	slot int
}

func (m *memoExpr) Exec(frame *interpreter.ExecutionFrame) ref.Val {
	return memoExec(frame, m.slot, m.InterpretableV2)
}

func (m *memoExpr) Eval(a interpreter.Activation) ref.Val {
	return interpreter.EvalActivation(a, m.Exec)
}

func memoExec(frame *interpreter.ExecutionFrame, slot int, i interpreter.InterpretableV2) ref.Val {
	if act, ok := frame.Scope().(*activation); ok && slot >= 0 && slot < len(act.memo) {
		if v := act.memo[slot]; v != nil {
			return v
		}
		v := i.Exec(frame)
		act.memo[slot] = v
		return v
	}
	return i.Exec(frame)
}

// memoPlanner collects the wrappers of one program.
type memoPlanner struct {
	attrs []*memoAttr
	exprs []*memoExpr
	// repeated maps the ids of calls whose text occurs more than once in
	// the program (outside comprehensions) to that text.
	repeated map[int64]string
}

func newMemoPlanner(a *cel.Ast) *memoPlanner {
	native := a.NativeRep()
	texts := map[int64]string{}
	count := map[string]int{}
	var walk func(e ast.Expr)
	walk = func(e ast.Expr) {
		switch e.Kind() {
		case ast.CallKind:
			if s, err := cel.ExprToString(e, native.SourceInfo()); err == nil {
				texts[e.ID()] = s
				count[s]++
			}
			c := e.AsCall()
			if c.IsMemberFunction() {
				walk(c.Target())
			}
			for _, arg := range c.Args() {
				walk(arg)
			}
		case ast.SelectKind:
			walk(e.AsSelect().Operand())
		case ast.ListKind:
			for _, el := range e.AsList().Elements() {
				walk(el)
			}
		case ast.MapKind:
			for _, en := range e.AsMap().Entries() {
				walk(en.AsMapEntry().Key())
				walk(en.AsMapEntry().Value())
			}
		}
		// Comprehensions bind names of their own: not shared.
	}
	walk(native.Expr())
	p := &memoPlanner{repeated: map[int64]string{}}
	for id, s := range texts {
		if count[s] > 1 {
			p.repeated[id] = s
		}
	}
	return p
}

func (p *memoPlanner) option() cel.ProgramOption {
	return cel.CustomDecoratorV2(func(i interpreter.InterpretableV2) (interpreter.InterpretableV2, error) {
		switch a := i.(type) {
		case *memoAttr, *memoExpr:
			// The planner adds qualifiers to the attribute it wrapped and
			// hands the same node back: one wrapper per path.
			return a, nil
		case interpreter.InterpretableAttribute:
			m := &memoAttr{InterpretableAttribute: a, slot: -1}
			p.attrs = append(p.attrs, m)
			return m, nil
		case interpreter.InterpretableCall:
			// Membership in a literal list and conversions of constants are
			// left to the optimizer, which runs after this decorator and
			// would not see through a wrapper.
			if a.OverloadID() == overloads.InList || overloads.IsTypeConversionFunction(a.Function()) {
				return i, nil
			}
		}
		if _, ok := p.repeated[i.ID()]; ok {
			m := &memoExpr{InterpretableV2: i, slot: -1}
			p.exprs = append(p.exprs, m)
			return m, nil
		}
		return i, nil
	})
}

// assign gives every constant path and repeated call a slot, equal ones the
// same, and returns the number of slots. Paths the object types describe
// get their fast read.
func (p *memoPlanner) assign(rt *ruleTypes) int {
	slots := map[string]int{}
	slot := func(key string) int {
		s, seen := slots[key]
		if !seen {
			s = len(slots)
			slots[key] = s
		}
		return s
	}
	for _, m := range p.attrs {
		if key, ok := memoKey(m.InterpretableAttribute); ok {
			m.slot = slot("attr " + key)
			m.fast = rt.fastPathOf(m.InterpretableAttribute)
		}
	}
	for _, m := range p.exprs {
		m.slot = slot("expr " + p.repeated[m.ID()])
	}
	return len(slots)
}

// memoKey names what an attribute reads. The node's Go type is part of it,
// so a presence test (has) and a read of the same path differ.
func memoKey(ia interpreter.InterpretableAttribute) (string, bool) {
	na, ok := ia.Attr().(interpreter.NamespacedAttribute)
	if !ok {
		return "", false
	}
	names := na.CandidateVariableNames()
	if len(names) != 1 {
		return "", false
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%T|%s", ia, names[0])
	for _, q := range na.Qualifiers() {
		cq, ok := q.(interpreter.ConstantQualifier)
		if !ok {
			return "", false
		}
		v := cq.Value()
		fmt.Fprintf(&b, "|%T,%t,%s,%v", q, q.IsOptional(), v.Type().TypeName(), v.Value())
	}
	return b.String(), true
}
