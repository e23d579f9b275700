package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"time"

	"github.com/patchctl/patchctl"
)

// Token is an API token as stored: only the SHA-256 of the secret is kept.
type Token struct {
	ID         int64         `json:"id"`
	Name       string        `json:"name"`
	Role       patchctl.Role `json:"role"`
	Prefix     string        `json:"prefix"`
	CreatedBy  string        `json:"created_by"`
	CreatedAt  time.Time     `json:"created_at"`
	ExpiresAt  *time.Time    `json:"expires_at,omitempty"`
	LastUsedAt *time.Time    `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time    `json:"revoked_at,omitempty"`
	RevokedBy  string        `json:"revoked_by,omitempty"`
}

const tokenColumns = `id, name, role, prefix, created_by, created_at, expires_at, last_used_at, revoked_at, revoked_by`

func scanToken(r rowScanner) (*Token, error) {
	var t Token
	var created, exp, used, rev tscan
	if err := r.Scan(&t.ID, &t.Name, &t.Role, &t.Prefix, &t.CreatedBy, &created, &exp, &used, &rev, &t.RevokedBy); err != nil {
		return nil, err
	}
	t.CreatedAt, t.ExpiresAt, t.LastUsedAt, t.RevokedAt = created.t, exp.ptr(), used.ptr(), rev.ptr()
	return &t, nil
}

// CreateToken stores a token by the hash of its secret.
func (tx *Tx) CreateToken(ctx context.Context, t *Token, hash string) error {
	err := tx.row(ctx, `INSERT INTO tokens (name, role, hash, prefix, created_by, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`, t.Name, t.Role, hash, t.Prefix, t.CreatedBy, tx.ts(t.CreatedAt), tx.tsp(t.ExpiresAt)).Scan(&t.ID)
	return tx.db.wrap(err)
}

// TokenByHash finds a token by the hash of its secret.
func (x q) TokenByHash(ctx context.Context, hash string) (*Token, error) {
	t, err := scanToken(x.row(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, patchctl.Errorf(patchctl.CodeUnauthorized, "unknown token")
	}
	return t, x.db.wrap(err)
}

// Token reads one token by id.
func (x q) Token(ctx context.Context, id int64) (*Token, error) {
	t, err := scanToken(x.row(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, patchctl.NotFound("token", strconv.FormatInt(id, 10))
	}
	return t, x.db.wrap(err)
}

// Tokens lists tokens, newest first.
func (x q) Tokens(ctx context.Context, includeRevoked bool) ([]*Token, error) {
	query := `SELECT ` + tokenColumns + ` FROM tokens`
	if !includeRevoked {
		query += ` WHERE revoked_at IS NULL`
	}
	rows, err := x.query(ctx, query+` ORDER BY id DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, x.db.wrap(rows.Err())
}

// CountTokens counts live tokens.
func (x q) CountTokens(ctx context.Context) (int, error) {
	var n int
	err := x.row(ctx, `SELECT COUNT(*) FROM tokens WHERE revoked_at IS NULL`).Scan(&n)
	return n, x.db.wrap(err)
}

// RevokeToken marks a token revoked.
func (tx *Tx) RevokeToken(ctx context.Context, id int64, by string, at time.Time) (*Token, error) {
	t, err := tx.Token(ctx, id)
	if err != nil {
		return nil, err
	}
	if t.RevokedAt != nil {
		return nil, patchctl.Errorf(patchctl.CodeConflict, "token %d (%s) is already revoked", id, t.Name)
	}
	if _, err := tx.exec(ctx, `UPDATE tokens SET revoked_at = ?, revoked_by = ? WHERE id = ?`, tx.ts(at), by, id); err != nil {
		return nil, err
	}
	at = Micro(at)
	t.RevokedAt, t.RevokedBy = &at, by
	return t, nil
}

// TouchToken records a token's last use. It is not audited: it is
// bookkeeping, not a change anyone made.
func (db *DB) TouchToken(ctx context.Context, id int64, at time.Time) error {
	return db.Exec(ctx, `UPDATE tokens SET last_used_at = ? WHERE id = ?`, db.reader().ts(at), id)
}

// QueryRowCount counts token rows whose hash or prefix equals s; tests use it
// to prove secrets are not stored in clear.
func (x q) QueryRowCount(ctx context.Context, s string, n *int) error {
	return x.row(ctx, `SELECT COUNT(*) FROM tokens WHERE hash = ? OR prefix = ? OR name = ?`, s, s, s).Scan(n)
}
