package async_test

import (
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// internalRef is what points a reader at a package they cannot import.
var internalRef = regexp.MustCompile(`internal/|\bsignpb\b|\bsignd\b`)

// TestPublicDocs (public packages, item 1 of the signer in production:
// the signer was internal, and remote's documentation sent its users to
// internal packages): no doc comment of an exported name of a public
// package, nor its package doc, mentions an internal package; and no
// file of a public package that holds an Example imports one, nor does
// the code of examples/, since a user could not run it as it is written.
func TestPublicDocs(t *testing.T) {
	err := filepath.WalkDir(".", func(dir string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		base := filepath.Base(dir)
		if base == "internal" || base == "testdata" || (strings.HasPrefix(base, ".") && dir != ".") {
			return filepath.SkipDir
		}
		checkPackageDocs(t, dir)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func checkPackageDocs(t *testing.T, dir string) {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, "_test.go") {
			checkExampleImports(t, filepath.Join(dir, name), f)
			continue
		}
		if strings.HasPrefix(filepath.ToSlash(dir), "examples/") {
			checkNoInternal(t, filepath.Join(dir, name), f, "is an example a user copies")
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return
	}
	p, err := doc.NewFromFiles(fset, files, "example.com/"+dir)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what, text string) {
		if m := internalRef.FindString(text); m != "" {
			t.Errorf("%s: the doc of %s mentions %q, an internal package:\n%s", dir, what, m, text)
		}
	}
	check("the package", p.Doc)
	values := func(vs []*doc.Value) {
		for _, v := range vs {
			check(strings.Join(v.Names, ", "), v.Doc)
			for _, spec := range v.Decl.Specs {
				if vs, ok := spec.(*ast.ValueSpec); ok {
					check(vs.Names[0].Name, vs.Doc.Text()+vs.Comment.Text())
				}
			}
		}
	}
	funcs := func(fs []*doc.Func) {
		for _, f := range fs {
			check(f.Name, f.Doc)
		}
	}
	values(p.Consts)
	values(p.Vars)
	funcs(p.Funcs)
	for _, ty := range p.Types {
		check(ty.Name, ty.Doc)
		values(ty.Consts)
		values(ty.Vars)
		funcs(ty.Funcs)
		funcs(ty.Methods)
		ast.Inspect(ty.Decl, func(n ast.Node) bool {
			if f, ok := n.(*ast.Field); ok && len(f.Names) > 0 && f.Names[0].IsExported() {
				check(ty.Name+"."+f.Names[0].Name, f.Doc.Text()+f.Comment.Text())
			}
			return true
		})
	}
}

// checkExampleImports refuses an Example in a file that imports an
// internal package.
func checkExampleImports(t *testing.T, path string, f *ast.File) {
	hasExample := false
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && strings.HasPrefix(fn.Name.Name, "Example") {
			hasExample = true
		}
	}
	if !hasExample {
		return
	}
	checkNoInternal(t, path, f, "holds Examples")
}

// checkNoInternal refuses a file that imports an internal package.
func checkNoInternal(t *testing.T, path string, f *ast.File, why string) {
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); strings.Contains(p, "/internal/") {
			t.Errorf("%s %s, and imports %s, which a user cannot", path, why, p)
		}
	}
}
