package rules

import (
	"fmt"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
)

// A batch evaluates the candidate rules of one event name as one CEL
// program, `[rule_outcome(w1), rule_outcome(w2), ...]`: the interpreter's
// fixed cost per program (frame, activation, result checks) is paid once
// per event instead of once per rule, and each wi is the rule's residual
// expression, without the event-name tests the index already answered.
//
// rule_outcome is non-strict, so one rule failing at run time (a missing
// trait) turns into its own "error" outcome and leaves the others alone,
// exactly as when each rule runs on its own. It exists only in the batch
// environment; authors cannot call it.
const outcomeFunc = "rule_outcome"

// Outcomes of one rule in a batch.
const (
	outcomeNoMatch = types.Int(0)
	outcomeMatch   = types.Int(1)
	outcomeError   = types.Int(2)
)

type batch struct {
	// rules are the candidates in rule-set order.
	rules []*compiledRule
	prog  cel.Program
	// slot is, per rule, its index in the program's result list, or -1 for
	// a rule evaluated on its own (one with a runtime cost limit).
	slot []int
	// memoSlots is how many distinct paths the program memoizes (memo.go).
	memoSlots int
}

func batchEnv(env *cel.Env) (*cel.Env, error) {
	return env.Extend(cel.Function(outcomeFunc,
		cel.Overload(outcomeFunc+"_dyn", []*cel.Type{cel.DynType}, cel.IntType,
			cel.OverloadIsNonStrict(),
			cel.UnaryBinding(func(v ref.Val) ref.Val {
				switch v {
				case types.True:
					return outcomeMatch
				case types.False:
					return outcomeNoMatch
				}
				return outcomeError // an error, or a dyn result that is not a bool
			}))))
}

// newBatch plans one batch. indexed says the rules run only on events whose
// name they pin, so their residual expressions may be used.
func newBatch(env *cel.Env, rules []*compiledRule, indexed bool) (*batch, error) {
	b := &batch{rules: rules, slot: make([]int, len(rules))}
	var src strings.Builder
	n := 0
	for i, r := range rules {
		if r.costly {
			b.slot[i] = -1
			continue
		}
		b.slot[i] = n
		n++
		expr := r.When
		if indexed {
			expr = r.residual
		}
		if src.Len() == 0 {
			src.WriteString("[")
		} else {
			src.WriteString(",")
		}
		// Newlines so a trailing // comment in a rule ends with it.
		fmt.Fprintf(&src, "%s(\n%s\n)", outcomeFunc, expr)
	}
	if n == 0 {
		return b, nil
	}
	src.WriteString("]")
	a, iss := env.Compile(src.String())
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("rules: batch of %d rules: %w", n, iss.Err())
	}
	var memo memoPlanner
	prog, err := env.Program(a, cel.EvalOptions(cel.OptOptimize), memo.option())
	if err != nil {
		return nil, fmt.Errorf("rules: plan batch of %d rules: %w", n, err)
	}
	b.prog = prog
	b.memoSlots = memo.assign()
	return b, nil
}

// eval runs the batch and reports each rule's outcome in rule order. A
// batch whose program fails as a whole (it should not) falls back to the
// rules' own programs, so the answer never depends on batching.
func (b *batch) eval(state *evalState, each func(r *compiledRule, outcome types.Int)) {
	var outs traits.Lister
	if b.prog != nil {
		state.memo(b.memoSlots)
		if v, _, err := b.prog.Eval(&state.act); err == nil {
			outs, _ = v.(traits.Lister)
		}
	}
	for i, r := range b.rules {
		if k := b.slot[i]; k >= 0 && outs != nil {
			o, ok := outs.Get(types.Int(k)).(types.Int)
			if !ok {
				o = outcomeError
			}
			each(r, o)
			continue
		}
		each(r, r.eval(&state.act))
	}
}

// eval runs a rule's own program: its whole expression, with its cost limit.
func (r *compiledRule) eval(act *activation) types.Int {
	v, _, err := r.prog.Eval(act)
	switch {
	case err != nil:
		return outcomeError
	case v == types.True:
		return outcomeMatch
	case v == types.False:
		return outcomeNoMatch
	}
	return outcomeError
}

// residual is a rule's expression without its top-level conjuncts that
// pin the event name (`event.name == "x"`, `event.name in [...]`). For an
// event whose name is in the rule's index names every such conjunct is
// true and cannot fail, so `true && w` is w. ok is false when nothing was
// dropped or the rest cannot be printed back.
func residual(a *cel.Ast) (string, bool) {
	native := a.NativeRep()
	var keep []ast.Expr
	dropped := false
	var walk func(e ast.Expr)
	walk = func(e ast.Expr) {
		if e.Kind() == ast.CallKind && e.AsCall().FunctionName() == operators.LogicalAnd {
			for _, arg := range e.AsCall().Args() {
				walk(arg)
			}
			return
		}
		if eventNames(e) != nil {
			dropped = true
			return
		}
		keep = append(keep, e)
	}
	walk(native.Expr())
	if !dropped {
		return "", false
	}
	if len(keep) == 0 {
		return "true", true
	}
	parts := make([]string, len(keep))
	for i, e := range keep {
		s, err := cel.ExprToString(e, native.SourceInfo())
		if err != nil {
			return "", false
		}
		parts[i] = "(" + s + ")"
	}
	return strings.Join(parts, " && "), true
}
