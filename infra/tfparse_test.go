package infra

import (
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// tfModule is the parsed .tf files of one terraform directory (a module or an
// environment): locals and traversals resolve within a directory.
type tfModule struct {
	dir   string
	files map[string]*hclsyntax.Body
}

// loadModules parses every .tf file under root, grouped by directory,
// skipping terraform's own data directories.
func loadModules(t *testing.T, root string) []tfModule {
	t.Helper()
	parser := hclparse.NewParser()
	byDir := map[string]*tfModule{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".terraform" {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".tf") {
			return nil
		}
		f, diags := parser.ParseHCLFile(path)
		if diags.HasErrors() {
			t.Fatalf("parse %s: %s", path, diags.Error())
		}
		dir := filepath.Dir(path)
		m := byDir[dir]
		if m == nil {
			m = &tfModule{dir: dir, files: map[string]*hclsyntax.Body{}}
			byDir[dir] = m
		}
		m.files[path] = f.Body.(*hclsyntax.Body)
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	dirs := make([]string, 0, len(byDir))
	for d := range byDir {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	out := make([]tfModule, 0, len(dirs))
	for _, d := range dirs {
		out = append(out, *byDir[d])
	}
	return out
}

// parseModule parses in-memory sources as one module (for the checkers'
// own tests).
func parseModule(t *testing.T, dir string, sources map[string]string) tfModule {
	t.Helper()
	parser := hclparse.NewParser()
	m := tfModule{dir: dir, files: map[string]*hclsyntax.Body{}}
	for name, src := range sources {
		f, diags := parser.ParseHCL([]byte(src), filepath.Join(dir, name))
		if diags.HasErrors() {
			t.Fatalf("parse %s: %s", name, diags.Error())
		}
		m.files[filepath.Join(dir, name)] = f.Body.(*hclsyntax.Body)
	}
	return m
}

// walkBlocks calls fn for every block, nested ones included, with the path of
// block types leading to it (e.g. ["resource", "column_family"]).
func walkBlocks(body *hclsyntax.Body, path []string, fn func(path []string, b *hclsyntax.Block)) {
	for _, b := range body.Blocks {
		p := append(append([]string(nil), path...), b.Type)
		fn(p, b)
		walkBlocks(b.Body, p, fn)
	}
}

// walkAttrs calls fn for every attribute of body and of its nested blocks.
func walkAttrs(body *hclsyntax.Body, fn func(a *hclsyntax.Attribute)) {
	for _, a := range body.Attributes {
		fn(a)
	}
	for _, b := range body.Blocks {
		walkAttrs(b.Body, fn)
	}
}

// stringLiterals returns the literal string pieces of an expression: whole
// literals and the fixed parts of templates.
func stringLiterals(expr hclsyntax.Expression) []string {
	var out []string
	_ = hclsyntax.VisitAll(expr, func(n hclsyntax.Node) hcl.Diagnostics {
		if lit, ok := n.(*hclsyntax.LiteralValueExpr); ok && lit.Val.Type().FriendlyName() == "string" && lit.Val.IsKnown() && !lit.Val.IsNull() {
			out = append(out, lit.Val.AsString())
		}
		return nil
	})
	return out
}
