package rules

import (
	"fmt"
	"strings"
)

// Problem is one reason a rule set does not compile. Rule or Segment (or
// Partner) names the offending entry; Line and Column (1-based, 0 when not
// about an expression) locate the error inside the rule's `when`.
type Problem struct {
	Rule    string `json:"rule,omitempty"`
	Segment string `json:"segment,omitempty"`
	Partner string `json:"partner,omitempty"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	var b strings.Builder
	switch {
	case p.Rule != "":
		fmt.Fprintf(&b, "rule %q", p.Rule)
	case p.Segment != "":
		fmt.Fprintf(&b, "segment %q", p.Segment)
	case p.Partner != "":
		fmt.Fprintf(&b, "partner %q", p.Partner)
	default:
		b.WriteString("rule set")
	}
	if p.Line > 0 {
		fmt.Fprintf(&b, " at %d:%d", p.Line, p.Column)
	}
	b.WriteString(": ")
	b.WriteString(p.Message)
	return b.String()
}

// CompileError lists every problem found in a rule set, not just the first,
// so an author fixes them in one round.
type CompileError struct {
	Problems []Problem `json:"problems"`
}

func (e *CompileError) Error() string {
	lines := make([]string, 0, len(e.Problems)+1)
	lines = append(lines, fmt.Sprintf("rules: %d problem(s) in rule set:", len(e.Problems)))
	for _, p := range e.Problems {
		lines = append(lines, "  "+p.String())
	}
	return strings.Join(lines, "\n")
}
