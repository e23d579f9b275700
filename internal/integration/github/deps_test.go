package github

import (
	"go/build"
	"strings"
	"testing"
)

// TestImports keeps the integration pure: the domain, go-github, the
// standard library and leaf text helpers, never the store or another
// integration.
func TestImports(t *testing.T) {
	for _, dir := range []string{".", "githubtest", "../gitrepo"} {
		pkg, err := build.ImportDir(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range pkg.Imports {
			switch {
			case imp == "github.com/patchctl/patchctl",
				imp == "github.com/google/go-github/v93/github",
				imp == "github.com/patchctl/patchctl/internal/textutil",
				!strings.Contains(strings.Split(imp, "/")[0], "."):
			default:
				t.Errorf("%s imports %s", pkg.ImportPath, imp)
			}
		}
	}
}
