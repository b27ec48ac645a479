package rules

import (
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/operators"
)

// Bounds on what an event or user can hold, from the collector's limits
// (event.DefaultLimits: 512 keys per map, 32 KB per message). Without them
// the checker assumes unbounded inputs and any comprehension over
// event.properties would be refused.
const (
	maxCollectionSize = 512
	maxStringSize     = 32 << 10
)

// sizeEstimator tells the cost checker how large inputs can get.
type sizeEstimator struct{}

func (sizeEstimator) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	if cs := n.ComputedSize(); cs != nil && cs.Max <= maxStringSize {
		return nil // literals and concatenations: the checker knows better
	}
	// Everything else comes from an event or a user (directly, through
	// optional selection or dyn values), so the collector's limits bound it.
	size := uint64(maxCollectionSize)
	if t := n.Type(); t != nil && (t.String() == "string" || t.String() == "bytes") {
		size = maxStringSize
	}
	return &cost.SizeEstimate{Min: 0, Max: size}
}

// EstimateCallCost bounds what optional unwrapping returns: the checker
// would otherwise take `event.context.?os.?name.orValue("")` for a string of
// any length, and every string function on it for unbounded.
func (sizeEstimator) EstimateCallCost(function, overloadID string, target *cost.AstNode, args []cost.AstNode) *cost.CallEstimate {
	switch overloadID {
	case "optional_orValue_value", "optional_value", "optional_or_optional":
		size := cost.SizeEstimate{Min: 0, Max: maxStringSize}
		return &cost.CallEstimate{CostEstimate: cost.CostEstimate{Min: 1, Max: 1}, ResultSize: &size}
	}
	return nil
}

// linearFuncs are the functions and operators whose run-time cost grows at
// most linearly with the size of their inputs.
var linearFuncs = func() map[string]bool {
	m := map[string]bool{}
	for _, f := range []string{
		operators.Equals, operators.NotEquals, operators.Less, operators.LessEquals,
		operators.Greater, operators.GreaterEquals, operators.Add, operators.Subtract,
		operators.Multiply, operators.Divide, operators.Modulo, operators.Negate,
		operators.LogicalAnd, operators.LogicalOr, operators.LogicalNot, operators.Conditional,
		operators.In, operators.Index, operators.OptSelect, operators.OptIndex,
		"size", "contains", "startsWith", "endsWith", "matches",
		"lowerAscii", "upperAscii", "trim", "charAt", "indexOf", "lastIndexOf", "substring",
		"timestamp", "duration", "int", "uint", "double", "string", "bool", "dyn", "type",
		"getFullYear", "getMonth", "getDate", "getDayOfMonth", "getDayOfWeek", "getDayOfYear",
		"getHours", "getMinutes", "getSeconds", "getMilliseconds",
		"or", "orValue", "value", "hasValue", "optional.of", "optional.ofNonZeroValue", "optional.none",
		"age", "hours_since", "days_since", "within", "to_time",
	} {
		m[f] = true
	}
	return m
}()

// linearCost reports whether an expression's cost is linear in the sizes
// of what it reads: no comprehension and only linearFuncs. Such a rule
// cannot run away on an input larger than the collector's limits (it costs
// in proportion to data the platform already stored), so it needs no
// run-time cost tracking, which would also keep it out of the batches.
func linearCost(e ast.Expr) bool {
	switch e.Kind() {
	case ast.ComprehensionKind:
		return false
	case ast.CallKind:
		c := e.AsCall()
		if !linearFuncs[c.FunctionName()] {
			return false
		}
		if c.IsMemberFunction() && !linearCost(c.Target()) {
			return false
		}
		for _, a := range c.Args() {
			if !linearCost(a) {
				return false
			}
		}
	case ast.SelectKind:
		return linearCost(e.AsSelect().Operand())
	case ast.ListKind:
		for _, el := range e.AsList().Elements() {
			if !linearCost(el) {
				return false
			}
		}
	case ast.MapKind:
		for _, en := range e.AsMap().Entries() {
			if !linearCost(en.AsMapEntry().Key()) || !linearCost(en.AsMapEntry().Value()) {
				return false
			}
		}
	}
	return true
}
