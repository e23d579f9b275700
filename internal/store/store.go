// Package store persists patchctl's state in SQLite (the embedded default) or
// PostgreSQL (for several replicas) behind one API and one set of queries.
//
// The store holds no business rules: it reads and writes rows, enforces
// optimistic concurrency on patches (a write naming a stale revision fails
// with a conflict), and appends to the hash-chained audit log inside the
// caller's transaction. Deciding what may change is the job of
// internal/service.
//
// Engine differences are kept to the dialect type: placeholders (? is
// rewritten to $n for PostgreSQL), timestamp encoding (INTEGER microseconds
// on SQLite, TIMESTAMPTZ on PostgreSQL, always UTC), row locks (FOR UPDATE on
// PostgreSQL; SQLite has a single writer), bulk loading (COPY on
// PostgreSQL), finding counters (one row per group updated in place on
// SQLite; appended per statement and compacted on read on PostgreSQL, so
// concurrent imports do not queue on a counter row) and, in the findings
// list, INDEXED BY hints on SQLite, which plans without statistics and
// would otherwise pick a worse index at a million findings.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/patchctl/patchctl"
)

// Engine names a database engine.
type Engine string

// Engines.
const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// DB is an open database.
type DB struct {
	engine Engine
	// write is the connection pool for read-write transactions. On SQLite it
	// holds a single connection: SQLite allows one writer at a time, and
	// queueing writers in Go is cheaper than retrying on SQLITE_BUSY.
	write *sql.DB
	// read serves queries outside transactions. On SQLite it is a separate
	// pool of connections, which WAL lets read while the writer writes.
	read *sql.DB
	log  *slog.Logger
	url  string

	rebound   sync.Map // query text -> rebound query text (PostgreSQL)
	stmts     sync.Map // query text -> *sql.Stmt prepared on the write pool
	stmtCount atomic.Int64
}

// hotStatements are prepared once on the write pool when the schema is
// ready (parsing them costs more than running them). They are prepared
// outside any transaction: on SQLite the pool's only connection is held by
// a running transaction, and preparing on the pool then would wait for it.
var hotStatements = []string{insertFindings(findingBatch)}

// warm prepares the hot statements; a missing table (schema not migrated
// yet) leaves them to be prepared later.
func (db *DB) warm(ctx context.Context) {
	for _, q := range hotStatements {
		if _, ok := db.stmts.Load(q); ok {
			continue
		}
		s, err := db.write.PrepareContext(ctx, db.bind(q))
		if err != nil {
			continue
		}
		db.stmts.Store(q, s)
	}
}

// stmt returns a hot statement bound to the transaction, prepared in the
// transaction when it could not be prepared beforehand.
func (tx *Tx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := tx.db.stmts.Load(query); ok {
		return tx.sqlTx.StmtContext(ctx, s.(*sql.Stmt)), nil
	}
	s, err := tx.sqlTx.PrepareContext(ctx, tx.db.bind(query))
	return s, tx.db.wrap(err)
}

// Open opens the database named by dsn: "sqlite:PATH" (or "sqlite::memory:"
// for tests) or "postgres://..." and applies pending migrations when migrate
// is set.
func Open(ctx context.Context, dsn string, log *slog.Logger) (*DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db := &DB{log: log.With("component", "store"), url: redact(dsn)}
	var err error
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		db.engine = SQLite
		err = db.openSQLite(strings.TrimPrefix(dsn, "sqlite:"))
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		db.engine = Postgres
		err = db.openPostgres(dsn)
	default:
		return nil, patchctl.FieldError("database", "%q is not a database URL (want sqlite:FILE or postgres://...)", redact(dsn))
	}
	if err != nil {
		return nil, err
	}
	if err := db.write.PingContext(ctx); err != nil {
		db.Close()
		return nil, &patchctl.Error{Code: patchctl.CodeUnavailable, Message: "cannot reach the database " + db.url, Err: err}
	}
	db.warm(ctx)
	return db, nil
}

