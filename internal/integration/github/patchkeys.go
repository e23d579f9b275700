package github

import (
	"slices"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/patchctl/patchctl"
)

// PatchKeys returns the patches (PATCH-n keys, sorted by n, without
// duplicates) a pull request refers to:
//
//   - its head branch is a dedicated patch branch, patch/PATCH-42 or
//     patch/PATCH-42-anything (patchctl.BranchBelongsTo; case-sensitive like
//     the branch names patchctl creates);
//   - PATCH-42 appears as a whole word in the title or body, in any case
//     (patch-42 counts, PATCH-421 and XPATCH-42 do not refer to 42).
//
// A key is PATCH- followed by a positive decimal id without leading zeros
// that fits an int64, so every key returned satisfies
// patchctl.ParsePatchKey and round-trips through patchctl.PatchKey.
func PatchKeys(branch, title, body string) []string {
	var ids []int64
	if id, ok := branchPatchID(branch); ok {
		ids = append(ids, id)
	}
	ids = textPatchIDs(ids, title)
	ids = textPatchIDs(ids, body)
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = patchctl.PatchKey(id)
	}
	return keys
}

const branchKeyPrefix = patchctl.BranchPrefix + "PATCH-"

// branchPatchID reads the id of a dedicated patch branch.
func branchPatchID(branch string) (int64, bool) {
	if len(branch) <= len(branchKeyPrefix) || branch[:len(branchKeyPrefix)] != branchKeyPrefix {
		return 0, false
	}
	id, n, ok := readID(branch[len(branchKeyPrefix):])
	if !ok {
		return 0, false
	}
	// Same rule as patchctl.BranchBelongsTo: the key ends the branch or is
	// followed by '-'.
	if rest := branch[len(branchKeyPrefix)+n:]; rest != "" && rest[0] != '-' {
		return 0, false
	}
	return id, true
}

// textPatchIDs appends the ids of the whole-word, case-insensitive PATCH-n
// mentions in s.
func textPatchIDs(ids []int64, s string) []int64 {
	const word = "patch-"
	for i := 0; i+len(word) < len(s); i++ {
		if s[i] != 'p' && s[i] != 'P' || !hasPrefixFoldASCII(s[i:], word) {
			continue
		}
		if i > 0 {
			if r, _ := utf8.DecodeLastRuneInString(s[:i]); isWordRune(r) {
				continue
			}
		}
		start := i + len(word)
		id, n, ok := readID(s[start:])
		if !ok {
			continue
		}
		end := start + n
		if end < len(s) {
			if r, _ := utf8.DecodeRuneInString(s[end:]); isWordRune(r) {
				i = end - 1
				continue
			}
		}
		ids = append(ids, id)
		i = end - 1
	}
	return ids
}

// readID reads a run of ASCII digits at the start of s as a patch id. It
// returns the number of bytes of the run; ok is false when the run is
// empty, has a leading zero, is zero, or overflows an int64.
func readID(s string) (id int64, n int, ok bool) {
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	if n == 0 || s[0] == '0' {
		return 0, n, false
	}
	id, err := strconv.ParseInt(s[:n], 10, 64)
	return id, n, err == nil
}

// hasPrefixFoldASCII reports whether s starts with the lowercase ASCII
// prefix p, ignoring ASCII case (no Unicode folding: "ſ" is not "s").
func hasPrefixFoldASCII(s, p string) bool {
	if len(s) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != p[i] {
			return false
		}
	}
	return true
}

// isWordRune reports whether r continues a word: a letter, a digit or '_'.
func isWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}
