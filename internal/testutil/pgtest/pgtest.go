// Package pgtest gives tests a throwaway PostgreSQL database.
//
// New(t) returns the URL of a fresh, empty database that is created for the
// test and dropped when it ends, so tests never share state. The server is:
//
//   - the one at PATCHCTL_TEST_POSTGRES_URL, when that is set: a postgres://
//     URL of a role that may CREATE DATABASE. Its own database is used only to
//     create and drop the per-test databases.
//   - otherwise a cluster that this package starts once per test binary, on
//     first use, from the system's initdb and pg_ctl (found in PATH, else in
//     /usr/lib/postgresql/<highest version>/bin). It listens on 127.0.0.1 and
//     a free port, trusts local connections, and runs with fsync,
//     synchronous_commit and full_page_writes off: it holds nothing worth
//     keeping. initdb refuses to run as root, so as root the binaries run as
//     the postgres user, in a directory under /tmp that user owns.
//
// When neither is available, New skips the test with a message saying how to
// get PostgreSQL; under CI=true it fails the test instead. A cluster that
// fails to start is treated the same way, and the message carries the tail of
// the server log.
//
// # Stopping the cluster
//
// A package whose tests use New should have
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// Main runs the tests and then stops the cluster (pg_ctl -m fast) and removes
// its directory before the test binary exits.
//
// The safety net, for a test binary that crashes, is killed (SIGKILL, a go test
// timeout) or has no TestMain: next to the cluster runs a watchdog, a small
// /bin/sh process in its own session, whose stdin is the read end of a pipe.
// Only the test binary holds the write end, and the kernel closes it however
// the binary ends. The watchdog blocks reading its stdin; at end of file it
// runs pg_ctl stop and removes the cluster directory. Main stops the cluster
// by the same path: it closes the write end and waits for the watchdog. There
// is no polling and no PID that could be reused. Should the watchdog itself be
// killed, the cluster stays until its directory is removed (a reboot clears
// /tmp); PostgreSQL rechecks its lock file about once a minute and shuts down
// when the directory is gone.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the environment variable that points the tests at an existing
// server instead of a throwaway cluster.
const EnvURL = "PATCHCTL_TEST_POSTGRES_URL"

const unavailableMsg = "PostgreSQL not available: install Debian's postgresql package or set " + EnvURL

// opTimeout bounds each administrative step (connect, CREATE/DROP DATABASE).
const opTimeout = time.Minute

var (
	mu      sync.Mutex
	done    bool     // the server was set up (or failed to be)
	adminDB *url.URL // URL of the maintenance database on the server
	running *cluster // the cluster this binary started, if any
	setup   error    // why there is no server
	stopped bool     // Main has stopped the cluster
)

// Main runs the tests of a package and then stops the cluster that New
// started, if any, before exiting with the tests' status. Call it from
// TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// The cluster is started lazily, so a run whose tests do not call New starts
// nothing.
func Main(m *testing.M) {
	code := m.Run()
	if err := shutdown(); err != nil {
		// The tests have passed or failed on their own; a cluster that did not
		// stop cleanly is worth a warning, not a changed verdict.
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
	}
	os.Exit(code)
}

// New returns the URL of a new, empty database (postgres://…/<name>) that
// exists for the duration of the test and is dropped, with any connections
// still open to it, in t.Cleanup. It skips the test when PostgreSQL is not
// available (fails it under CI=true), and fails it when the server is there
// but the database cannot be created.
func New(t testing.TB) string {
	t.Helper()
	admin := server(t)

	name, err := dbName(t.Name())
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin.String())
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", admin.Redacted(), err)
	}
	defer conn.Close(ctx)
	// template0 is empty by definition; template1 may carry whatever an
	// external server's administrator put in it.
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0"); err != nil {
		t.Fatalf("pgtest: create database %s on %s: %v", name, admin.Redacted(), err)
	}
	t.Cleanup(func() {
		// t.Context() is already canceled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		if err := dropDatabase(ctx, admin, name); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})

	u := *admin
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// server returns the URL of the maintenance database, starting the cluster
// on first use. It skips or fails t when there is none.
func server(t testing.TB) *url.URL {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if stopped {
		t.Fatal("pgtest: New called after Main stopped the cluster")
	}
	if !done {
		done = true
		adminDB, running, setup = connectOrStart(t)
	}
	if setup != nil {
		if os.Getenv(EnvURL) != "" {
			// A server was named explicitly: not reaching it is a failure,
			// not a missing tool.
			t.Fatalf("pgtest: %v", setup)
		}
		msg := unavailableMsg + "\n" + setup.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "\n(CI=true: PostgreSQL is required)")
		}
		t.Skip(msg)
	}
	return adminDB
}

// connectOrStart picks the external server or starts a cluster.
func connectOrStart(t testing.TB) (*url.URL, *cluster, error) {
	t.Helper()
	if raw := os.Getenv(EnvURL); raw != "" {
		u, err := parseServerURL(raw)
		if err != nil {
			return nil, nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		conn, err := pgx.Connect(ctx, u.String())
		if err != nil {
			return nil, nil, fmt.Errorf("connect to %s=%s: %w", EnvURL, u.Redacted(), err)
		}
		conn.Close(ctx)
		return u, nil, nil
	}
	start := time.Now()
	c, err := startCluster()
	if err != nil {
		return nil, nil, err
	}
	t.Logf("pgtest: started PostgreSQL %s in %s (port %d, %s)", c.version, time.Since(start).Round(time.Millisecond), c.port, c.base)
	return c.url(), c, nil
}

// parseServerURL checks that raw is a postgres:// URL; a keyword/value DSN
// cannot be turned into a per-test URL by changing its path.
func parseServerURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return nil, fmt.Errorf("%s must be a URL such as postgres://user:password@host:5432/postgres?sslmode=disable", EnvURL)
	}
	if strings.Trim(u.Path, "/") == "" {
		u.Path = "/postgres"
	}
	return u, nil
}

// shutdown stops the cluster, if this binary started one.
func shutdown() error {
	mu.Lock()
	defer mu.Unlock()
	stopped = true
	if running == nil {
		return nil
	}
	c := running
	running = nil
	return c.stop()
}

// dropDatabase drops the database, ending the connections a test left open.
func dropDatabase(ctx context.Context, admin *url.URL, name string) error {
	conn, err := pgx.Connect(ctx, admin.String())
	if err != nil {
		return fmt.Errorf("drop database %s: connect to %s: %w", name, admin.Redacted(), err)
	}
	defer conn.Close(ctx)
	var version int
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		return fmt.Errorf("drop database %s: read server version: %w", name, err)
	}
	ident := pgx.Identifier{name}.Sanitize()
	if version >= 130000 {
		_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)")
	} else {
		// Before PostgreSQL 13 there is no WITH (FORCE).
		if _, err = conn.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name); err == nil {
			_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident)
		}
	}
	if err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// dbName makes a database name from the test name and a random suffix, so
// that the name says which test made it and never collides, also between
// test binaries sharing one external server. PostgreSQL truncates
// identifiers to 63 bytes; the result is shorter.
func dbName(testName string) (string, error) {
	var b strings.Builder
	b.WriteString("pgtest_")
	for _, r := range strings.ToLower(testName) {
		if b.Len() >= 40 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	var suffix [6]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return "", fmt.Errorf("random database name: %w", err)
	}
	b.WriteByte('_')
	b.WriteString(hex.EncodeToString(suffix[:]))
	return b.String(), nil
}