func (db *DB) openSQLite(path string) error {
	if path == "" {
		return patchctl.FieldError("database", "sqlite: needs a file path (sqlite:patchctl.db)")
	}
	memory := path == ":memory:"
	if memory {
		// A private in-memory database shared by the pools of this process.
		path = fmt.Sprintf("file:memdb%d?mode=memory&cache=shared", time.Now().UnixNano())
	} else {
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return &patchctl.Error{Code: patchctl.CodeUnavailable, Message: "cannot create the database directory", Err: err}
			}
		}
		path = "file:" + path
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	// busy_timeout is applied first by the driver so that the pragmas after
	// it cannot fail with SQLITE_BUSY; WAL lets readers run beside the
	// writer; synchronous=NORMAL is durable across application crashes in
	// WAL mode; _txlock=immediate makes every transaction take the write lock
	// at BEGIN, so read-then-write transactions never fail half-way with
	// SQLITE_BUSY.
	common := "_busy_timeout=10000&_foreign_keys=1&_synchronous=NORMAL&_pragma=temp_store(MEMORY)&_pragma=cache_size(-16000)"
	if !memory {
		common += "&_journal_mode=WAL"
	}
	w, err := sql.Open("sqlite", path+sep+common+"&_txlock=immediate")
	if err != nil {
		return err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	r, err := sql.Open("sqlite", path+sep+common)
	if err != nil {
		w.Close()
		return err
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	r.SetConnMaxIdleTime(0)
	db.write, db.read = w, r
	return nil
}

func (db *DB) openPostgres(dsn string) error {
	d, err := sql.Open("pgx", dsn)
	if err != nil {
		return patchctl.FieldError("database", "%v", err)
	}
	d.SetMaxOpenConns(max(8, 4*runtime.GOMAXPROCS(0)))
	d.SetMaxIdleConns(max(8, 4*runtime.GOMAXPROCS(0)))
	d.SetConnMaxIdleTime(5 * time.Minute)
	db.write, db.read = d, d
	return nil
}

// redact hides a password in a database URL.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Engine returns the engine in use.
func (db *DB) Engine() Engine { return db.engine }

// URL returns the database URL with any password hidden.
func (db *DB) URL() string { return db.url }

// Close closes the pools.
func (db *DB) Close() error {
	var errs []error
	db.stmts.Range(func(_, v any) bool {
		errs = append(errs, v.(*sql.Stmt).Close())
		return true
	})
	if db.read != nil && db.read != db.write {
		errs = append(errs, db.read.Close())
	}
	if db.write != nil {
		errs = append(errs, db.write.Close())
	}
	return errors.Join(errs...)
}

// Ping checks the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.read.PingContext(ctx); err != nil {
		return &patchctl.Error{Code: patchctl.CodeUnavailable, Message: "database unreachable", Err: err}
	}
	return nil
}

// querier is what *sql.DB, *sql.Tx and *sql.Conn have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// q runs queries written with ? placeholders against one querier.
type q struct {
	db *DB
	x  querier
	tx bool
	// stmts caches the statements prepared in a transaction: a large
	// transaction (an import creating a thousand patches) runs the same
	// few statements thousands of times, and parsing them dominated.
	stmts *stmtCache
}

type stmtCache struct {
	db *DB
	tx *sql.Tx
	m  map[string]*sql.Stmt
	// promote lists statements this transaction prepared for itself; once
	// it ends they are prepared on the write pool for the next ones.
	promote []string
}

func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := c.m[query]; ok {
		return s, nil
	}
	var s *sql.Stmt
	if shared, ok := c.db.stmts.Load(query); ok {
		// Bound to this transaction's connection, where it is prepared
		// already: no parsing.
		s = c.tx.StmtContext(ctx, shared.(*sql.Stmt))
	} else {
		var err error
		if s, err = c.tx.PrepareContext(ctx, query); err != nil {
			return nil, err
		}
		c.promote = append(c.promote, query)
	}
	c.m[query] = s
	return s, nil
}

// promoteStmts prepares on the write pool the statements a finished
// transaction had to prepare for itself. It runs after the transaction
// released SQLite's single writer connection (preparing on the pool while a
// transaction holds it would wait for ever).
func (db *DB) promoteStmts(queries []string) {
	for _, q := range queries {
		if _, ok := db.stmts.Load(q); ok {
			continue
		}
		if db.stmtCount.Load() >= maxSharedStmts {
			return
		}
		s, err := db.write.Prepare(q)
		if err != nil {
			continue
		}
		if _, loaded := db.stmts.LoadOrStore(q, s); loaded {
			s.Close()
			continue
		}
		db.stmtCount.Add(1)
	}
}

// maxSharedStmts bounds the shared statements: queries built with a variable
// number of placeholders would otherwise grow the cache without end.
const maxSharedStmts = 512

// Reader returns the queries outside any transaction.
func (db *DB) reader() q { return q{db: db, x: db.read} }

func (db *DB) bind(query string) string {
	if db.engine != Postgres {
		return query
	}
	if v, ok := db.rebound.Load(query); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	inString := false
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'':
			inString = !inString
			b.WriteByte(c)
		case c == '?' && !inString:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	out := b.String()
	db.rebound.Store(query, out)
	return out
}

func (x q) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if x.stmts != nil {
		st, err := x.stmts.get(ctx, x.db.bind(query))
		if err != nil {
			return nil, x.db.wrap(err)
		}
		res, err := st.ExecContext(ctx, args...)
		return res, x.db.wrap(err)
	}
	res, err := x.x.ExecContext(ctx, x.db.bind(query), args...)
	return res, x.db.wrap(err)
}

func (x q) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if x.stmts != nil {
		st, err := x.stmts.get(ctx, x.db.bind(query))
		if err != nil {
			return nil, x.db.wrap(err)
		}
		rows, err := st.QueryContext(ctx, args...)
		return rows, x.db.wrap(err)
	}
	rows, err := x.x.QueryContext(ctx, x.db.bind(query), args...)
	return rows, x.db.wrap(err)
}

