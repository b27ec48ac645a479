package rules

import (
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
)

// eventNames derives the event names a rule can match from its expression:
// when the top-level conjunction requires `event.name == "x"` or
// `event.name in ["x", "y"]`, only those names can match. nil means the
// expression does not pin the name (any event). Several pinning conjuncts
// intersect; an empty, non-nil result means no name can match.
func eventNames(e ast.Expr) []string {
	if e.Kind() != ast.CallKind {
		return nil
	}
	call := e.AsCall()
	args := call.Args()
	switch call.FunctionName() {
	case operators.LogicalAnd:
		var out []string
		pinned := false
		for _, a := range args {
			n := eventNames(a)
			if n == nil {
				continue
			}
			if !pinned {
				out, pinned = dedupSorted(n), true
				continue
			}
			out = intersect(out, n)
			if out == nil {
				out = []string{}
			}
		}
		return out
	case operators.Equals:
		if len(args) != 2 {
			return nil
		}
		for _, pair := range [][2]ast.Expr{{args[0], args[1]}, {args[1], args[0]}} {
			if isEventName(pair[0]) {
				if s, ok := stringLiteral(pair[1]); ok {
					return []string{s}
				}
			}
		}
	case operators.In:
		if len(args) != 2 || !isEventName(args[0]) || args[1].Kind() != ast.ListKind {
			return nil
		}
		var out []string
		for _, el := range args[1].AsList().Elements() {
			s, ok := stringLiteral(el)
			if !ok {
				return nil
			}
			out = append(out, s)
		}
		if out == nil {
			return []string{}
		}
		return dedupSorted(out)
	}
	return nil
}

func isEventName(e ast.Expr) bool {
	if e.Kind() != ast.SelectKind {
		return false
	}
	sel := e.AsSelect()
	if sel.IsTestOnly() || sel.FieldName() != "name" {
		return false
	}
	op := sel.Operand()
	return op.Kind() == ast.IdentKind && op.AsIdent() == varEvent
}

func stringLiteral(e ast.Expr) (string, bool) {
	if e.Kind() != ast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().(types.String)
	return string(s), ok
}
