package infra

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// namedAttrs are the attributes that hold a topic, subscription, table,
// family or bucket name, by resource type; "block.attr" is an attribute of a
// nested block. Each must come from local.names (names.json) or a variable.
var namedAttrs = map[string][]string{
	"google_pubsub_topic":        {"name"},
	"google_pubsub_subscription": {"name"},
	"google_bigtable_table":      {"name", "column_family.family"},
	"google_bigtable_gc_policy":  {"column_family"},
	"google_storage_bucket":      {"name"},
}

// separator is what a name template may add around names.json values.
var separator = regexp.MustCompile(`^[-_./]*$`)

func TestNamesJSONMatchesGoStruct(t *testing.T) {
	var raw any
	if err := json.Unmarshal(namesJSON, &raw); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(Default())
	if err != nil {
		t.Fatal(err)
	}
	var viaGo any
	if err := json.Unmarshal(b, &viaGo); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(raw, viaGo) {
		t.Fatalf("names.json has keys the Go struct drops (or the reverse):\n json: %v\n   go: %v", raw, viaGo)
	}
}

func TestTerraformNamesComeFromNamesJSON(t *testing.T) {
	mods := loadModules(t, ".")
	if len(mods) < 3 {
		t.Fatalf("found %d terraform directories, want modules and envs", len(mods))
	}
	for _, p := range checkNameExprs(mods) {
		t.Error(p)
	}
	for _, p := range checkNamesLocal(mods, "names.json") {
		t.Error(p)
	}
}

func TestEveryNamesJSONKeyIsUsedByTerraform(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(namesJSON, &doc); err != nil {
		t.Fatal(err)
	}
	used, problems := namesUsage(loadModules(t, "."), doc)
	for _, p := range problems {
		t.Error(p)
	}
	for _, leaf := range leaves(doc, "") {
		if !used[leaf] {
			t.Errorf("names.json key %s is used by no .tf file", leaf)
		}
	}
}

// The checkers must reject what they are meant to catch.
func TestCheckersRejectLiteralNames(t *testing.T) {
	m := parseModule(t, filepath.Join("modules", "x"), map[string]string{"main.tf": `
locals {
  names = jsondecode(file("${path.module}/../../names.json"))
}
resource "google_pubsub_topic" "lit" {
  name = "events"
}
resource "google_storage_bucket" "tmpl" {
  name = "${var.prefix}-segmentflow-lake"
}
resource "google_bigtable_table" "fam" {
  name = local.names.tables.users
  column_family {
    family = "traits"
  }
}
resource "google_pubsub_subscription" "ok" {
  name = "${local.names.topics.activation_prefix}${each.key}${local.names.subscriptions.activation_suffix}"
}
resource "google_bigtable_gc_policy" "typo" {
  column_family = local.names.families.trait
}
`})
	problems := checkNameExprs([]tfModule{m})
	for _, want := range []string{"google_pubsub_topic.lit", "google_storage_bucket.tmpl", "google_bigtable_table.fam"} {
		if !containsPrefix(problems, want) {
			t.Errorf("no problem reported for %s; got %q", want, problems)
		}
	}
	if containsPrefix(problems, "google_pubsub_subscription.ok") {
		t.Errorf("a names.json-derived name was refused: %q", problems)
	}

	var doc map[string]any
	if err := json.Unmarshal(namesJSON, &doc); err != nil {
		t.Fatal(err)
	}
	_, usageProblems := namesUsage([]tfModule{m}, doc)
	if !containsSubstring(usageProblems, "families.trait") {
		t.Errorf("a reference to a missing names.json key was not reported: %q", usageProblems)
	}

	wrong := parseModule(t, filepath.Join("envs", "dev"), map[string]string{"names.tf": `
locals {
  names = jsondecode(file("${path.module}/names.json"))
}
`})
	if p := checkNamesLocal([]tfModule{wrong}, "names.json"); len(p) == 0 {
		t.Error("a local.names reading another file was accepted")
	}
}

