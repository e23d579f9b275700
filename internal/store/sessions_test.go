package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/store"
	"github.com/patchctl/patchctl/internal/testutil/testdb"
)

var st0 = time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)

func TestSessions(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tok := &store.Token{Name: "erin", Role: patchctl.RoleEngineer, Prefix: "pct_abcdef", CreatedBy: "ada", CreatedAt: st0}
		s := &store.Session{CSRF: "csrf-1", UserAgent: "test", CreatedAt: st0, SeenAt: st0,
			IdleUntil: st0.Add(8 * time.Hour), ExpiresAt: st0.Add(7 * 24 * time.Hour)}
		old := &store.Session{CSRF: "csrf-2", CreatedAt: st0.Add(-9 * time.Hour), SeenAt: st0.Add(-9 * time.Hour),
			IdleUntil: st0.Add(-time.Hour), ExpiresAt: st0.Add(6 * 24 * time.Hour)}
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if err := tx.CreateToken(ctx, tok, "token-hash"); err != nil {
				return err
			}
			s.TokenID, old.TokenID = tok.ID, tok.ID
			if err := tx.CreateSession(ctx, s, "session-hash"); err != nil {
				return err
			}
			return tx.CreateSession(ctx, old, "old-hash")
		})
		if err != nil {
			t.Fatal(err)
		}

		got, gotTok, err := db.Read().SessionByHash(ctx, "session-hash")
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != s.ID || got.CSRF != "csrf-1" || !got.IdleUntil.Equal(s.IdleUntil) || !got.ExpiresAt.Equal(s.ExpiresAt) ||
			got.ExpiresAt.Location() != time.UTC || got.UserAgent != "test" {
			t.Errorf("session = %+v, want %+v", got, s)
		}
		if gotTok.ID != tok.ID || gotTok.Name != "erin" || gotTok.Role != patchctl.RoleEngineer || gotTok.RevokedAt != nil {
			t.Errorf("token of the session = %+v", gotTok)
		}
		if _, _, err := db.Read().SessionByHash(ctx, "nope"); patchctl.ErrorCode(err) != patchctl.CodeUnauthorized {
			t.Errorf("unknown session: %v, want unauthorized", err)
		}

		seen := st0.Add(time.Hour)
		if err := db.TouchSession(ctx, s.ID, seen, seen.Add(8*time.Hour)); err != nil {
			t.Fatal(err)
		}
		got, _, _ = db.Read().SessionByHash(ctx, "session-hash")
		if !got.SeenAt.Equal(seen) || !got.IdleUntil.Equal(seen.Add(8*time.Hour)) {
			t.Errorf("after touch: seen %v idle until %v", got.SeenAt, got.IdleUntil)
		}

		// Revoking the token shows on the session's token.
		err = db.InTx(ctx, func(tx *store.Tx) error { _, err := tx.RevokeToken(ctx, tok.ID, "ada", st0); return err })
		if err != nil {
			t.Fatal(err)
		}
		if _, gotTok, _ := db.Read().SessionByHash(ctx, "session-hash"); gotTok.RevokedAt == nil {
			t.Error("the session's token does not show its revocation")
		}

		var removed int64
		err = db.InTx(ctx, func(tx *store.Tx) (err error) { removed, err = tx.DeleteExpiredSessions(ctx, st0); return err })
		if err != nil || removed != 1 {
			t.Fatalf("DeleteExpiredSessions removed %d (%v), want the idle one", removed, err)
		}
		if _, _, err := db.Read().SessionByHash(ctx, "old-hash"); patchctl.ErrorCode(err) != patchctl.CodeUnauthorized {
			t.Errorf("idle session still there: %v", err)
		}
		if n, _ := db.Read().CountSessions(ctx, tok.ID); n != 1 {
			t.Errorf("%d sessions left, want 1", n)
		}
		if err := db.InTx(ctx, func(tx *store.Tx) error { return tx.DeleteSession(ctx, s.ID) }); err != nil {
			t.Fatal(err)
		}
		if n, _ := db.Read().CountSessions(ctx, 0); n != 0 {
			t.Errorf("%d sessions after delete, want 0", n)
		}
		if err := db.InTx(ctx, func(tx *store.Tx) error { return tx.DeleteSession(ctx, s.ID) }); err != nil {
			t.Errorf("deleting a deleted session: %v", err)
		}
	})
}
