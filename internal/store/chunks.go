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
		args := make([]any, n)
		for i, it := range items[:n] {
			args[i] = it
		}
		if err := fn(strings.TrimSuffix(strings.Repeat("?,", n), ","), args); err != nil {
			return err
		}
		items = items[n:]
	}
	return nil
}
