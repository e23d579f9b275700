package service_test

import (
	"context"
	"testing"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/scheduler"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
)

func TestSLATimersEscalate(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		sch := scheduler.New(f.db, f.clock.Now, nil, time.Second)
		sch.Handle("sla.", func(ctx context.Context, tx *store.Tx, tm store.Timer) error {
			return f.svc.HandleSLATimer(ctx, tx, tm)
		})

		in := appPatch()
		in.Links = []patchctl.Link{cve("CVE-2024-3094", 10)}
		p := f.create(alice, in)
		pages, _ := f.svc.Outbox(f.ctx, viola, store.OutboxFilter{Topic: service.TopicPageOncall})
		if len(pages) != 1 {
			t.Fatalf("creating an emergency patch paged on-call %d times, want 1", len(pages))
		}
		timers, _ := f.svc.Timers(f.ctx, viola, "sla.", p.Key)
		if len(timers) != 2 {
			t.Fatalf("timers = %+v", timers)
		}
		run := func() int {
			n, err := sch.RunOnce(f.ctx)
			f.must(err)
			return n
		}
		if n := run(); n != 0 {
			t.Fatalf("%d timers ran before their time", n)
		}
		f.clock.Advance(17 * time.Hour) // a 24h SLA warns three quarters in, at 18h
		if n := run(); n != 0 {
			t.Fatalf("at 17h: %d timers ran, want none", n)
		}
		f.clock.Advance(time.Hour + time.Minute)
		if n := run(); n != 1 {
			t.Fatalf("at 18h: %d timers ran, want the warning", n)
		}
		f.clock.Advance(6 * time.Hour)
		if n := run(); n != 1 {
			t.Fatalf("at 24h: %d timers ran, want the breach", n)
		}
		for topic, want := range map[string]int{service.TopicSLAWarning: 1, service.TopicSLABreached: 1, service.TopicPageOncall: 3} {
			m, _ := f.svc.Outbox(f.ctx, viola, store.OutboxFilter{Topic: topic})
			if len(m) != want {
				t.Errorf("%s: %d messages, want %d", topic, len(m), want)
			}
		}
		ev, _ := f.svc.AuditEvents(f.ctx, viola, store.AuditFilter{Subject: p.Key, Action: "sla.breached"})
		if len(ev) != 1 || ev[0].Actor != "system:scheduler" {
			t.Errorf("breach audit = %+v", ev)
		}
		d, _ := f.svc.Patch(f.ctx, viola, p.Key)
		if !d.Overdue {
			t.Errorf("patch not overdue after its due time")
		}
	})
}

func TestRescheduledTimerIsStale(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		sch := scheduler.New(f.db, f.clock.Now, nil, time.Second)
		sch.Handle("sla.", func(ctx context.Context, tx *store.Tx, tm store.Timer) error {
			return f.svc.HandleSLATimer(ctx, tx, tm)
		})
		p := f.create(alice, appPatch()) // routine: due at the end of the next weekly window
		d, _ := f.svc.Patch(f.ctx, viola, p.Key)
		// Tuesday 22:00 UTC + 4h: Wednesday 02:00.
		if want := time.Date(2026, 11, 4, 2, 0, 0, 0, time.UTC); !d.Patch.DueAt.Equal(want) {
			t.Fatalf("routine due = %v, want %v", d.Patch.DueAt, want)
		}
		// Closing the patch cancels its timers.
		_, err := f.svc.Transition(f.ctx, alice, p.Key, service.TransitionInput{To: patchctl.StateCancelled, Note: "duplicate of PATCH-7"})
		f.must(err)
		if ts, _ := f.svc.Timers(f.ctx, viola, "sla.", p.Key); len(ts) != 0 {
			t.Errorf("timers of a cancelled patch: %+v", ts)
		}
	})
}
