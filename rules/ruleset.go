package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// RuleSet is the rule-set document of DESIGN.md (Rules repository): the
// segment catalog, the rules that assign segments, and the partners that
// receive segment changes. It is what authors edit and what the rules
// repository stores as an immutable version.
type RuleSet struct {
	Segments []Segment `json:"segments"`
	Rules    []Rule    `json:"rules"`
	Partners []Partner `json:"partners,omitempty"`
}

// Merge policies of a segment.
const (
	// MergeAppend accumulates: the segment stays next to any other.
	MergeAppend = "append"
	// MergeOverwrite replaces the other members of the segment's exclusive
	// group: the latest match in the group wins.
	MergeOverwrite = "overwrite"
)

// Segment is one entry of the segment catalog.
type Segment struct {
	ID string `json:"id"`
	// Name and Description are display fields for the console.
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	// Parent makes a hierarchy: assigning a segment assigns its ancestors,
	// and a segment that leaves a profile takes its descendants with it.
	Parent string `json:"parent,omitempty"`
	// Group names an exclusive group: at most one of its segments is in a
	// profile at a time. Members of a group overwrite each other, so merge
	// defaults to overwrite for them; append is refused.
	Group string `json:"group,omitempty"`
	// Merge is "overwrite" or "append"; empty means append (overwrite when
	// Group is set).
	Merge string `json:"merge,omitempty"`
	// TTL is how long after its latest match the segment stays in a
	// profile: a Go duration ("720h", "90m") or days ("30d", "1d12h").
	TTL string `json:"ttl,omitempty"`
}

// MergePolicy is the effective merge policy (defaults applied).
func (s Segment) MergePolicy() string {
	switch {
	case s.Merge != "":
		return s.Merge
	case s.Group != "":
		return MergeOverwrite
	default:
		return MergeAppend
	}
}

// TTLDuration parses TTL; zero when the segment never expires.
func (s Segment) TTLDuration() (time.Duration, error) {
	if s.TTL == "" {
		return 0, nil
	}
	return ParseTTL(s.TTL)
}

// Rule assigns Segment to a user when its When expression holds for an event.
type Rule struct {
	ID      string `json:"id"`
	Segment string `json:"segment"`
	// Events is an optional pre-filter by event name (a track call's event,
	// or the message type for other calls: "identify", "page", ...).
	Events []string `json:"events,omitempty"`
	// When is a CEL expression over event, user.traits, user.stats and now.
	When        string `json:"when"`
	Description string `json:"description,omitempty"`
}

// Partner kinds.
const (
	PartnerHTTP     = "http"
	PartnerFileDrop = "filedrop"
)

// Partner receives changes of the segments it subscribes to.
type Partner struct {
	ID       string   `json:"id"`
	Segments []string `json:"segments"`
	// Endpoint is the URL changes are POSTed to (kind http).
	Endpoint string `json:"endpoint,omitempty"`
	// Kind is "http" (default) or "filedrop" (segment lists written as
	// files under Path, for partners that ingest files).
	Kind string `json:"kind,omitempty"`
	Path string `json:"path,omitempty"`
}

// DeliveryKind is the effective kind (defaults applied).
func (p Partner) DeliveryKind() string {
	if p.Kind == "" {
		return PartnerHTTP
	}
	return p.Kind
}

// Parse reads a rule-set document in JSON or YAML. Unknown fields are
// refused so that a misspelt key (say `segmnet`) is not silently ignored.
// Parse checks only the document's shape; Compile checks its meaning.
func Parse(data []byte) (*RuleSet, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("rules: parse: empty document")
	}
	js := trimmed
	if trimmed[0] != '{' {
		var err error
		js, err = yaml.YAMLToJSON(data)
		if err != nil {
			return nil, fmt.Errorf("rules: parse yaml: %w", err)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	var rs RuleSet
	if err := dec.Decode(&rs); err != nil {
		return nil, fmt.Errorf("rules: parse: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("rules: parse: trailing data after the document")
	}
	return &rs, nil
}

// JSON encodes the rule set as the canonical JSON document.
func (rs *RuleSet) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(rs, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("rules: encode rule set: %w", err)
	}
	return b, nil
}

var daysRE = regexp.MustCompile(`^(\d+)d`)

// ParseTTL parses a Go duration with an optional leading day count:
// "720h", "30d", "1d12h".
func ParseTTL(text string) (time.Duration, error) {
	s := strings.TrimSpace(text)
	var d time.Duration
	if m := daysRE.FindStringSubmatch(s); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil || n > 100000 {
			return 0, fmt.Errorf("ttl %q: bad day count", text)
		}
		d = time.Duration(n) * 24 * time.Hour
		s = s[len(m[0]):]
	}
	if s != "" {
		rest, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("ttl %q: want a duration like 720h or 30d", text)
		}
		d += rest
	}
	if d <= 0 {
		return 0, fmt.Errorf("ttl %q: must be positive", text)
	}
	return d, nil
}