func (x q) row(ctx context.Context, query string, args ...any) *sql.Row {
	if x.stmts != nil {
		if st, err := x.stmts.get(ctx, x.db.bind(query)); err == nil {
			return st.QueryRowContext(ctx, args...)
		}
	}
	return x.x.QueryRowContext(ctx, x.db.bind(query), args...)
}

// forUpdate returns the row-lock suffix for SELECTs that precede an update
// in a transaction: FOR UPDATE on PostgreSQL; nothing on SQLite, whose
// immediate transactions already hold the database's write lock.
func (x q) forUpdate() string {
	if x.tx && x.db.engine == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// wrap maps driver errors to domain errors: unique violations become
// conflicts, busy/locked and connection errors become unavailable.
func (db *DB) wrap(err error) error {
	if err == nil || errors.Is(err, sql.ErrNoRows) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return &patchctl.Error{Code: patchctl.CodeConflict, Message: "already exists", Err: err}
		case "40001", "40P01":
			return &patchctl.Error{Code: patchctl.CodeConflict, Message: "concurrent update; retry", Err: err}
		case "57014":
			return &patchctl.Error{Code: patchctl.CodeUnavailable, Message: "query cancelled", Err: err}
		}
		return err
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_CONSTRAINT:
			if se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY {
				return &patchctl.Error{Code: patchctl.CodeConflict, Message: "already exists", Err: err}
			}
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return &patchctl.Error{Code: patchctl.CodeUnavailable, Message: "database busy; retry", Err: err}
		}
	}
	return err
}

// Tx is a read-write transaction. Everything written through a Tx, audit
// events included, commits or rolls back together.
type Tx struct {
	q
	sqlTx *sql.Tx
	db    *DB
	// conn is the connection a PostgreSQL transaction runs on, kept so
	// that bulk loads can use COPY on it (Conn.Raw) inside the transaction.
	conn *sql.Conn
}

// InTx runs fn in a read-write transaction and commits when fn returns nil.
// On SQLite the transaction takes the write lock at BEGIN (BEGIN IMMEDIATE);
// on PostgreSQL it runs at READ COMMITTED and relies on row locks
// (SELECT ... FOR UPDATE) and the optimistic revision check.
func (db *DB) InTx(ctx context.Context, fn func(tx *Tx) error) (err error) {
	var conn *sql.Conn
	var stx *sql.Tx
	if db.engine == Postgres {
		if conn, err = db.write.Conn(ctx); err != nil {
			return &patchctl.Error{Code: patchctl.CodeUnavailable, Message: "cannot get a database connection", Err: db.wrap(err)}
		}
		defer conn.Close()
		stx, err = conn.BeginTx(ctx, nil)
	} else {
		stx, err = db.write.BeginTx(ctx, nil)
	}
	if err != nil {
		return &patchctl.Error{Code: patchctl.CodeUnavailable, Message: "cannot begin a transaction", Err: db.wrap(err)}
	}
	tx := &Tx{q: q{db: db, x: stx, tx: true}, sqlTx: stx, db: db, conn: conn}
	if db.engine == SQLite {
		// pgx caches prepared statements per connection by itself.
		tx.q.stmts = &stmtCache{db: db, tx: stx, m: map[string]*sql.Stmt{}}
	}
	defer func() {
		if c := tx.q.stmts; c != nil && len(c.promote) > 0 {
			db.promoteStmts(c.promote)
		}
	}()
	defer func() {
		if p := recover(); p != nil {
			_ = stx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = stx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = stx.Commit(); err != nil {
		return db.wrap(err)
	}
	return nil
}

// Read runs read-only queries outside a transaction.
func (db *DB) Read() *Reader { return &Reader{q: db.reader()} }

// Reader runs queries outside a transaction.
type Reader struct{ q }

// Exec runs a statement outside a transaction; for maintenance and tests.
func (db *DB) Exec(ctx context.Context, query string, args ...any) error {
	_, err := db.write.ExecContext(ctx, db.bind(query), args...)
	return db.wrap(err)
}

// ReadQuery runs an ad-hoc query and returns its rows as strings; for
// diagnostics (query plans) in tests and the dev tools.
func (db *DB) ReadQuery(ctx context.Context, query string, args ...any) ([][]string, error) {
	rows, err := db.read.QueryContext(ctx, db.bind(query), args...)
	if err != nil {
		return nil, db.wrap(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out [][]string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = fmt.Sprint(v)
		}
		out = append(out, row)
	}
	return out, db.wrap(rows.Err())
}

// Exec runs a statement in the transaction; for maintenance and benchmarks.
func (tx *Tx) Exec(ctx context.Context, query string, args ...any) error {
	_, err := tx.exec(ctx, query, args...)
	return err
}
