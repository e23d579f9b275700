package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"strings"
	"sync"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/store"
)

// TokenPrefix starts every patchctl API token, so that secret scanners can
// recognise a leaked one.
const TokenPrefix = "pct_"

// HashToken returns the stored form of a token secret.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func newSecret() string {
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return TokenPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// TokenInput creates an API token.
type TokenInput struct {
	Name string        `json:"name"`
	Role patchctl.Role `json:"role"`
	// TTL, when set, makes the token expire.
	TTL time.Duration `json:"-"`
}

// NewToken is a created token with its secret, shown once.
type NewToken struct {
	Token  *store.Token `json:"token"`
	Secret string       `json:"secret"`
}

// CreateToken creates an API token. Only its hash is stored. Over the API it
// needs the admin role; locally (bootstrap) the caller passes an admin actor.
func (s *Service) CreateToken(ctx context.Context, a patchctl.Actor, in TokenInput) (*NewToken, error) {
	if err := authorize(a, patchctl.PermAdmin, "creating tokens"); err != nil {
		return nil, err
	}
	name := strings.TrimSpace(in.Name)
	if name == "" || len(name) > 100 {
		return nil, patchctl.FieldError("name", "is required (the person or system the token is for), at most 100 characters")
	}
	if strings.HasPrefix(name, "system:") {
		return nil, patchctl.FieldError("name", "system: names are reserved for patchctl's own automation")
	}
	if !in.Role.Valid() {
		return nil, patchctl.FieldError("role", "%q is not a role (want viewer, engineer, oncall, lead or admin)", in.Role)
	}
	if in.TTL < 0 {
		return nil, patchctl.FieldError("ttl", "must not be negative")
	}
	now := s.Now()
	secret := newSecret()
	t := &store.Token{Name: name, Role: in.Role, Prefix: secret[:len(TokenPrefix)+6], CreatedBy: a.Name, CreatedAt: now}
	if in.TTL > 0 {
		exp := now.Add(in.TTL)
		t.ExpiresAt = &exp
	}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.CreateToken(ctx, t, HashToken(secret)); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, "token.create", "token:"+itoa(int(t.ID)), now,
			map[string]any{"name": t.Name, "role": t.Role, "prefix": t.Prefix, "expires_at": t.ExpiresAt})
	})
	if err != nil {
		return nil, err
	}
	return &NewToken{Token: t, Secret: secret}, nil
}

// Tokens lists tokens (admin).
func (s *Service) Tokens(ctx context.Context, a patchctl.Actor, includeRevoked bool) ([]*store.Token, error) {
	if err := authorize(a, patchctl.PermAdmin, "listing tokens"); err != nil {
		return nil, err
	}
	ts, err := s.db.Read().Tokens(ctx, includeRevoked)
	if ts == nil && err == nil {
		ts = []*store.Token{}
	}
	return ts, err
}

// RevokeToken revokes a token (admin).
func (s *Service) RevokeToken(ctx context.Context, a patchctl.Actor, id int64) (*store.Token, error) {
	if err := authorize(a, patchctl.PermAdmin, "revoking tokens"); err != nil {
		return nil, err
	}
	now := s.Now()
	var t *store.Token
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if t, err = tx.RevokeToken(ctx, id, a.Name, now); err != nil {
			return err
		}
		s.forget(id)
		return s.audit(ctx, tx, a, "token.revoke", "token:"+itoa(int(id)), now, map[string]any{"name": t.Name, "role": t.Role})
	})
	return t, err
}

// HasTokens reports whether any live token exists (first-run bootstrap).
func (s *Service) HasTokens(ctx context.Context) (bool, error) {
	n, err := s.db.Read().CountTokens(ctx)
	return n > 0, err
}

// touched throttles last-used bookkeeping to once a minute per token.
var touched sync.Map // token id -> time.Time

func (s *Service) forget(id int64) { touched.Delete(id) }

// Authenticate resolves a bearer token to its actor. Unknown, revoked and
// expired tokens are refused with the same message, so a caller learns
// nothing about which tokens exist.
func (s *Service) Authenticate(ctx context.Context, secret string) (patchctl.Actor, error) {
	secret = strings.TrimSpace(secret)
	if secret == "" {
		return patchctl.Actor{}, patchctl.Errorf(patchctl.CodeUnauthorized, "a token is required (Authorization: Bearer pct_...)")
	}
	t, err := s.db.Read().TokenByHash(ctx, HashToken(secret))
	if err != nil {
		if patchctl.ErrorCode(err) == patchctl.CodeUnauthorized {
			return patchctl.Actor{}, patchctl.Errorf(patchctl.CodeUnauthorized, "the token is unknown, revoked or expired")
		}
		return patchctl.Actor{}, err
	}
	now := s.Now()
	if !tokenLive(t, now) {
		return patchctl.Actor{}, patchctl.Errorf(patchctl.CodeUnauthorized, "the token is unknown, revoked or expired")
	}
	if last, ok := touched.Load(t.ID); !ok || now.Sub(last.(time.Time)) > time.Minute {
		touched.Store(t.ID, now)
		if err := s.db.TouchToken(ctx, t.ID, now); err != nil {
			s.log.Warn("token touch failed", "token_id", t.ID, "err", err)
		}
	}
	return patchctl.Actor{Name: t.Name, Role: t.Role, TokenID: t.ID}, nil
}
