package rules

import (
	"fmt"
	"slices"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
)

// A batch evaluates the candidate rules of one event name as one CEL
// program, `rule_outcome(0, w0) && rule_outcome(1, w1) && ...`: the
// interpreter's fixed cost per program (frame, activation, result checks)
// is paid once per event instead of once per rule, each wi is the rule's
// residual expression, without the event-name tests the index already
// answered, and the memo (memo.go) shares what the rules have in common.
//
// rule_outcome(k, w) records w's outcome as rule k's and is true, so the
// conjunction runs every rule. It is planned into an outcomeNode, which
// takes w's value whatever it is: one rule failing at run time (a missing
// trait) is that rule's "error" outcome and leaves the others alone, as
// when each rule runs on its own. The function exists only in the batch
// environment; authors cannot call it.
const outcomeFunc = "rule_outcome"

// Outcomes of one rule in a batch.
const (
	outcomeUnset   = types.Int(-1)
	outcomeNoMatch = types.Int(0)
	outcomeMatch   = types.Int(1)
	outcomeError   = types.Int(2)
)

func outcomeOf(v ref.Val) types.Int {
	b, ok := v.(types.Bool)
	switch {
	case !ok:
		return outcomeError // an error, or a dyn result that is not a bool
	case bool(b):
		return outcomeMatch
	}
	return outcomeNoMatch
}

type batch struct {
	// rules are the candidates in rule-set order.
	rules []*compiledRule
	prog  cel.Program
	// nodes are the program's planned rule_outcome calls by outcome index.
	// eval runs them one after the other on a frame the evaluation state
	// keeps, rather than through prog.Eval: the conjunction that ties them
	// together is always true, so it only adds a node per rule, and
	// Program.Eval adds a pooled frame, a deferred recovery and result
	// checks per event. nil when the planner did not give one node per rule
	// (prog.Eval is used then).
	nodes []*outcomeNode
	// slot is, per rule, its outcome index in the program, or -1 for a rule
	// evaluated on its own (one with a runtime cost limit).
	slot []int
	// batched is how many rules the program runs; memoSlots how many
	// values it memoizes.
	batched, memoSlots int
	// fastReads are the memoized paths with a fast read and comparisons the
	// comparisons planned as cmpNodes (fastpath.go), for the tests that
	// check them against the interpreter and that they are taken.
	fastReads   []*memoAttr
	comparisons int
	// fast are, by outcome index, the rules that run without the
	// interpreter when they can (fastRule), nil for the others; paths are
	// the constant paths they read.
	fast  []*fastRule
	paths []*fastPath
}

func batchEnv(env *cel.Env) (*cel.Env, error) {
	return env.Extend(cel.Function(outcomeFunc,
		cel.Overload(outcomeFunc+"_int_dyn", []*cel.Type{cel.IntType, cel.DynType}, cel.BoolType,
			cel.OverloadIsNonStrict(),
			// Only reached if the planner did not build an outcomeNode; the
			// outcome then stays unset and the rule runs on its own.
			cel.BinaryBinding(func(_, _ ref.Val) ref.Val { return types.True }))))
}

// outcomeNode is a planned rule_outcome(k, w).
type outcomeNode struct {
	id int64
	k  int
	w  interpreter.InterpretableV2
}

func (n *outcomeNode) ID() int64 { return n.id }

func (n *outcomeNode) Exec(frame *interpreter.ExecutionFrame) ref.Val {
	v := n.w.Exec(frame)
	if act, ok := frame.Scope().(*activation); ok && n.k < len(act.outcomes) {
		act.outcomes[n.k] = outcomeOf(v)
	}
	return types.True
}

func (n *outcomeNode) Eval(a interpreter.Activation) ref.Val {
	return interpreter.EvalActivation(a, n.Exec)
}

// planOutcomes plans rule_outcome calls into outcomeNodes and hands each
// to seen.
func planOutcomes(seen func(*outcomeNode)) cel.ProgramOption {
	return cel.CustomDecoratorV2(func(i interpreter.InterpretableV2) (interpreter.InterpretableV2, error) {
		call, ok := i.(interpreter.InterpretableCall)
		if !ok || call.Function() != outcomeFunc || len(call.Args()) != 2 {
			return i, nil
		}
		k, ok := call.Args()[0].(interpreter.InterpretableConst)
		if !ok {
			return i, nil
		}
		n, ok := k.Value().(types.Int)
		if !ok {
			return i, nil
		}
		o := &outcomeNode{id: i.ID(), k: int(n), w: call.Args()[1]}
		seen(o)
		return o, nil
	})
}

