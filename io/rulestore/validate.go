package rulestore

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/segmentflow/segmentflow/rules"
)

// Counts summarize a rule set for history entries.
type Counts struct {
	Segments int
	Rules    int
	Partners int
}

// Validate parses and compiles doc (JSON or YAML) as version n would be,
// returning the document as canonical JSON. A compile failure is the
// engine's *rules.CompileError, with every problem's rule and CEL position.
func Validate(doc []byte, n int64) (json.RawMessage, Counts, error) {
	rs, err := rules.Parse(doc)
	if err != nil {
		return nil, Counts{}, err
	}
	if _, err := rules.Compile(rs, n); err != nil {
		return nil, Counts{}, err
	}
	canon, err := rs.JSON()
	if err != nil {
		return nil, Counts{}, fmt.Errorf("rulestore: %w", err)
	}
	return compact(canon), Counts{Segments: len(rs.Segments), Rules: len(rs.Rules), Partners: len(rs.Partners)}, nil
}

// compact is the one form Document takes, whatever indentation the version
// object was written with, so equal documents compare equal.
func compact(b []byte) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b
	}
	return buf.Bytes()
}
