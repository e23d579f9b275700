package github

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchctl/patchctl"
)

func TestPatchKeys(t *testing.T) {
	tests := []struct {
		name, branch, title, body string
		want                      []string
	}{
		{"nothing", "", "", "", nil},
		{"plain branch", "main", "Update README", "no reference", nil},
		{"exact branch", "patch/PATCH-42", "", "", []string{"PATCH-42"}},
		{"branch with slug", "patch/PATCH-42-bump-openssl", "", "", []string{"PATCH-42"}},
		{"canonical branch", patchctl.BranchName("PATCH-42", "Bump OpenSSL to 3.0.13"), "", "", []string{"PATCH-42"}},
		{"branch prefix of longer id", "patch/PATCH-421", "", "", []string{"PATCH-421"}},
		{"branch glued suffix", "patch/PATCH-42a", "", "", nil},
		{"branch underscore suffix", "patch/PATCH-42_x", "", "", nil},
		{"branch lower case", "patch/patch-42", "", "", nil},
		{"branch other prefix", "feature/PATCH-42", "", "", nil},
		{"branch nested", "user/patch/PATCH-42", "", "", nil},
		{"branch no id", "patch/PATCH-", "", "", nil},
		{"branch zero", "patch/PATCH-0", "", "", nil},
		{"branch leading zero", "patch/PATCH-042", "", "", nil},
		{"branch overflow", "patch/PATCH-99999999999999999999", "", "", nil},
		{"title", "main", "Fix CVE-2024-1234 (PATCH-7)", "", []string{"PATCH-7"}},
		{"title lower case", "", "patch-7: bump", "", []string{"PATCH-7"}},
		{"title mixed case", "", "Patch-7 bump", "", []string{"PATCH-7"}},
		{"not a prefix of a longer id", "", "PATCH-421", "", []string{"PATCH-421"}},
		{"glued letter after", "", "PATCH-42a", "", nil},
		{"glued letter before", "", "XPATCH-42", "", nil},
		{"glued digit before", "", "1PATCH-42", "", nil},
		{"glued underscore", "", "_PATCH-42 PATCH-43_", "", nil},
		{"glued unicode letter", "", "éPATCH-42 PATCH-43é", "", nil},
		{"punctuation around", "", "", "(PATCH-1), [PATCH-2]. PATCH-3! #PATCH-4 /PATCH-5- `PATCH-6`", []string{"PATCH-1", "PATCH-2", "PATCH-3", "PATCH-4", "PATCH-5", "PATCH-6"}},
		{"branch name in body", "", "", "see patch/PATCH-8-fix", []string{"PATCH-8"}},
		{"url in body", "", "", "https://patchctl.example/patches/PATCH-9", []string{"PATCH-9"}},
		{"hyphen before", "", "", "hot-PATCH-10", []string{"PATCH-10"}},
		{"at start and end", "", "PATCH-11", "PATCH-12", []string{"PATCH-11", "PATCH-12"}},
		{"multi line", "", "", "line one\nPATCH-13\r\nPATCH-14", []string{"PATCH-13", "PATCH-14"}},
		{"zero and leading zero", "", "PATCH-0 PATCH-007", "", nil},
		{"no digits", "", "PATCH- PATCH-x PATCH", "", nil},
		{"double dash", "", "PATCH--42", "", nil},
		{"overflow", "", "PATCH-9223372036854775808", "", nil},
		{"max int64", "", "PATCH-9223372036854775807", "", []string{"PATCH-9223372036854775807"}},
		{"repeat dedup sorted", "patch/PATCH-42", "PATCH-42 PATCH-5", "patch-42 PATCH-100", []string{"PATCH-5", "PATCH-42", "PATCH-100"}},
		{"42 and 421 both", "patch/PATCH-42", "PATCH-421", "", []string{"PATCH-42", "PATCH-421"}},
		{"adjacent mentions", "", "PATCH-1PATCH-2 PATCH-3,PATCH-4", "", []string{"PATCH-3", "PATCH-4"}},
		{"overlapping prefix", "", "PPATCH-5 patchpatch-6", "", nil},
		{"mixed case body", "", "PATCH-1", "pATCh-2", []string{"PATCH-1", "PATCH-2"}},
		{"fullwidth digits", "", "PATCH-４２", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := PatchKeys(tc.branch, tc.title, tc.body)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("PatchKeys(%q, %q, %q) (-want +got):\n%s", tc.branch, tc.title, tc.body, diff)
			}
		})
	}
}

// TestPatchKeysBranchAgreesWithDomain: the branch rule is
// patchctl.BranchBelongsTo's.
func TestPatchKeysBranchAgreesWithDomain(t *testing.T) {
	branches := []string{"patch/PATCH-42", "patch/PATCH-42-x", "patch/PATCH-421", "patch/PATCH-42x", "patch/PATCH-42/x", "patch/PATCH-1-2-3"}
	for _, b := range branches {
		keys := PatchKeys(b, "", "")
		for _, k := range []string{"PATCH-1", "PATCH-42", "PATCH-421"} {
			in := false
			for _, got := range keys {
				in = in || got == k
			}
			if want := patchctl.BranchBelongsTo(b, k); in != want {
				t.Errorf("branch %q key %s: PatchKeys says %v, BranchBelongsTo says %v", b, k, in, want)
			}
		}
	}
}
