// Package service is patchctl's application layer: every operation a person
// or an automation performs goes through it. An operation authorises the
// actor by role, loads the facts, asks internal/lifecycle and
// internal/policy what is allowed, and writes the change, its history and
// its audit event in one transaction through internal/store.
//
// Transports (REST API, web UI, webhooks, CLI in local mode) and automation
// (scheduler, integrations) call the same methods, so no path skips a gate.
package service

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/config"
	"github.com/patchctl/patchctl/internal/policy"
	"github.com/patchctl/patchctl/internal/store"
)

// Service implements patchctl's operations.
type Service struct {
	db     *store.DB
	policy atomic.Pointer[policy.Policy]
	clock  patchctl.Clock
	log    *slog.Logger
}

// New returns a service over db with the compiled policy p.
func New(db *store.DB, p *policy.Policy, clock patchctl.Clock, log *slog.Logger) *Service {
	if clock == nil {
		clock = patchctl.SystemClock
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{db: db, clock: clock, log: log.With("component", "service")}
	s.policy.Store(p)
	return s
}

// Policy returns the policy in force.
func (s *Service) Policy() *policy.Policy { return s.policy.Load() }

// Config returns the configuration of the policy in force.
func (s *Service) Config() *config.Config { return s.policy.Load().Config() }

// SetPolicy replaces the policy (after a config reload). Patches keep the
// version that classified them until they are reclassified.
func (s *Service) SetPolicy(p *policy.Policy) { s.policy.Store(p) }

// DB returns the store, for components that share the service's database.
func (s *Service) DB() *store.DB { return s.db }

// Now returns the service clock's time, truncated to what the store keeps.
func (s *Service) Now() time.Time { return store.Micro(s.clock()) }

// authorize refuses actors whose role lacks perm.
func authorize(a patchctl.Actor, perm patchctl.Permission, what string) error {
	if a.Role.Allowed(perm) {
		return nil
	}
	roles := patchctl.RolesWith(perm)
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	role := string(a.Role)
	if role == "" {
		role = "no role"
	}
	return patchctl.Errorf(patchctl.CodeForbidden, "%s needs the role %s; %s has %s", what, strings.Join(names, " or "), orSomeone(a.Name), role)
}

func orSomeone(name string) string {
	if name == "" {
		return "the caller"
	}
	return name
}

// person refuses automation for decisions SOP-005 reserves to people.
func person(a patchctl.Actor, what string) error {
	if strings.HasPrefix(a.Name, "system:") || a.Name == "" {
		return patchctl.Errorf(patchctl.CodeForbidden, "%s is a person's decision; %s is automation", what, orSomeone(a.Name))
	}
	return nil
}

// audit appends an event for the actor in tx.
func (s *Service) audit(ctx context.Context, tx *store.Tx, a patchctl.Actor, action, subject string, at time.Time, data any) error {
	e := &patchctl.AuditEvent{At: at, Actor: a.Name, Role: a.Role, Action: action, Subject: subject}
	if err := tx.Audit(ctx, e, data); err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// resolve parses a patch key.
func resolve(key string) (int64, error) { return patchctl.ParsePatchKey(key) }
