package rulesapi

import (
	"net/http"
	"regexp"
	"sort"
	"strings"

	"cel.dev/cel-go/common/types"

	"github.com/segmentflow/segmentflow/rules"
)

// field is one path the editor may use in an expression.
type field struct {
	Path string `json:"path"`
	Type string `json:"type"`
	Doc  string `json:"doc,omitempty"`
}

type function struct {
	Name      string `json:"name"`
	Signature string `json:"signature"`
	Doc       string `json:"doc"`
}

type schemaResponse struct {
	Event     []field    `json:"event"`
	Traits    []field    `json:"traits"`
	Stats     []field    `json:"stats"`
	Other     []field    `json:"other"`
	Functions []function `json:"functions"`
	// Events are event names seen in the current rule set's filters plus
	// the app's seed events, for the dry-run form.
	Events []string `json:"events"`
	// SampleUser is a user the dry-run form starts from.
	SampleUser *rules.User `json:"sample_user,omitempty"`
}

// projectFunctions documents the rule language's own functions (rules,
// functions.go); only those the environment really declares are listed.
var projectFunctions = []function{
	{"age", "age(date) int", "whole years from date (timestamp or YYYY-MM-DD string) to now, e.g. age(user.traits.birthDate) >= 18"},
	{"hours_since", "hours_since(time) int", "whole hours from time to now"},
	{"days_since", "days_since(time) int", "whole days from time to now, e.g. days_since(user.stats.last_engagement) > 7"},
	{"within", "within(time, duration) bool", `time lies in the last duration before now, e.g. within(user.stats.last_engagement, duration("24h"))`},
	{"has_any", "has_any(list, list) bool", "the lists share an element"},
	{"has_all", "has_all(list, list) bool", "the first list holds every element of the second"},
	{"to_time", "to_time(string) timestamp", "parses RFC 3339 or YYYY-MM-DD"},
}

// celBuiltins are the standard CEL features authors reach for most.
var celBuiltins = []function{
	{"in", "value in list|map", `membership, e.g. "premium" in user.traits.tags or "plan" in user.traits`},
	{"has", "has(x.f) bool", "the field or map key is present, e.g. has(user.traits.plan)"},
	{"size", "size(string|list|map) int", "length"},
	{"contains", "string.contains(string) bool", ""},
	{"startsWith", "string.startsWith(string) bool", ""},
	{"matches", "string.matches(regex) bool", "RE2 regular expression"},
	{"exists", "list.exists(x, predicate) bool", "some element satisfies the predicate"},
	{"all", "list.all(x, predicate) bool", "every element satisfies the predicate"},
	{"duration", `duration("24h") duration`, ""},
	{"timestamp", `timestamp("2024-01-01T00:00:00Z") timestamp`, ""},
	{"?:", "cond ? a : b", "conditional"},
}

// seedEvents are the mobile game's track events (DESIGN.md).
var seedEvents = []string{"user-opened-app", "user-clicked-on-ad", "user-watched-ad", "user-skipped-ad", "user-played-card", "identify", "screen", "page"}

var traitRef = regexp.MustCompile(`user\.traits(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*["']([^"']+)["']\s*\])`)

func (s *Server) schema(w http.ResponseWriter, r *http.Request, _ Principal) {
	env, err := rules.NewEnv()
	if err != nil {
		s.internal(w, r, err)
		return
	}
	prov := env.CELTypeProvider()
	res := schemaResponse{Functions: []function{}}
	res.Event = structFields(prov, rules.EventType, "event", 0)
	for _, f := range structFields(prov, rules.UserType, "user", 0) {
		if strings.HasPrefix(f.Path, "user.stats.") {
			res.Stats = append(res.Stats, f)
		}
	}
	res.Other = []field{{Path: "now", Type: "timestamp", Doc: "evaluation time (the event's time in the pipeline)"}}

	decl := env.Functions()
	for _, f := range projectFunctions {
		if _, ok := decl[f.Name]; ok {
			res.Functions = append(res.Functions, f)
		}
	}
	res.Functions = append(res.Functions, celBuiltins...)

	traits := map[string]string{}
	events := map[string]bool{}
	for _, e := range seedEvents {
		events[e] = true
	}
	for _, u := range s.cfg.SampleUsers {
		for k, v := range u.Traits {
			traits[k] = jsonKind(v)
		}
	}
	if len(s.cfg.SampleUsers) > 0 {
		res.SampleUser = &s.cfg.SampleUsers[0]
	}
	if v, err := s.cfg.Store.Current(r.Context()); err == nil {
		if rs, err := rules.Parse(v.Document); err == nil {
			for _, rule := range rs.Rules {
				for _, m := range traitRef.FindAllStringSubmatch(rule.When, -1) {
					name := m[1] + m[2]
					if _, ok := traits[name]; !ok {
						traits[name] = "dyn"
					}
				}
				for _, e := range rule.Events {
					events[e] = true
				}
			}
		}
	}
	for k, t := range traits {
		res.Traits = append(res.Traits, field{Path: traitPath(k), Type: t})
	}
	sort.Slice(res.Traits, func(i, j int) bool { return res.Traits[i].Path < res.Traits[j].Path })
	for e := range events {
		res.Events = append(res.Events, e)
	}
	sort.Strings(res.Events)
	writeJSON(w, http.StatusOK, res)
}

// structFields lists a native type's fields as CEL paths, recursing into
// nested structs, so the list is what the type checker accepts.
func structFields(prov types.Provider, typeName, prefix string, depth int) []field {
	names, ok := prov.FindStructFieldNames(typeName)
	if !ok || depth > 3 {
		return nil
	}
	sort.Strings(names)
	var out []field
	for _, n := range names {
		ft, ok := prov.FindStructFieldType(typeName, n)
		if !ok {
			continue
		}
		path := prefix + "." + n
		t := ft.Type
		if t.Kind() == types.StructKind && !strings.HasPrefix(t.TypeName(), "google.protobuf.") {
			out = append(out, structFields(prov, t.TypeName(), path, depth+1)...)
			continue
		}
		out = append(out, field{Path: path, Type: celTypeName(t)})
	}
	return out
}

func celTypeName(t *types.Type) string {
	switch t.TypeName() {
	case "google.protobuf.Timestamp":
		return "timestamp"
	case "google.protobuf.Duration":
		return "duration"
	}
	return t.String()
}

func traitPath(k string) string {
	if regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`).MatchString(k) {
		return "user.traits." + k
	}
	return `user.traits["` + k + `"]`
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case float64, int, int64:
		return "number"
	case bool:
		return "bool"
	case []any:
		return "list"
	case map[string]any:
		return "map"
	}
	return "dyn"
}
