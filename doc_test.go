package mixed_test

import (
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// notConstructed are the exported types a user does not build, and so
// needs no example of their own: the package hands them out, and the
// examples of the types that do show them.
var notConstructed = map[string]bool{
	"Part":           true, // from Reader.NextPart
	"MessageBody":    true, // the Body of a Request or Response
	"CopiedPart":     true, // from ReadParts
	"CopiedResponse": true, // from ReadResponses
	"Call":           true, // from Batch.Add
	"CallInfo":       true, // given to the OnCall hooks
	"ChangesetError": true, // an error a Call reports
	"StatusError":    true, // an error Batch.Do reports
	"Group":          true, // a user's own type; ExampleHandlerOptions_changesets implements one
}

// TestDocComments checks, for the root package and batch, that every
// exported name has a doc comment that starts with its name (staticcheck's
// ST1020-22, off by default, and more: struct fields, constants and
// variables), and that every exported type a user constructs has a
// runnable example with output.
func TestDocComments(t *testing.T) {
	for _, dir := range []string{".", "batch"} {
		fset := token.NewFileSet()
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var files []*ast.File
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") {
				continue
			}
			f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
		p, err := doc.NewFromFiles(fset, files, "example.com/"+dir)
		if err != nil {
			t.Fatal(err)
		}
		checkPackageDocs(t, dir, p)
	}
}

func checkPackageDocs(t *testing.T, dir string, p *doc.Package) {
	starts := func(what, name, text string, articles bool) {
		t.Helper()
		ok := strings.HasPrefix(text, name+" ")
		if articles {
			ok = ok || strings.HasPrefix(text, "A "+name+" ") || strings.HasPrefix(text, "An "+name+" ")
		}
		if !ok {
			t.Errorf("%s: %s %s: doc comment %q does not start with its name", dir, what, name, firstLine(text))
		}
	}
	values := func(vs []*doc.Value) {
		for _, v := range vs {
			for _, spec := range v.Decl.Specs {
				vs := spec.(*ast.ValueSpec)
				for _, n := range vs.Names {
					if n.IsExported() && v.Doc == "" && vs.Doc == nil && vs.Comment == nil {
						t.Errorf("%s: %s has no doc comment", dir, n.Name)
					}
				}
			}
		}
	}
	values(p.Consts)
	values(p.Vars)
	for _, f := range p.Funcs {
		starts("func", f.Name, f.Doc, false)
	}
	for _, typ := range p.Types {
		starts("type", typ.Name, typ.Doc, true)
		values(typ.Consts)
		values(typ.Vars)
		hasExample := exampleWithOutput(typ.Examples)
		for _, f := range typ.Funcs {
			starts("func", f.Name, f.Doc, false)
			hasExample = hasExample || exampleWithOutput(f.Examples)
		}
		for _, m := range typ.Methods {
			if !strings.HasPrefix(m.Doc, m.Name+" ") {
				t.Errorf("%s: method %s.%s: doc comment %q does not start with its name", dir, typ.Name, m.Name, firstLine(m.Doc))
			}
			hasExample = hasExample || exampleWithOutput(m.Examples)
		}
		if !hasExample && !notConstructed[typ.Name] {
			t.Errorf("%s: type %s has no runnable example with output", dir, typ.Name)
		}
		for _, spec := range typ.Decl.Specs {
			st, ok := spec.(*ast.TypeSpec).Type.(*ast.StructType)
			if !ok {
				continue
			}
			for _, fl := range st.Fields.List {
				for _, n := range fl.Names {
					if n.IsExported() && fl.Doc == nil && fl.Comment == nil {
						t.Errorf("%s: field %s.%s has no comment", dir, typ.Name, n.Name)
					}
				}
			}
		}
	}
}

func exampleWithOutput(exs []*doc.Example) bool {
	for _, ex := range exs {
		if ex.Output != "" || ex.EmptyOutput {
			return true
		}
	}
	return false
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