// checkNameExprs reports name attributes that are not derived from
// local.names or a variable, or that add more than separators to them.
func checkNameExprs(mods []tfModule) []string {
	var problems []string
	for _, m := range mods {
		for path, body := range m.files {
			for _, b := range body.Blocks {
				if b.Type != "resource" || len(b.Labels) != 2 {
					continue
				}
				attrs, ok := namedAttrs[b.Labels[0]]
				if !ok {
					continue
				}
				id := b.Labels[0] + "." + b.Labels[1]
				for _, spec := range attrs {
					for _, a := range findAttrs(b.Body, strings.Split(spec, ".")) {
						if p := nameExprProblem(a.Expr); p != "" {
							problems = append(problems, fmt.Sprintf("%s (%s:%d) %s: %s", id, path, a.SrcRange.Start.Line, spec, p))
						}
					}
				}
			}
		}
	}
	sort.Strings(problems)
	return problems
}

func nameExprProblem(expr hclsyntax.Expression) string {
	derived := false
	for _, tr := range expr.Variables() {
		root := tr.RootName()
		if root == "var" || (root == "local" && len(tr) > 1 && attrName(tr[1]) == "names") {
			derived = true
		}
	}
	if !derived {
		return "not derived from local.names (names.json) or a variable"
	}
	for _, lit := range stringLiterals(expr) {
		if !separator.MatchString(lit) {
			return fmt.Sprintf("contains the literal %q: put the name in names.json", lit)
		}
	}
	return ""
}

// findAttrs returns the attributes at a block path like ["column_family", "family"].
func findAttrs(body *hclsyntax.Body, path []string) []*hclsyntax.Attribute {
	if len(path) == 1 {
		if a, ok := body.Attributes[path[0]]; ok {
			return []*hclsyntax.Attribute{a}
		}
		return nil
	}
	var out []*hclsyntax.Attribute
	for _, b := range body.Blocks {
		if b.Type == path[0] {
			out = append(out, findAttrs(b.Body, path[1:])...)
		}
	}
	return out
}

// checkNamesLocal reports directories that use local.names without defining
// it as jsondecode(file("${path.module}/<path to names.json>")).
func checkNamesLocal(mods []tfModule, namesFile string) []string {
	want, _ := filepath.Abs(namesFile)
	var problems []string
	for _, m := range mods {
		uses, defs := false, 0
		for _, body := range m.files {
			walkAttrs(body, func(a *hclsyntax.Attribute) {
				for _, tr := range a.Expr.Variables() {
					if tr.RootName() == "local" && len(tr) > 1 && attrName(tr[1]) == "names" {
						uses = true
					}
				}
			})
			for _, b := range body.Blocks {
				if b.Type != "locals" {
					continue
				}
				a, ok := b.Body.Attributes["names"]
				if !ok {
					continue
				}
				defs++
				rel, err := namesFileArg(a.Expr)
				if err != nil {
					problems = append(problems, fmt.Sprintf("%s: local.names: %v", m.dir, err))
					continue
				}
				got, _ := filepath.Abs(filepath.Join(m.dir, rel))
				if got != want {
					problems = append(problems, fmt.Sprintf("%s: local.names reads %s, want %s", m.dir, got, want))
				}
			}
		}
		if uses && defs != 1 {
			problems = append(problems, fmt.Sprintf("%s: uses local.names but defines it %d times", m.dir, defs))
		}
	}
	return problems
}

