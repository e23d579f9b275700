package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/patchctl/patchctl"
)

// Session is a web UI session as stored. The session id itself (the cookie
// value) is never stored, only its SHA-256; CSRF is the token every form of
// the session carries.
type Session struct {
	ID        int64
	TokenID   int64
	CSRF      string
	UserAgent string
	CreatedAt time.Time
	// SeenAt is when the session was last used (kept to the minute), and
	// IdleUntil when it ends unless used again.
	SeenAt    time.Time
	IdleUntil time.Time
	// ExpiresAt is when it ends whatever its use.
	ExpiresAt time.Time
}

// CreateSession stores a session by the hash of its id and sets its ID.
func (tx *Tx) CreateSession(ctx context.Context, s *Session, hash string) error {
	err := tx.row(ctx, `INSERT INTO sessions (hash, token_id, csrf, user_agent, created_at, seen_at, idle_until, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		hash, s.TokenID, s.CSRF, s.UserAgent, tx.ts(s.CreatedAt), tx.ts(s.SeenAt), tx.ts(s.IdleUntil), tx.ts(s.ExpiresAt)).Scan(&s.ID)
	s.CreatedAt, s.SeenAt, s.IdleUntil, s.ExpiresAt = Micro(s.CreatedAt), Micro(s.SeenAt), Micro(s.IdleUntil), Micro(s.ExpiresAt)
	return tx.db.wrap(err)
}

// SessionByHash finds a session by the hash of its id, with the token it was
// made from (revoked or expired tokens included: deciding is the caller's
// job). An unknown session is CodeUnauthorized.
func (x q) SessionByHash(ctx context.Context, hash string) (*Session, *Token, error) {
	var s Session
	var t Token
	var created, seen, idle, exp tscan
	var tCreated, tExp, tUsed, tRev tscan
	err := x.row(ctx, `SELECT s.id, s.token_id, s.csrf, s.user_agent, s.created_at, s.seen_at, s.idle_until, s.expires_at,
		t.id, t.name, t.role, t.prefix, t.created_by, t.created_at, t.expires_at, t.last_used_at, t.revoked_at, t.revoked_by
		FROM sessions s JOIN tokens t ON t.id = s.token_id WHERE s.hash = ?`, hash).
		Scan(&s.ID, &s.TokenID, &s.CSRF, &s.UserAgent, &created, &seen, &idle, &exp,
			&t.ID, &t.Name, &t.Role, &t.Prefix, &t.CreatedBy, &tCreated, &tExp, &tUsed, &tRev, &t.RevokedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, patchctl.Errorf(patchctl.CodeUnauthorized, "unknown session")
	}
	if err != nil {
		return nil, nil, x.db.wrap(err)
	}
	s.CreatedAt, s.SeenAt, s.IdleUntil, s.ExpiresAt = created.t, seen.t, idle.t, exp.t
	t.CreatedAt, t.ExpiresAt, t.LastUsedAt, t.RevokedAt = tCreated.t, tExp.ptr(), tUsed.ptr(), tRev.ptr()
	return &s, &t, nil
}

// DeleteSession removes a session; removing one that is gone is not an
// error (a second sign-out, or the cleanup got there first).
func (tx *Tx) DeleteSession(ctx context.Context, id int64) error {
	_, err := tx.exec(ctx, `DELETE FROM sessions WHERE id = ?`, id)
	return err
}

// DeleteExpiredSessions removes the sessions that ended by idleness or age
// at now and returns how many.
func (tx *Tx) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := tx.exec(ctx, `DELETE FROM sessions WHERE expires_at <= ? OR idle_until <= ?`, tx.ts(now), tx.ts(now))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// TouchSession records a session's use and pushes its idle end. It is not
// audited: it is bookkeeping, not a change anyone made.
func (db *DB) TouchSession(ctx context.Context, id int64, seen, idleUntil time.Time) error {
	r := db.reader()
	return db.Exec(ctx, `UPDATE sessions SET seen_at = ?, idle_until = ? WHERE id = ?`, r.ts(seen), r.ts(idleUntil), id)
}

// CountSessions counts the stored sessions of a token (all tokens when
// tokenID is 0); tests use it to check that sign-out and expiry remove rows.
func (x q) CountSessions(ctx context.Context, tokenID int64) (int, error) {
	var n int
	var err error
	if tokenID == 0 {
		err = x.row(ctx, `SELECT COUNT(*) FROM sessions`).Scan(&n)
	} else {
		err = x.row(ctx, `SELECT COUNT(*) FROM sessions WHERE token_id = ?`, tokenID).Scan(&n)
	}
	return n, x.db.wrap(err)
}
