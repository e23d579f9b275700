package pgtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestNewServesVersion(t *testing.T) {
	start := time.Now()
	url := New(t)
	t.Logf("New took %s", time.Since(start))
	conn := connect(t, url)
	var version string
	if err := conn.QueryRow(t.Context(), "SELECT version()").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(version, "PostgreSQL ") {
		t.Errorf("SELECT version() = %q, want it to start with PostgreSQL", version)
	}
	t.Log(version)
}

func TestNewGivesDistinctEmptyDatabases(t *testing.T) {
	url1, url2 := New(t), New(t)
	if url1 == url2 {
		t.Fatalf("two New calls returned the same URL %s", url1)
	}
	c1, c2 := connect(t, url1), connect(t, url2)

	names := make([]string, 2)
	for i, c := range []*pgx.Conn{c1, c2} {
		if err := c.QueryRow(t.Context(), "SELECT current_database()").Scan(&names[i]); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := c.QueryRow(t.Context(),
			"SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "+
				"WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("database %s has %d user relations, want 0", names[i], n)
		}
	}
	if names[0] == names[1] {
		t.Fatalf("both URLs lead to database %s", names[0])
	}

	// State written to one must not be visible in the other.
	if _, err := c1.Exec(t.Context(), "CREATE TABLE only_here (id int)"); err != nil {
		t.Fatal(err)
	}
	var found bool
	if err := c2.QueryRow(t.Context(), "SELECT to_regclass('only_here') IS NOT NULL").Scan(&found); err != nil {
		t.Fatal(err)
	}
	if found {
		t.Errorf("table created in %s is visible in %s", names[0], names[1])
	}
}

func TestNewDropsDatabaseAtCleanup(t *testing.T) {
	var name string
	t.Run("user", func(t *testing.T) {
		conn := connect(t, New(t))
		if err := conn.QueryRow(t.Context(), "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		// The connection is still open when the cleanup drops the database;
		// the drop must end it rather than fail.
	})
	if name == "" {
		t.Skip("subtest did not get a database")
	}
	admin := connect(t, server(t).String())
	var exists bool
	if err := admin.QueryRow(t.Context(), "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("database %s still exists after its test ended", name)
	}
}

func TestDBName(t *testing.T) {
	for _, test := range []string{"TestX", "TestNew/sub_test#01", strings.Repeat("TestLong", 20)} {
		name, err := dbName(test)
		if err != nil {
			t.Fatal(err)
		}
		if len(name) > 63 {
			t.Errorf("dbName(%q) = %q: %d bytes, PostgreSQL keeps 63", test, name, len(name))
		}
		if strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
			t.Errorf("dbName(%q) = %q: want only [a-z0-9_]", test, name)
		}
		again, _ := dbName(test)
		if again == name {
			t.Errorf("dbName(%q) returned %q twice", test, name)
		}
	}
}

func TestParseServerURL(t *testing.T) {
	for _, test := range []struct {
		raw, want string // want "" means an error
	}{
		{"postgres://u:p@db:5432/app?sslmode=disable", "postgres://u:p@db:5432/app?sslmode=disable"},
		{"postgresql://u@db", "postgresql://u@db/postgres"},
		{"host=db user=u", ""},
		{"mysql://db/x", ""},
	} {
		u, err := parseServerURL(test.raw)
		got := ""
		if err == nil {
			got = u.String()
		}
		if got != test.want {
			t.Errorf("parseServerURL(%q) = %q, %v; want %q", test.raw, got, err, test.want)
		}
	}
}

func BenchmarkNew(b *testing.B) {
	server(b) // start the cluster outside the timing
	for b.Loop() {
		New(b)
	}
}
