// Package corpus locates the shared corpus of real tool output
// (../shared/corpus relative to the repository root) for tests.
//
// Tests reference corpus files by path; nothing is copied into the project.
// When the corpus is absent a test skips, except under CI=true, where the
// corpus must be present and its absence fails the test.
package corpus

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Dir returns the corpus directory, or skips (fails under CI=true) when it
// is absent. PATCHCTL_CORPUS overrides the location.
func Dir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("PATCHCTL_CORPUS")
	if dir == "" {
		_, file, _, _ := runtime.Caller(0)
		// internal/testutil/corpus/corpus.go -> repository root -> ../shared/corpus
		root := filepath.Join(filepath.Dir(file), "..", "..", "..")
		dir = filepath.Join(root, "..", "shared", "corpus")
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		if os.Getenv("CI") == "true" {
			t.Fatalf("corpus not found at %s: under CI=true it must be present", dir)
		}
		t.Skipf("corpus not found at %s (set PATCHCTL_CORPUS); skipping", dir)
	}
	return dir
}

// Path returns the path of a corpus file, e.g. Path(t, "trivy/npm.json.golden").
// It fails the test when the corpus is present but the file is not.
func Path(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(Dir(t), filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("corpus file %s: %v", rel, err)
	}
	return p
}

// Glob returns the corpus files matching pattern (relative to the corpus).
func Glob(t testing.TB, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(Dir(t), filepath.FromSlash(pattern)))
	if err != nil {
		t.Fatal(err)
	}
	if len(m) == 0 {
		t.Fatalf("no corpus files match %s", pattern)
	}
	return m
}
