package service_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
)

func (f *fixture) token(name string, role patchctl.Role, ttl time.Duration) *service.NewToken {
	f.t.Helper()
	tok, err := f.svc.CreateToken(f.ctx, adam, service.TokenInput{Name: name, Role: role, TTL: ttl})
	f.must(err)
	return tok
}

func TestSessionSignInAndOut(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		tok := f.token("erin", patchctl.RoleEngineer, 0)
		ns, err := f.svc.SignIn(f.ctx, tok.Secret, "Mozilla/5.0 test")
		f.must(err)
		if ns.Secret == "" || ns.CSRF == "" || ns.Secret == ns.CSRF {
			t.Fatalf("session secret %q and CSRF token %q: want two different random values", ns.Secret, ns.CSRF)
		}
		want := patchctl.Actor{Name: "erin", Role: patchctl.RoleEngineer, TokenID: tok.Token.ID}
		if ns.Actor != want || !ns.IdleUntil.Equal(start.Add(service.SessionIdle)) || !ns.ExpiresAt.Equal(start.Add(service.SessionMaxAge)) {
			t.Errorf("new session = %+v", ns.WebSession)
		}
		// The session is stored by the hash of its id, never the id.
		if _, _, err := f.db.Read().SessionByHash(f.ctx, ns.Secret); code(err) != patchctl.CodeUnauthorized {
			t.Errorf("a session row is found by the session id itself: %v", err)
		}
		if _, _, err := f.db.Read().SessionByHash(f.ctx, service.HashToken(ns.Secret)); err != nil {
			t.Errorf("no session row under the hash of the session id: %v", err)
		}
		ws, err := f.svc.Session(f.ctx, ns.Secret)
		f.must(err)
		if ws.Actor != want || ws.CSRF != ns.CSRF {
			t.Errorf("Session = %+v, want actor %+v and the sign-in's CSRF token", ws, want)
		}
		ev, _ := f.svc.AuditEvents(f.ctx, viola, store.AuditFilter{Action: "session.sign_in"})
		if len(ev) != 1 || ev[0].Actor != "erin" || ev[0].Role != patchctl.RoleEngineer || ev[0].Subject != "token:"+strconv.FormatInt(tok.Token.ID, 10) {
			t.Errorf("sign-in audit = %+v", ev)
		}

		f.must(f.svc.SignOut(f.ctx, ns.Secret))
		if _, err := f.svc.Session(f.ctx, ns.Secret); code(err) != patchctl.CodeUnauthorized {
			t.Errorf("session after sign-out: %v, want unauthorized", err)
		}
		ev, _ = f.svc.AuditEvents(f.ctx, viola, store.AuditFilter{Action: "session.sign_out"})
		if len(ev) != 1 || ev[0].Actor != "erin" {
			t.Errorf("sign-out audit = %+v", ev)
		}
		if n, _ := f.db.Read().CountSessions(f.ctx, 0); n != 0 {
			t.Errorf("%d session rows after sign-out, want 0", n)
		}
		f.must(f.svc.SignOut(f.ctx, ns.Secret)) // twice is fine, and not audited again
		if ev, _ = f.svc.AuditEvents(f.ctx, viola, store.AuditFilter{Action: "session.sign_out"}); len(ev) != 1 {
			t.Errorf("%d sign-out events after signing out twice, want 1", len(ev))
		}
		f.verifyAudit()
	})
}

func TestSessionRefusals(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		for _, secret := range []string{"", "   ", "pct_unknown"} {
			_, err := f.svc.SignIn(f.ctx, secret, "")
			var e *patchctl.Error
			if !errors.As(err, &e) || e.Field != "token" || (e.Code != patchctl.CodeUnauthorized && e.Code != patchctl.CodeInvalid) {
				t.Errorf("SignIn(%q) = %v, want a refusal naming the token field", secret, err)
			}
		}
		revoked := f.token("rex", patchctl.RoleOncall, 0)
		live, err := f.svc.SignIn(f.ctx, revoked.Secret, "")
		f.must(err)
		_, err = f.svc.RevokeToken(f.ctx, adam, revoked.Token.ID)
		f.must(err)
		if _, err := f.svc.SignIn(f.ctx, revoked.Secret, ""); code(err) != patchctl.CodeUnauthorized {
			t.Errorf("signing in with a revoked token: %v", err)
		}
		// Revoking a token ends its sessions.
		if _, err := f.svc.Session(f.ctx, live.Secret); code(err) != patchctl.CodeUnauthorized || !errors.Is(err, service.ErrSessionRevoked) {
			t.Errorf("session of a revoked token: %v, want unauthorized (revoked)", err)
		}
		if _, err := f.svc.Session(f.ctx, "made-up"); code(err) != patchctl.CodeUnauthorized {
			t.Errorf("unknown session: %v", err)
		}
	})
}

func TestSessionExpiry(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		tok := f.token("lena", patchctl.RoleLead, 0)

		// Idle: unused for SessionIdle, the session ends (and its row goes).
		idle, err := f.svc.SignIn(f.ctx, tok.Secret, "")
		f.must(err)
		f.clock.Advance(service.SessionIdle - time.Minute)
		if _, err := f.svc.Session(f.ctx, idle.Secret); err != nil {
			t.Fatalf("just before the idle limit: %v", err)
		}
		// That use pushed the idle end.
		f.clock.Advance(service.SessionIdle - time.Minute)
		if _, err := f.svc.Session(f.ctx, idle.Secret); err != nil {
			t.Fatalf("used within the idle limit: %v", err)
		}
		f.clock.Advance(service.SessionIdle)
		if _, err := f.svc.Session(f.ctx, idle.Secret); code(err) != patchctl.CodeUnauthorized || !errors.Is(err, service.ErrSessionIdle) {
			t.Fatalf("idle for %s: %v, want unauthorized (idle)", service.SessionIdle, err)
		}
		if n, _ := f.db.Read().CountSessions(f.ctx, tok.Token.ID); n != 0 {
			t.Errorf("%d rows of the idle session remain", n)
		}

		// Absolute: used every few hours, it still ends at SessionMaxAge.
		busy, err := f.svc.SignIn(f.ctx, tok.Secret, "")
		f.must(err)
		for used := time.Duration(0); used+4*time.Hour < service.SessionMaxAge; used += 4 * time.Hour {
			f.clock.Advance(4 * time.Hour)
			if _, err := f.svc.Session(f.ctx, busy.Secret); err != nil {
				t.Fatalf("%s after sign-in: %v", used, err)
			}
		}
		f.clock.Set(busy.CreatedAt.Add(service.SessionMaxAge))
		if _, err := f.svc.Session(f.ctx, busy.Secret); code(err) != patchctl.CodeUnauthorized || !errors.Is(err, service.ErrSessionExpired) {
			t.Errorf("at the absolute limit: %v, want unauthorized (expired)", err)
		}

		// A token that expires sooner ends the session with it.
		short := f.token("otto", patchctl.RoleOncall, 2*time.Hour)
		ns, err := f.svc.SignIn(f.ctx, short.Secret, "")
		f.must(err)
		if !ns.ExpiresAt.Equal(*short.Token.ExpiresAt) {
			t.Errorf("session of a 2h token expires %v, want %v", ns.ExpiresAt, short.Token.ExpiresAt)
		}
		f.clock.Advance(2 * time.Hour)
		if _, err := f.svc.Session(f.ctx, ns.Secret); code(err) != patchctl.CodeUnauthorized {
			t.Errorf("after the token expired: %v", err)
		}
		f.verifyAudit()
	})
}
