package rules

import (
	"cel.dev/cel-go/common/cost"
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