// namesFileArg returns the path after ${path.module}/ in
// jsondecode(file("${path.module}/REL")).
func namesFileArg(expr hclsyntax.Expression) (string, error) {
	outer, ok := expr.(*hclsyntax.FunctionCallExpr)
	if !ok || outer.Name != "jsondecode" || len(outer.Args) != 1 {
		return "", fmt.Errorf("want jsondecode(file(...))")
	}
	inner, ok := outer.Args[0].(*hclsyntax.FunctionCallExpr)
	if !ok || inner.Name != "file" || len(inner.Args) != 1 {
		return "", fmt.Errorf("want jsondecode(file(...))")
	}
	tmpl, ok := inner.Args[0].(*hclsyntax.TemplateExpr)
	if !ok || len(tmpl.Parts) != 2 {
		return "", fmt.Errorf(`want file("${path.module}/...")`)
	}
	ref, ok := tmpl.Parts[0].(*hclsyntax.ScopeTraversalExpr)
	if !ok || ref.Traversal.RootName() != "path" || len(ref.Traversal) != 2 || attrName(ref.Traversal[1]) != "module" {
		return "", fmt.Errorf(`want file("${path.module}/...")`)
	}
	lits := stringLiterals(tmpl.Parts[1])
	if len(lits) != 1 || !strings.HasPrefix(lits[0], "/") {
		return "", fmt.Errorf(`want file("${path.module}/...")`)
	}
	return lits[0][1:], nil
}

// namesUsage returns the names.json leaves the terraform references (a
// reference to an object counts for all its leaves), following simple
// aliases like `lake_prefixes = local.names.lake_prefixes`, and reports
// references to keys that do not exist.
func namesUsage(mods []tfModule, doc map[string]any) (map[string]bool, []string) {
	used := map[string]bool{}
	var problems []string
	for _, m := range mods {
		// alias local name -> names.json path it stands for
		aliases := map[string][]string{}
		for _, body := range m.files {
			for _, b := range body.Blocks {
				if b.Type != "locals" {
					continue
				}
				for name, a := range b.Body.Attributes {
					st, ok := a.Expr.(*hclsyntax.ScopeTraversalExpr)
					if !ok {
						continue
					}
					if p := namesPath(st.Traversal, nil); p != nil {
						aliases[name] = p
					}
				}
			}
		}
		for path, body := range m.files {
			walkAttrs(body, func(a *hclsyntax.Attribute) {
				for _, tr := range a.Expr.Variables() {
					p := namesPath(tr, aliases)
					if p == nil {
						continue
					}
					node, ok := lookup(doc, p)
					if !ok {
						problems = append(problems, fmt.Sprintf("%s:%d: local.names.%s is not in names.json", path, a.SrcRange.Start.Line, strings.Join(p, ".")))
						continue
					}
					prefix := strings.Join(p, ".")
					if obj, isObj := node.(map[string]any); isObj {
						for _, l := range leaves(obj, prefix) {
							used[l] = true
						}
					} else {
						used[prefix] = true
					}
				}
			})
		}
	}
	sort.Strings(problems)
	return used, problems
}

// namesPath turns local.names.a.b (or local.<alias>.b) into its names.json
// path; nil for other traversals.
func namesPath(tr hcl.Traversal, aliases map[string][]string) []string {
	if tr.RootName() != "local" || len(tr) < 2 {
		return nil
	}
	var base []string
	switch name := attrName(tr[1]); {
	case name == "names":
		base = []string{}
	case aliases[name] != nil:
		base = aliases[name]
	default:
		return nil
	}
	p := append([]string(nil), base...)
	for _, step := range tr[2:] {
		switch s := step.(type) {
		case hcl.TraverseAttr:
			p = append(p, s.Name)
		case hcl.TraverseIndex:
			if s.Key.Type().FriendlyName() != "string" {
				return p
			}
			p = append(p, s.Key.AsString())
		default:
			return p
		}
	}
	return p
}

func attrName(step hcl.Traverser) string {
	if a, ok := step.(hcl.TraverseAttr); ok {
		return a.Name
	}
	return ""
}

func lookup(doc map[string]any, path []string) (any, bool) {
	var node any = doc
	for _, k := range path {
		obj, ok := node.(map[string]any)
		if !ok {
			return nil, false
		}
		if node, ok = obj[k]; !ok {
			return nil, false
		}
	}
	return node, true
}

// leaves lists the dotted paths of the non-object values under obj.
func leaves(obj map[string]any, prefix string) []string {
	var out []string
	for k, v := range obj {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		if sub, ok := v.(map[string]any); ok {
			out = append(out, leaves(sub, p)...)
		} else {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

func containsSubstring(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
