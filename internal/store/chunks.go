package store

import "strings"

// maxInList bounds the ids of one IN (...) list: SQLite and PostgreSQL both
// cap parameters per statement, and long lists plan badly.
const maxInList = 500

// inChunks calls fn for successive chunks of items with the placeholder list
// ("?,?,?") and the chunk as arguments, stopping at the first error.
func inChunks[T any](items []T, fn func(ph string, args []any) error) error {
	for len(items) > 0 {
		n := min(maxInList, len(items))
		if err := fn(placeholders(n), anys(items[:n])); err != nil {
			return err
		}
		items = items[n:]
	}
	return nil
}

// placeholders is the list of n placeholders "?,?,?" of an IN (...) list
// or a VALUES row.
func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

// anys converts s to query arguments.
func anys[T any](s []T) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
