package store

import (
	"context"
	"testing"
)

// SetCountCompaction lowers the number of counter rows that makes
// FindingCounts compact them, until the returned function restores it.
func SetCountCompaction(rows int) func() {
	old := countRowsBeforeCompaction
	countRowsBeforeCompaction = rows
	return func() { countRowsBeforeCompaction = old }
}

// SetCheckMax sets how many findings a page checks against filters no
// index holds, until the returned function restores it.
func SetCheckMax(n int) func() {
	old := findingCheckMax
	findingCheckMax = n
	return func() { findingCheckMax = old }
}

// CountRows is the number of rows of finding_counts.
func CountRows(t testing.TB, db *DB) int {
	var n int
	if err := db.reader().row(context.Background(), `SELECT COUNT(*) FROM finding_counts`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
