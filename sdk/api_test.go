package sdk_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// publicPackages are the SDK's packages plugin authors and the host import.
var publicPackages = []string{".", "payment", "router", "notify", "audit", "client", "sdktest", "paymenttest", "routertest"}

// TestNoInternalTypeInPublicSignatures fails for every exported declaration
// of a public package whose written type names a package under internal/:
// an author could not write that type, and the package's documentation
// would point at code they cannot read. (Values, such as the sentinel
// errors, are not signatures and are not checked.)
func TestNoInternalTypeInPublicSignatures(t *testing.T) {
	for _, dir := range publicPackages {
		fset := token.NewFileSet()
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		parsed := 0
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			parsed++
			src, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			internal := map[string]bool{}
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if !strings.Contains(path, "/internal/") {
					continue
				}
				local := path[strings.LastIndex(path, "/")+1:]
				if imp.Name != nil {
					local = imp.Name.Name
				}
				internal[local] = true
			}
			for _, where := range internalUses(f, internal) {
				t.Errorf("%s: %s", fset.Position(where.pos), where.what)
			}
		}
		if parsed == 0 {
			t.Errorf("package %s: no Go files read", dir)
		}
	}
}

type use struct {
	pos  token.Pos
	what string
}

// internalUses lists the places in f's exported declarations that name one
// of the internal packages.
func internalUses(f *ast.File, internal map[string]bool) []use {
	var uses []use
	check := func(decl string, n ast.Node) {
		if n == nil {
			return
		}
		ast.Inspect(n, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.Field:
				// Unexported struct fields and interface methods are not
				// part of the signature.
				if len(x.Names) > 0 && !x.Names[0].IsExported() {
					return false
				}
			case *ast.SelectorExpr:
				if id, ok := x.X.(*ast.Ident); ok && internal[id.Name] {
					uses = append(uses, use{x.Pos(), decl + " names " + id.Name + "." + x.Sel.Name})
				}
			}
			return true
		})
	}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if !d.Name.IsExported() || (d.Recv != nil && !exportedReceiver(d.Recv)) {
				continue
			}
			check(d.Name.Name, d.Type)
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					if s.Name.IsExported() {
						check(s.Name.Name, s.Type)
					}
				case *ast.ValueSpec:
					for _, n := range s.Names {
						if n.IsExported() {
							check(n.Name, s.Type)
							break
						}
					}
				}
			}
		}
	}
	return uses
}

func exportedReceiver(recv *ast.FieldList) bool {
	typ := recv.List[0].Type
	if star, ok := typ.(*ast.StarExpr); ok {
		typ = star.X
	}
	if idx, ok := typ.(*ast.IndexExpr); ok {
		typ = idx.X
	}
	id, ok := typ.(*ast.Ident)
	return ok && id.IsExported()
}
