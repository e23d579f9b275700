// Package testdb opens migrated patchctl databases for tests, on every
// engine: a fresh SQLite file and a fresh PostgreSQL database (through
// internal/testutil/pgtest, which skips or, under CI=true, fails when
// PostgreSQL is unavailable).
//
// Packages using it need `func TestMain(m *testing.M) { pgtest.Main(m) }`.
package testdb

import (
	"context"
	"testing"

	"github.com/patchctl/patchctl/internal/store"
	"github.com/patchctl/patchctl/internal/testutil/pgtest"
)

// Engines are the engines every database test runs on.
var Engines = []store.Engine{store.SQLite, store.Postgres}

// Open returns a migrated database of the engine, closed at cleanup.
func Open(t testing.TB, engine store.Engine) *store.DB {
	t.Helper()
	var dsn string
	switch engine {
	case store.SQLite:
		dsn = "sqlite:" + t.TempDir() + "/patchctl.db"
	case store.Postgres:
		dsn = pgtest.New(t)
	default:
		t.Fatalf("unknown engine %q", engine)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, dsn, nil)
	if err != nil {
		t.Fatalf("open %s: %v", engine, err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatalf("migrate %s: %v", engine, err)
	}
	return db
}

// Each runs fn as a subtest per engine, each with its own fresh database.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	for _, e := range Engines {
		t.Run(string(e), func(t *testing.T) {
			fn(t, Open(t, e))
		})
	}
}
