package service

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/store"
)

// Web session lifetimes. A session ends when unused for SessionIdle, and in
// any case SessionMaxAge after sign-in (or when its token expires, if
// sooner).
const (
	SessionIdle   = 8 * time.Hour
	SessionMaxAge = 7 * 24 * time.Hour
)

// sessionTouchEvery throttles the bookkeeping write that pushes a session's
// idle end: at most once a minute per session, so that reading pages does
// not queue behind SQLite's single writer.
const sessionTouchEvery = time.Minute

// Why Session refused a session: the cause wrapped in its unauthorized
// error, so that a transport can say it in its own words.
var (
	ErrSessionUnknown = errors.New("unknown session")
	ErrSessionRevoked = errors.New("the session's token was revoked or expired")
	ErrSessionIdle    = errors.New("the session was idle too long")
	ErrSessionExpired = errors.New("the session reached its maximum age")
)

// WebSession is a signed-in browser session.
type WebSession struct {
	ID    int64          `json:"id"`
	Actor patchctl.Actor `json:"actor"`
	// CSRF is the token every form of the session must carry.
	CSRF      string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	IdleUntil time.Time `json:"idle_until"`
	ExpiresAt time.Time `json:"expires_at"`
}

// NewSession is a session just created, with its secret id: the value of
// the session cookie, shown once and stored only as a hash.
type NewSession struct {
	WebSession
	Secret string `json:"-"`
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// SignIn exchanges an API token for a web session. The sign-in is recorded
// in the audit log, in the same transaction as the session, with the
// token's holder as actor. Unknown, revoked and expired tokens are refused
// alike.
func (s *Service) SignIn(ctx context.Context, secret, userAgent string) (*NewSession, error) {
	secret = strings.TrimSpace(secret)
	if secret == "" {
		return nil, patchctl.FieldError("token", "paste your API token (pct_...)")
	}
	if len(userAgent) > 300 {
		userAgent = userAgent[:300]
	}
	now := s.Now()
	var ns *NewSession
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		t, err := tx.TokenByHash(ctx, HashToken(secret))
		if patchctl.ErrorCode(err) == patchctl.CodeUnauthorized || err == nil && !tokenLive(t, now) {
			return &patchctl.Error{Code: patchctl.CodeUnauthorized, Field: "token", Message: "the token is unknown, revoked or expired"}
		}
		if err != nil {
			return err
		}
		if _, err := tx.DeleteExpiredSessions(ctx, now); err != nil {
			return err
		}
		expires := now.Add(SessionMaxAge)
		if t.ExpiresAt != nil && t.ExpiresAt.Before(expires) {
			expires = *t.ExpiresAt
		}
		idle := idleUntil(now, expires)
		id := randomString(32)
		row := &store.Session{TokenID: t.ID, CSRF: randomString(32), UserAgent: userAgent,
			CreatedAt: now, SeenAt: now, IdleUntil: idle, ExpiresAt: expires}
		if err := tx.CreateSession(ctx, row, HashToken(id)); err != nil {
			return err
		}
		actor := patchctl.Actor{Name: t.Name, Role: t.Role, TokenID: t.ID}
		ns = &NewSession{Secret: id, WebSession: WebSession{ID: row.ID, Actor: actor, CSRF: row.CSRF,
			CreatedAt: row.CreatedAt, IdleUntil: row.IdleUntil, ExpiresAt: row.ExpiresAt}}
		return s.audit(ctx, tx, actor, "session.sign_in", "token:"+itoa(int(t.ID)), now,
			map[string]any{"session": row.ID, "expires_at": row.ExpiresAt, "user_agent": userAgent})
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("signed in", "actor", ns.Actor.Name, "role", ns.Actor.Role, "session", ns.ID)
	return ns, nil
}

func tokenLive(t *store.Token, now time.Time) bool {
	return t.RevokedAt == nil && (t.ExpiresAt == nil || now.Before(*t.ExpiresAt))
}

// idleUntil is when a session used at now ends if unused: SessionIdle
// later, but never after it expires.
func idleUntil(now, expires time.Time) time.Time {
	if idle := now.Add(SessionIdle); idle.Before(expires) {
		return idle
	}
	return expires
}

// Session resolves a session cookie to its session. A session whose token
// was revoked or expired, that was idle too long or is too old, is refused
// with CodeUnauthorized (and removed); a live one has its idle end pushed.
func (s *Service) Session(ctx context.Context, secret string) (*WebSession, error) {
	if secret == "" {
		return nil, patchctl.Errorf(patchctl.CodeUnauthorized, "sign in to continue")
	}
	row, t, err := s.db.Read().SessionByHash(ctx, HashToken(secret))
	if patchctl.ErrorCode(err) == patchctl.CodeUnauthorized {
		return nil, &patchctl.Error{Code: patchctl.CodeUnauthorized, Message: "your session has ended; sign in again", Err: ErrSessionUnknown}
	}
	if err != nil {
		return nil, err
	}
	now := s.Now()
	var why string
	var cause error
	switch {
	case !tokenLive(t, now):
		why, cause = "your session ended because its API token was revoked or expired", ErrSessionRevoked
	case !now.Before(row.ExpiresAt):
		why, cause = "your session expired; sign in again", ErrSessionExpired
	case !now.Before(row.IdleUntil):
		why, cause = fmt.Sprintf("your session ended after %d hours without use; sign in again", int(SessionIdle.Hours())), ErrSessionIdle
	}
	if cause != nil {
		if err := s.db.InTx(ctx, func(tx *store.Tx) error { return tx.DeleteSession(ctx, row.ID) }); err != nil {
			s.log.Warn("session cleanup failed", "session", row.ID, "err", err)
		}
		return nil, &patchctl.Error{Code: patchctl.CodeUnauthorized, Message: why, Err: cause}
	}
	ws := &WebSession{ID: row.ID, Actor: patchctl.Actor{Name: t.Name, Role: t.Role, TokenID: t.ID}, CSRF: row.CSRF,
		CreatedAt: row.CreatedAt, IdleUntil: row.IdleUntil, ExpiresAt: row.ExpiresAt}
	if now.Sub(row.SeenAt) >= sessionTouchEvery {
		idle := idleUntil(now, row.ExpiresAt)
		if err := s.db.TouchSession(ctx, row.ID, now, idle); err != nil {
			s.log.Warn("session touch failed", "session", row.ID, "err", err)
		} else {
			ws.IdleUntil = idle
		}
	}
	return ws, nil
}

// SignOut ends a session and records the sign-out in the audit log, in the
// same transaction, with the session's holder as actor. Signing out of a
// session that already ended is not an error.
func (s *Service) SignOut(ctx context.Context, secret string) error {
	if secret == "" {
		return nil
	}
	now := s.Now()
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		row, t, err := tx.SessionByHash(ctx, HashToken(secret))
		if patchctl.ErrorCode(err) == patchctl.CodeUnauthorized {
			return nil
		}
		if err != nil {
			return err
		}
		if err := tx.DeleteSession(ctx, row.ID); err != nil {
			return err
		}
		actor := patchctl.Actor{Name: t.Name, Role: t.Role, TokenID: t.ID}
		return s.audit(ctx, tx, actor, "session.sign_out", "token:"+itoa(int(t.ID)), now, map[string]any{"session": row.ID})
	})
	return err
}
