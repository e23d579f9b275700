// Package scheduler runs durable timers: rows in the timers table with a due
// time, claimed under a lease by one replica at a time. A timer's work and
// its completion commit in one transaction, so work is done at least once
// and recorded exactly once; a replica that dies mid-work loses its lease and
// another replica takes the timer over.
//
// Timers are data: the API, the UI and the calendar read them like any other
// row. The scheduler only decides when to run them.
package scheduler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/store"
)

// Handler does a timer's work inside the transaction that finishes it.
type Handler func(ctx context.Context, tx *store.Tx, t store.Timer) error

// OutsideHandler does work that needs its own transactions (a feed
// download and import) outside the timer's. The timer is finished, or
// rescheduled to the returned time when it is not zero, after the work
// succeeds: the work runs at least once and must be idempotent.
type OutsideHandler func(ctx context.Context, t store.Timer) (next time.Time, err error)

// Scheduler claims due timers and runs their handlers.
type Scheduler struct {
	db       *store.DB
	clock    patchctl.Clock
	log      *slog.Logger
	holder   string
	poll     time.Duration
	lease    time.Duration
	batch    int
	attempts int

	mu       sync.Mutex
	handlers map[string]Handler // by kind prefix
	outside  map[string]OutsideHandler
	wake     chan struct{}
}

// New returns a scheduler; poll is how often it looks for due timers.
func New(db *store.DB, clock patchctl.Clock, log *slog.Logger, poll time.Duration) *Scheduler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if poll <= 0 {
		poll = 5 * time.Second
	}
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &Scheduler{
		db: db, clock: clock, log: log.With("component", "scheduler"),
		holder: fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:])),
		poll:   poll, lease: 2 * time.Minute, batch: 50, attempts: 10,
		handlers: map[string]Handler{}, outside: map[string]OutsideHandler{}, wake: make(chan struct{}, 1),
	}
}

// Holder is this scheduler's identity in claims and leases.
func (s *Scheduler) Holder() string { return s.holder }

// Handle registers the handler of timers whose kind starts with prefix. The
// longest matching prefix wins.
func (s *Scheduler) Handle(prefix string, h Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[prefix] = h
}

// HandleOutside registers an OutsideHandler for kinds starting with prefix.
func (s *Scheduler) HandleOutside(prefix string, h OutsideHandler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outside[prefix] = h
}

// handler finds the handler of a kind: the longest matching prefix among
// both registries.
func (s *Scheduler) handler(kind string) (Handler, OutsideHandler, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	best := ""
	found := false
	for p := range s.handlers {
		if strings.HasPrefix(kind, p) && (!found || len(p) > len(best)) {
			best, found = p, true
		}
	}
	for p := range s.outside {
		if strings.HasPrefix(kind, p) && (!found || len(p) > len(best)) {
			best, found = p, true
		}
	}
	if !found {
		return nil, nil, false
	}
	if h, ok := s.outside[best]; ok {
		return nil, h, true
	}
	return s.handlers[best], nil, true
}

// Wake makes Run look for due timers now (after something was scheduled).
func (s *Scheduler) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run processes timers until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	t := time.NewTicker(s.poll)
	defer t.Stop()
	for {
		if _, err := s.RunOnce(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("scheduler pass failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.wake:
		}
	}
}

// RunOnce claims and runs the timers due now; it returns how many finished.
func (s *Scheduler) RunOnce(ctx context.Context) (int, error) {
	done := 0
	for {
		now := s.clock()
		timers, err := s.db.ClaimTimers(ctx, s.holder, now, s.lease, s.batch)
		if err != nil {
			return done, err
		}
		for _, t := range timers {
			if err := s.run(ctx, t); err != nil {
				s.log.Warn("timer failed", "timer_id", t.ID, "kind", t.Kind, "subject", t.Subject, "attempt", t.Attempts, "err", err)
				backoff := min(time.Duration(1<<min(t.Attempts, 10))*time.Second, time.Hour)
				if rerr := s.db.RetryTimer(ctx, t.ID, s.holder, s.clock().Add(backoff), err, s.attempts); rerr != nil {
					return done, errors.Join(err, rerr)
				}
				continue
			}
			done++
		}
		if len(timers) < s.batch {
			return done, nil
		}
	}
}

func (s *Scheduler) run(ctx context.Context, t store.Timer) error {
	h, outside, ok := s.handler(t.Kind)
	if !ok {
		return fmt.Errorf("no handler for timer kind %q", t.Kind)
	}
	if outside != nil {
		next, err := outside(ctx, t)
		if err != nil {
			return err
		}
		return s.db.InTx(ctx, func(tx *store.Tx) error {
			if err := tx.FinishTimer(ctx, t.ID, s.holder, s.clock()); err != nil {
				return err
			}
			if next.IsZero() {
				return nil
			}
			return tx.ScheduleTimer(ctx, t.Kind, t.Subject, next, t.Payload, s.clock())
		})
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := h(ctx, tx, t); err != nil {
			return err
		}
		return tx.FinishTimer(ctx, t.ID, s.holder, s.clock())
	})
}
