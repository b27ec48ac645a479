package infra

import (
	"fmt"
	"sort"
	"testing"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// basicRoles are the primitive roles that grant far more than any component
// needs; the issue forbids them.
var basicRoles = map[string]bool{"roles/owner": true, "roles/editor": true, "roles/viewer": true}

func TestNoBasicRoles(t *testing.T) {
	mods := loadModules(t, ".")
	for _, p := range basicRoleProblems(mods) {
		t.Error(p)
	}
	if n := countIAMResources(mods); n < 5 {
		t.Fatalf("found %d IAM member resources; the check would be vacuous", n)
	}
}

func TestBasicRoleCheckerRejectsEditor(t *testing.T) {
	m := parseModule(t, "modules/x", map[string]string{"iam.tf": `
locals {
  roles = ["roles/pubsub.publisher", "roles/editor"]
}
resource "google_project_iam_member" "m" {
  for_each = toset(local.roles)
  role     = each.value
}
`})
	if p := basicRoleProblems([]tfModule{m}); len(p) != 1 {
		t.Fatalf("want one problem for roles/editor, got %q", p)
	}
}

// basicRoleProblems reports every string literal naming a basic role,
// wherever it appears (role attributes, lists of roles, maps of grants).
func basicRoleProblems(mods []tfModule) []string {
	var problems []string
	for _, m := range mods {
		for path, body := range m.files {
			walkAttrs(body, func(a *hclsyntax.Attribute) {
				for _, lit := range stringLiterals(a.Expr) {
					if basicRoles[lit] {
						problems = append(problems, fmt.Sprintf("%s:%d: basic role %s", path, a.SrcRange.Start.Line, lit))
					}
				}
			})
		}
	}
	sort.Strings(problems)
	return problems
}

func countIAMResources(mods []tfModule) int {
	n := 0
	for _, m := range mods {
		for _, body := range m.files {
			for _, b := range body.Blocks {
				if b.Type == "resource" && len(b.Labels) == 2 && len(b.Labels[0]) > 11 && b.Labels[0][len(b.Labels[0])-11:] == "_iam_member" {
					n++
				}
			}
		}
	}
	return n
}
