package model

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestEveryCodeHasItsStatus: every Code constant is in the table with an
// HTTP status of an error, and no two constants name one code.
func TestEveryCodeHasItsStatus(t *testing.T) {
	consts := codeConsts(t)
	seen := map[string]string{}
	for name, code := range consts {
		s, ok := codeStatus[code]
		if !ok || s < 400 || s > 599 {
			t.Errorf("%s (%q) has no HTTP status in codeStatus", name, code)
		}
		if other, dup := seen[code]; dup {
			t.Errorf("%s and %s both name %q", name, other, code)
		}
		seen[code] = name
	}
	if len(codeStatus) != len(consts) {
		t.Errorf("codeStatus has %d codes, the const block %d", len(codeStatus), len(consts))
	}
	for code, want := range map[string]int{CodeDryRunOperation: 412, CodeAuthFailure: 401, CodeUnauthorizedOperation: 403,
		CodeMethodNotAllowed: 405, CodeUnavailable: 503, CodeInternalError: 500, CodeInvalidGroupNotFound: 400, "": 500} {
		if got := HTTPStatus(code); got != want {
			t.Errorf("HTTPStatus(%q) = %d, want %d", code, got, want)
		}
	}
}

// codeConsts reads errors.go's Code constants: name → code.
func codeConsts(t *testing.T) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, sp := range gd.Specs {
			vs := sp.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && strings.HasPrefix(n.Name, "Code") {
					out[n.Name], _ = strconv.Unquote(lit.Value)
				}
			}
		}
	}
	return out
}

// TestCodesComeFromTheTable scans the module's Go sources (tests aside):
// every error built with Errorf or as an Error literal names its code with
// one of errors.go's constants, no other file declares a code constant,
// and no string literal that is a code (passed, say, to a function that
// takes a code) is written anywhere else.
func TestCodesComeFromTheTable(t *testing.T) {
	consts := codeConsts(t)
	root := filepath.Join("..", "..")
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") ||
			path == "errors.go" || filepath.Base(path) == "errors.go" && strings.HasSuffix(filepath.Dir(path), "model") {
			return err
		}
		n++
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		for _, problem := range codeProblems(f, consts) {
			t.Errorf("%s: %s", path, problem)
		}
		return nil
	})
	if err != nil || n < 100 {
		t.Fatalf("scanned %d files: %v", n, err)
	}
}

// codeProblems lists what in f names a code other than by the table.
func codeProblems(f *ast.File, consts map[string]string) []string {
	var out []string
	known := func(e ast.Expr) bool {
		// model.CodeX, CodeX inside model, or a variable or field that
		// holds one (what is stored there is a constant or a literal,
		// which the literal rule checks).
		switch e := e.(type) {
		case *ast.SelectorExpr:
			if x, ok := e.X.(*ast.Ident); !ok || x.Name != "model" {
				return true
			}
			_, ok := consts[e.Sel.Name]
			return ok
		case *ast.Ident:
			_, ok := consts[e.Name]
			return ok || !strings.HasPrefix(e.Name, "Code")
		}
		return false
	}
	ast.Inspect(f, func(x ast.Node) bool {
		switch x := x.(type) {
		case *ast.CallExpr:
			if modelName(f, x.Fun) == "Errorf" && len(x.Args) > 0 && !known(x.Args[0]) {
				out = append(out, "Errorf with code "+exprText(x.Args[0])+" that is not a constant of model's table")
			}
		case *ast.CompositeLit:
			if modelName(f, x.Type) == "Error" {
				for _, el := range x.Elts {
					if kv, ok := el.(*ast.KeyValueExpr); ok && exprText(kv.Key) == "Code" && !known(kv.Value) {
						out = append(out, "Error{Code: "+exprText(kv.Value)+"} is not a constant of model's table")
					}
				}
			}
		case *ast.ValueSpec:
			for _, name := range x.Names {
				if strings.HasPrefix(name.Name, "Code") || strings.HasPrefix(name.Name, "code") {
					out = append(out, "declares "+name.Name+": codes live in model's table")
				}
			}
		case *ast.BasicLit:
			if s, err := strconv.Unquote(x.Value); err == nil && x.Kind == token.STRING && isCode(s, consts) {
				out = append(out, "the literal "+x.Value+" is a code: use model's constant")
			}
		}
		return true
	})
	return out
}

func isCode(s string, consts map[string]string) bool {
	for _, c := range consts {
		if s == c {
			return true
		}
	}
	return false
}

// modelName returns the name e refers to when it is one of model's: model.X
// elsewhere, X in model itself.
func modelName(f *ast.File, e ast.Expr) string {
	switch e := e.(type) {
	case *ast.SelectorExpr:
		if x, ok := e.X.(*ast.Ident); ok && x.Name == "model" {
			return e.Sel.Name
		}
	case *ast.Ident:
		if f.Name.Name == "model" {
			return e.Name
		}
	}
	return ""
}

func exprText(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.BasicLit:
		return e.Value
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return exprText(e.X) + "." + e.Sel.Name
	}
	return "an expression"
}