// newBatch plans one batch. indexed says the rules run only on events whose
// name they pin, so their residual expressions may be used.
func newBatch(env *cel.Env, rt *ruleTypes, rules []*compiledRule, indexed bool) (*batch, error) {
	b := &batch{rules: rules, slot: make([]int, len(rules))}
	var src strings.Builder
	for i, r := range rules {
		if r.costly {
			b.slot[i] = -1
			continue
		}
		b.slot[i] = b.batched
		expr := r.When
		if indexed {
			expr = r.residual
		}
		if b.batched > 0 {
			src.WriteString(" && ")
		}
		// Newlines so a trailing // comment in a rule ends with it.
		fmt.Fprintf(&src, "%s(%d, \n%s\n)", outcomeFunc, b.batched, expr)
		b.batched++
	}
	if b.batched == 0 {
		return b, nil
	}
	a, iss := env.Compile(src.String())
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("rules: batch of %d rules: %w", b.batched, iss.Err())
	}
	memo := newMemoPlanner(a)
	nodes := make([]*outcomeNode, b.batched)
	complete := true
	seen := func(o *outcomeNode) {
		if o.k < 0 || o.k >= len(nodes) || nodes[o.k] != nil {
			complete = false
			return
		}
		nodes[o.k] = o
	}
	// Comparisons first: the memo then shares a repeated comparison's
	// planned node like any other call.
	prog, err := env.Program(a, cel.EvalOptions(cel.OptOptimize), planOutcomes(seen), planComparisons(&b.comparisons), memo.option())
	if err != nil {
		return nil, fmt.Errorf("rules: plan batch of %d rules: %w", b.batched, err)
	}
	b.prog = prog
	b.memoSlots = memo.assign(rt)
	b.fast, b.paths = rt.fastRules(a.NativeRep(), env.CELTypeAdapter(), b.batched)
	for _, m := range memo.attrs {
		if m.fast != nil {
			b.fastReads = append(b.fastReads, m)
		}
	}
	if complete && !slices.Contains(nodes, nil) {
		b.nodes = nodes
	}
	return b, nil
}

// eval runs the batch and returns each rule's outcome, in rule order. A
// rule whose outcome the program did not record (it always should) runs on
// its own, so the answer never depends on batching.
func (b *batch) eval(state *evalState) []types.Int {
	state.prepare(b.memoSlots, b.batched, len(b.rules))
	state.preparePaths(len(b.paths))
	switch {
	case b.nodes != nil:
		frame := state.frame()
		for k := 0; k < len(b.nodes); {
			k = b.runFrom(frame, &state.act, k)
		}
	case b.prog != nil:
		b.prog.Eval(&state.act) // outcomes land in state.act.outcomes
	}
	res := state.results
	for i, r := range b.rules {
		o := outcomeUnset
		if k := b.slot[i]; k >= 0 {
			o = state.act.outcomes[k]
		}
		if o == outcomeUnset {
			o = r.eval(&state.act)
		}
		res[i] = o
	}
	return res
}

// runFrom runs the rules' nodes from k on and returns where it stopped: at
// the end, or after a rule whose evaluation panicked (as a function may on
// an input its author did not foresee). That rule's outcome stays unset, so
// eval runs it on its own, where Program.Eval turns the panic into an
// error, as it did when the batch ran through Program.Eval.
func (b *batch) runFrom(frame *interpreter.ExecutionFrame, act *activation, k int) (next int) {
	defer func() {
		if recover() != nil {
			next = k + 1
		}
	}()
	for ; k < len(b.nodes); k++ {
		if r := b.fast[k]; r != nil {
			if o, ok := r.eval(b.paths, act); ok {
				act.outcomes[k] = o
				continue
			}
		}
		act.outcomes[k] = outcomeOf(b.nodes[k].w.Exec(frame))
	}
	return k
}

// eval runs a rule's own program: its whole expression, with its cost limit.
func (r *compiledRule) eval(act *activation) types.Int {
	v, _, err := r.prog.Eval(act)
	if err != nil {
		return outcomeError
	}
	return outcomeOf(v)
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
