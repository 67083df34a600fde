package ops

import (
	"go/ast"
	"go/parser"
	"go/token"
	"testing"

	"github.com/ops-worker/ops-worker/internal/lab"
)

// Every Code constant of errors.go has its status in codeStatus: adding a
// code is one edit, and forgetting its status fails here.
func TestEveryCodeHasAStatus(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	ast.Inspect(f, func(node ast.Node) bool {
		vs, ok := node.(*ast.ValueSpec)
		if !ok {
			return true
		}
		if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" {
			return true
		}
		for i, name := range vs.Names {
			lit, ok := vs.Values[i].(*ast.BasicLit)
			if !ok {
				t.Fatalf("%s is not a string literal", name.Name)
			}
			code := Code(lit.Value[1 : len(lit.Value)-1])
			n++
			if _, ok := codeStatus[code]; !ok {
				t.Errorf("%s (%s) has no HTTP status in codeStatus", name.Name, code)
			}
		}
		return true
	})
	if n != len(codeStatus) || n < 20 {
		t.Errorf("%d Code constants, %d statuses", n, len(codeStatus))
	}
}

// Every lab kind has its answer in labCodes: a new kind of lab that ops
// does not map fails here instead of answering a generic STATION_ERROR.
func TestEveryLabKindHasACode(t *testing.T) {
	for _, k := range lab.Kinds() {
		if _, ok := labCodes[k.Err]; !ok {
			t.Errorf("lab kind %s has no code in labCodes", k.Name)
		}
	}
	if len(labCodes) != len(lab.Kinds()) {
		t.Errorf("%d codes for %d lab kinds", len(labCodes), len(lab.Kinds()))
	}
}
