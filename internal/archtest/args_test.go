package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestRepeatedArgumentsBounded: the API functions read a repeated argument
// through Args.MultiAtMost, which refuses a list longer than it can hold
// before any work per value, never through Args.Multi, which takes any
// number (issue: 70 000 acl values cost 13 s of CPU).
func TestRepeatedArgumentsBounded(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "functions", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no sources of internal/functions (%v)", err)
	}
	fset := token.NewFileSet()
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "Multi" {
				t.Errorf("%s: a function reads a repeated argument with Multi: use MultiAtMost, with the most values it can hold", fset.Position(sel.Pos()))
			}
			return true
		})
	}
}
