package rules

import (
	"fmt"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
)

// Rules of one rule set read the same few paths over and over
// (user.stats.daily.ads_watched, event.properties.level): in a batch, each
// distinct path is resolved once per event and the value shared by every
// rule that reads it. The memo is an interpreter decorator: it wraps each
// attribute the planner builds, and once the program is planned every
// wrapper whose path is constant (a variable and field names or literal
// keys) gets a slot in the event's activation.
type memoAttr struct {
	interpreter.InterpretableAttribute
	slot int // -1: not memoized
}

// Exec reads the slot, or resolves and fills it. Only the top-level frame
// has the rule activation as its scope: inside a comprehension an
// identifier may name the iteration variable instead, so reads there go
// straight to the interpreter.
func (m *memoAttr) Exec(frame *interpreter.ExecutionFrame) ref.Val {
	if m.slot >= 0 {
		if act, ok := frame.Scope().(*activation); ok && m.slot < len(act.memo) {
			if v := act.memo[m.slot]; v != nil {
				return v
			}
			v := m.InterpretableAttribute.Exec(frame)
			act.memo[m.slot] = v
			return v
		}
	}
	return m.InterpretableAttribute.Exec(frame)
}

func (m *memoAttr) Eval(a interpreter.Activation) ref.Val {
	return interpreter.EvalActivation(a, m.Exec)
}

// memoPlanner collects the wrappers of one program.
type memoPlanner struct {
	attrs []*memoAttr
}

func (p *memoPlanner) option() cel.ProgramOption {
	return cel.CustomDecoratorV2(func(i interpreter.InterpretableV2) (interpreter.InterpretableV2, error) {
		switch a := i.(type) {
		case *memoAttr:
			// The planner adds qualifiers to the attribute it wrapped and
			// hands the same node back: one wrapper per path.
			return a, nil
		case interpreter.InterpretableAttribute:
			m := &memoAttr{InterpretableAttribute: a, slot: -1}
			p.attrs = append(p.attrs, m)
			return m, nil
		}
		return i, nil
	})
}

// assign gives every constant path a slot, equal paths the same one, and
// returns the number of slots.
func (p *memoPlanner) assign() int {
	slots := map[string]int{}
	for _, m := range p.attrs {
		key, ok := memoKey(m.InterpretableAttribute)
		if !ok {
			continue
		}
		s, seen := slots[key]
		if !seen {
			s = len(slots)
			slots[key] = s
		}
		m.slot = s
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
