package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/patchctl/patchctl"
)

//go:embed migrations
var migrations embed.FS

// Migration is one schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations lists the embedded migrations of the engine, in order.
func (db *DB) Migrations() ([]Migration, error) {
	dir := "migrations/" + string(db.engine)
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		n, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number", name)
		}
		b, err := migrations.ReadFile(dir + "/" + name)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: n, Name: strings.TrimSuffix(name, ".sql"), SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// MigrationStatus is a migration and whether it was applied.
type MigrationStatus struct {
	Migration
	AppliedAt *time.Time
}

// advisoryKey serialises migrations across replicas on PostgreSQL.
const advisoryKey = 0x70617463 // "patc"

// Migrate applies pending migrations, each in its own transaction, and
// returns the ones it applied. On PostgreSQL a transaction-scoped advisory
// lock makes concurrent replicas wait for each other instead of racing (a
// session lock would stay held by a pooled connection).
func (db *DB) Migrate(ctx context.Context) ([]Migration, error) {
	if err := db.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		return nil, fmt.Errorf("creating schema_migrations: %w", err)
	}
	all, err := db.Migrations()
	if err != nil {
		return nil, err
	}
	var applied []Migration
	for _, m := range all {
		done := false
		err := db.InTx(ctx, func(tx *Tx) error {
			if db.engine == Postgres {
				if _, err := tx.exec(ctx, `SELECT pg_advisory_xact_lock(?)`, advisoryKey); err != nil {
					return err
				}
			}
			var n int
			if err := tx.row(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				done = true
				return nil
			}
			for _, stmt := range splitStatements(m.SQL) {
				if _, err := tx.sqlTx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("migration %s: %w\n%s", m.Name, err, stmt)
				}
			}
			_, err := tx.exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.Version, m.Name, time.Now().UTC().Format(time.RFC3339))
			return err
		})
		if err != nil {
			return applied, &patchctl.Error{Code: patchctl.CodeInternal, Message: "migration " + m.Name + " failed", Err: err}
		}
		if !done {
			db.log.Info("migration applied", "version", m.Version, "name", m.Name)
			applied = append(applied, m)
		}
	}
	db.warm(ctx)
	return applied, nil
}

// MigrationStatus lists every migration with when it was applied.
func (db *DB) MigrationStatus(ctx context.Context) ([]MigrationStatus, error) {
	all, err := db.Migrations()
	if err != nil {
		return nil, err
	}
	applied := map[int]time.Time{}
	rows, err := db.read.QueryContext(ctx, `SELECT version, applied_at FROM schema_migrations`)
	if err == nil {
		for rows.Next() {
			var v int
			var at string
			if err := rows.Scan(&v, &at); err != nil {
				rows.Close()
				return nil, err
			}
			t, _ := time.Parse(time.RFC3339, at)
			applied[v] = t
		}
		rows.Close()
	}
	out := make([]MigrationStatus, len(all))
	for i, m := range all {
		out[i].Migration = m
		if t, ok := applied[m.Version]; ok {
			out[i].AppliedAt = &t
		}
	}
	return out, nil
}

// Pending reports whether migrations remain to be applied.
func (db *DB) Pending(ctx context.Context) (int, error) {
	st, err := db.MigrationStatus(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range st {
		if s.AppliedAt == nil {
			n++
		}
	}
	return n, nil
}

// splitStatements splits a migration on semicolons at line ends, skipping
// comment-only chunks. Migrations keep one statement per terminated line
// group and use no semicolons inside string literals or bodies.
func splitStatements(sql string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(sql, "\n") {
		trim := strings.TrimSpace(line)
		if strings.HasPrefix(trim, "--") || trim == "" {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trim, ";") {
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}
