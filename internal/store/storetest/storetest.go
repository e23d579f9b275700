// Package storetest is the contract suite of internal/store: every test here
// runs unchanged on every engine, so SQLite and PostgreSQL behave alike for
// everything patchctl relies on — round trips, optimistic concurrency,
// filters, the audit chain and its tamper detection, timers, leases and the
// outbox.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/store"
)

// Run runs the contract suite; open returns a fresh migrated database.
func Run(t *testing.T, open func(t *testing.T) *store.DB) {
	tests := []struct {
		name string
		fn   func(t *testing.T, db *store.DB)
	}{
		{"PatchRoundTrip", testPatchRoundTrip},
		{"TimesAreUTCMicroseconds", testTimes},
		{"OptimisticConcurrency", testOptimisticConcurrency},
		{"ListFilters", testListFilters},
		{"Links", testLinks},
		{"EvidenceAndHistory", testEvidenceAndHistory},
		{"RolledBackTransactionLeavesNothing", testRollbackAtomic},
		{"AuditChainVerifies", testAuditChain},
		{"AuditDetectsModifiedRow", testAuditModified},
		{"AuditDetectsDeletedRow", testAuditDeleted},
		{"AuditDetectsDeletedTail", testAuditDeletedTail},
		{"AuditDetectsReorderedRows", testAuditReordered},
		{"AuditConcurrentAppendsStayLinear", testAuditConcurrent},
		{"Tokens", testTokens},
		{"Timers", testTimers},
		{"TimersClaimedOnce", testTimersClaimedOnce},
		{"TimerErrorClippedOnRune", testTimerErrorClipped},
		{"Leases", testLeases},
		{"Outbox", testOutbox},
		{"StableVersions", testStableVersions},
		{"MigrationsIdempotent", testMigrationsIdempotent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

var t0 = time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)

func ctx() context.Context { return context.Background() }

func newPatch(title string, prio patchctl.Priority, due time.Time) *patchctl.Patch {
	d := due
	return &patchctl.Patch{
		Title: title, Kind: patchctl.KindApplication, State: patchctl.StateDraft,
		Target:   patchctl.Target{Application: "payments", Environments: []string{"staging", "production"}},
		Priority: prio, PriorityRule: "test", PolicyVersion: "v1", DetectedAt: t0, DueAt: &d,
		CreatedBy: "alice", CreatedAt: t0, UpdatedAt: t0, Labels: []string{"a"},
	}
}

func create(t *testing.T, db *store.DB, p *patchctl.Patch) *patchctl.Patch {
	t.Helper()
	if err := db.InTx(ctx(), func(tx *store.Tx) error { return tx.CreatePatch(ctx(), p) }); err != nil {
		t.Fatalf("create patch: %v", err)
	}
	return p
}

func testPatchRoundTrip(t *testing.T, db *store.DB) {
	p := newPatch("Upgrade openssl", patchctl.PriorityHigh, t0.Add(7*24*time.Hour))
	p.Description = "fix CVE-2024-0001"
	p.Owner = "bob"
	p.Version = "v1.2.3"
	p.Branch = "patch/PATCH-1-upgrade-openssl"
	p.Window = &patchctl.Booking{Start: t0.Add(time.Hour), End: t0.Add(3 * time.Hour), BookedBy: "carol", BookedAt: t0}
	p.Halt = &patchctl.Halt{Reason: "health check failed", By: "system:x", At: t0, Wave: 2}
	soak := t0.Add(30 * time.Minute)
	p.SoakStartedAt = &soak
	p.PriorityPinned = true
	create(t, db, p)
	if p.Key != "PATCH-1" || p.Revision != 1 {
		t.Fatalf("first patch is %s revision %d, want PATCH-1 revision 1", p.Key, p.Revision)
	}
	got, err := db.Read().Patch(ctx(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, got); diff != "" {
		t.Errorf("round trip (-wrote +read):\n%s", diff)
	}
	if _, err := db.Read().Patch(ctx(), 999); patchctl.ErrorCode(err) != patchctl.CodeNotFound {
		t.Errorf("missing patch: got %v, want not_found", err)
	}
}

func testTimes(t *testing.T, db *store.DB) {
	paris, _ := time.LoadLocation("Europe/Paris")
	local := time.Date(2026, 3, 29, 2, 30, 0, 123456789, paris) // around a DST change
	p := newPatch("times", patchctl.PriorityRoutine, local)
	create(t, db, p)
	got, err := db.Read().Patch(ctx(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := local.UTC().Truncate(time.Microsecond)
	if !got.DueAt.Equal(want) || got.DueAt.Location() != time.UTC {
		t.Errorf("due = %v (%v), want %v in UTC", got.DueAt, got.DueAt.Location(), want)
	}
	// A due time written with an offset must compare correctly with a UTC bound.
	before := want.Add(-time.Second)
	ps, _, err := db.Read().ListPatches(ctx(), store.PatchFilter{Overdue: true, Now: before})
	if err != nil || len(ps) != 0 {
		t.Errorf("overdue 1s before due: got %d patches (%v), want 0", len(ps), err)
	}
	ps, _, err = db.Read().ListPatches(ctx(), store.PatchFilter{Overdue: true, Now: want.Add(time.Second)})
	if err != nil || len(ps) != 1 {
		t.Errorf("overdue 1s after due: got %d patches (%v), want 1", len(ps), err)
	}
}

func testOptimisticConcurrency(t *testing.T, db *store.DB) {
	p := create(t, db, newPatch("race", patchctl.PriorityHigh, t0))
	rev := p.Revision
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			errs[i] = db.InTx(ctx(), func(tx *store.Tx) error {
				cur, err := tx.Patch(ctx(), p.ID)
				if err != nil {
					return err
				}
				cur.Title = fmt.Sprintf("writer %d", i)
				return tx.UpdatePatch(ctx(), cur, rev)
			})
		}(i)
	}
	close(start)
	wg.Wait()
	wins, conflicts := 0, 0
	for _, err := range errs {
		switch patchctl.ErrorCode(err) {
		case "":
			wins++
		case patchctl.CodeConflict:
			conflicts++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 || conflicts != n-1 {
		t.Fatalf("%d writers with the same revision: %d won, %d conflicts; want exactly 1 winner", n, wins, conflicts)
	}
	got, _ := db.Read().Patch(ctx(), p.ID)
	if got.Revision != rev+1 {
		t.Errorf("revision = %d, want %d", got.Revision, rev+1)
	}
}

func testListFilters(t *testing.T, db *store.DB) {
	now := t0.Add(10 * 24 * time.Hour)
	mk := func(title string, kind patchctl.Kind, prio patchctl.Priority, state patchctl.State, due time.Time) {
		p := newPatch(title, prio, due)
		p.Kind, p.State = kind, state
		if kind == patchctl.KindKubernetes {
			p.Target = patchctl.Target{Clusters: []string{"management"}, Upgrade: "node", Version: "1.30"}
		}
		create(t, db, p)
	}
	mk("emergency overdue", patchctl.KindApplication, patchctl.PriorityEmergency, patchctl.StateInProgress, now.Add(-time.Hour))
	mk("high overdue", patchctl.KindApplication, patchctl.PriorityHigh, patchctl.StateDraft, now.Add(-2*time.Hour))
	mk("high later", patchctl.KindApplication, patchctl.PriorityHigh, patchctl.StateDraft, now.Add(48*time.Hour))
	mk("routine done", patchctl.KindApplication, patchctl.PriorityRoutine, patchctl.StateDone, now.Add(-72*time.Hour))
	mk("kube soon", patchctl.KindKubernetes, patchctl.PriorityRoutine, patchctl.StatePlanned, now.Add(2*time.Hour))

	titles := func(f store.PatchFilter) []string {
		t.Helper()
		f.Now = now
		ps, _, err := db.Read().ListPatches(ctx(), f)
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, p := range ps {
			out = append(out, p.Title)
		}
		return out
	}
	soon := now.Add(3 * time.Hour)
	open := false
	cases := []struct {
		name string
		f    store.PatchFilter
		want []string
	}{
		{"all by due", store.PatchFilter{}, []string{"routine done", "high overdue", "emergency overdue", "kube soon", "high later"}},
		{"overdue", store.PatchFilter{Overdue: true}, []string{"high overdue", "emergency overdue"}},
		{"high and overdue", store.PatchFilter{Overdue: true, Priorities: []patchctl.Priority{patchctl.PriorityHigh}}, []string{"high overdue"}},
		{"kind", store.PatchFilter{Kinds: []patchctl.Kind{patchctl.KindKubernetes}}, []string{"kube soon"}},
		{"state", store.PatchFilter{States: []patchctl.State{patchctl.StateDraft}}, []string{"high overdue", "high later"}},
		{"due before", store.PatchFilter{DueBefore: &soon}, []string{"high overdue", "emergency overdue", "kube soon"}},
		{"closed", store.PatchFilter{Open: &open}, []string{"routine done"}},
		{"text", store.PatchFilter{Text: "KUBE"}, []string{"kube soon"}},
		{"text with like metacharacters", store.PatchFilter{Text: "100%_"}, []string{}},
		{"by priority", store.PatchFilter{Sort: "priority", Open: boolp(true)}, []string{"emergency overdue", "high overdue", "high later", "kube soon"}},
	}
	for _, c := range cases {
		if diff := cmp.Diff(c.want, titles(c.f)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
	ps, more, err := db.Read().ListPatches(ctx(), store.PatchFilter{Limit: 2, Now: now})
	if err != nil || len(ps) != 2 || !more {
		t.Errorf("page of 2: got %d, more=%v, err=%v", len(ps), more, err)
	}
	ps, more, _ = db.Read().ListPatches(ctx(), store.PatchFilter{Limit: 2, Offset: 4, Now: now})
	if len(ps) != 1 || more {
		t.Errorf("last page: got %d, more=%v", len(ps), more)
	}
	if n, err := db.Read().CountPatches(ctx(), store.PatchFilter{Overdue: true, Now: now}); err != nil || n != 2 {
		t.Errorf("count overdue = %d (%v), want 2", n, err)
	}
}

func boolp(b bool) *bool { return &b }

func testLinks(t *testing.T, db *store.DB) {
	p := create(t, db, newPatch("links", patchctl.PriorityHigh, t0))
	l := &patchctl.Link{Type: patchctl.LinkVulnerability, Ref: "CVE-2024-3094", Aliases: []string{"GHSA-rxwq-x6h5-x525"},
		Attributes: patchctl.Attributes{CVSS: 10, KEV: true, Labels: []string{"x"}}, DetectedAt: t0, AddedBy: "alice", AddedAt: t0}
	err := db.InTx(ctx(), func(tx *store.Tx) error { return tx.AddLink(ctx(), p.ID, l) })
	if err != nil {
		t.Fatal(err)
	}
	dup := *l
	err = db.InTx(ctx(), func(tx *store.Tx) error { return tx.AddLink(ctx(), p.ID, &dup) })
	if patchctl.ErrorCode(err) != patchctl.CodeConflict {
		t.Errorf("duplicate link: got %v, want conflict", err)
	}
	links, err := db.Read().Links(ctx(), p.ID)
	if err != nil || len(links) != 1 {
		t.Fatalf("links = %v, %v", links, err)
	}
	if diff := cmp.Diff(*l, links[0]); diff != "" {
		t.Errorf("link round trip:\n%s", diff)
	}
	ids, err := db.Read().PatchesLinkedTo(ctx(), patchctl.LinkVulnerability, "CVE-2024-3094", "CVE-1999-0001")
	if err != nil || !cmp.Equal(ids, []int64{p.ID}) {
		t.Errorf("PatchesLinkedTo = %v, %v", ids, err)
	}
	err = db.InTx(ctx(), func(tx *store.Tx) error {
		_, err := tx.DeleteLink(ctx(), p.ID, l.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if links, _ := db.Read().Links(ctx(), p.ID); len(links) != 0 {
		t.Errorf("link not deleted")
	}
}

func testEvidenceAndHistory(t *testing.T, db *store.DB) {
	p := create(t, db, newPatch("evidence", patchctl.PriorityHigh, t0))
	e := &patchctl.Evidence{Kind: patchctl.EvidenceDeployment, Ref: "argocd:payments-staging", Environment: "staging",
		Version: "abc123", Result: "passed", Source: "argocd", Details: map[string]string{"revision": "abc123"},
		Actor: "system:argocd", At: t0.Add(time.Nanosecond), RecordedAt: t0}
	err := db.InTx(ctx(), func(tx *store.Tx) error {
		if err := tx.AddEvidence(ctx(), p.ID, e); err != nil {
			return err
		}
		if err := tx.AddTransition(ctx(), p.ID, &patchctl.Transition{From: "draft", To: "in_progress", Action: "advance", Actor: "a", At: t0}); err != nil {
			return err
		}
		if err := tx.AddOverride(ctx(), p.ID, &patchctl.Override{From: "a", To: "b", Action: "advance", Gates: []string{"g"}, Justification: "because", Actor: "lead", Role: "lead", At: t0}); err != nil {
			return err
		}
		due := t0.Add(time.Hour)
		return tx.AddPriorityChange(ctx(), p.ID, &patchctl.PriorityChange{At: t0, From: "routine", To: "high", Rule: "r", Reason: "why", PolicyVersion: "v", DueAt: &due, Actor: "x"})
	})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := db.Read().Evidence(ctx(), p.ID)
	if err != nil || len(ev) != 1 {
		t.Fatalf("evidence = %v, %v", ev, err)
	}
	if diff := cmp.Diff(*e, ev[0]); diff != "" {
		t.Errorf("evidence round trip:\n%s", diff)
	}
	tr, _ := db.Read().Transitions(ctx(), p.ID)
	ov, _ := db.Read().Overrides(ctx(), p.ID)
	pc, _ := db.Read().PriorityChanges(ctx(), p.ID)
	if len(tr) != 1 || len(ov) != 1 || len(pc) != 1 || ov[0].Gates[0] != "g" || pc[0].DueAt == nil {
		t.Errorf("history: %d transitions, %d overrides %v, %d priority changes", len(tr), len(ov), ov, len(pc))
	}
}

func testRollbackAtomic(t *testing.T, db *store.DB) {
	p := create(t, db, newPatch("atomic", patchctl.PriorityHigh, t0))
	boom := errors.New("boom")
	err := db.InTx(ctx(), func(tx *store.Tx) error {
		cur, _ := tx.Patch(ctx(), p.ID)
		cur.State = patchctl.StateInProgress
		if err := tx.UpdatePatch(ctx(), cur, cur.Revision); err != nil {
			return err
		}
		if err := tx.AddEvidence(ctx(), p.ID, &patchctl.Evidence{Kind: "note", Ref: "x", Actor: "a", At: t0, RecordedAt: t0}); err != nil {
			return err
		}
		if err := tx.Audit(ctx(), &patchctl.AuditEvent{At: t0, Actor: "a", Action: "patch.transition", Subject: p.Key}, map[string]string{"to": "in_progress"}); err != nil {
			return err
		}
		if _, err := tx.Enqueue(ctx(), "t", p.Key, map[string]int{}, t0); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	got, _ := db.Read().Patch(ctx(), p.ID)
	ev, _ := db.Read().Evidence(ctx(), p.ID)
	au, _ := db.Read().AuditEvents(ctx(), store.AuditFilter{})
	ob, _ := db.Read().Outbox(ctx(), store.OutboxFilter{})
	if got.State != patchctl.StateDraft || got.Revision != 1 || len(ev) != 0 || len(au) != 0 || len(ob) != 0 {
		t.Errorf("after a failed transaction: state %s rev %d, %d evidence, %d audit, %d outbox; want nothing written",
			got.State, got.Revision, len(ev), len(au), len(ob))
	}
	v, err := db.VerifyAudit(ctx())
	if err != nil || !v.OK {
		t.Errorf("verify after rollback: %+v %v", v, err)
	}
}

func appendEvents(t *testing.T, db *store.DB, n int) {
	t.Helper()
	for i := range n {
		err := db.InTx(ctx(), func(tx *store.Tx) error {
			return tx.Audit(ctx(), &patchctl.AuditEvent{At: t0.Add(time.Duration(i) * time.Second), Actor: "alice", Role: "lead",
				Action: "patch.transition", Subject: fmt.Sprintf("PATCH-%d", i%3+1)}, map[string]any{"i": i, "to": "in_review", "z": []int{1, 2}})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func verify(t *testing.T, db *store.DB) *store.Verification {
	t.Helper()
	v, err := db.VerifyAudit(ctx())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func testAuditChain(t *testing.T, db *store.DB) {
	appendEvents(t, db, 10)
	v := verify(t, db)
	if !v.OK || v.Checked != 10 || v.HeadSeq != 10 {
		t.Fatalf("verify = %+v, want ok over 10 events", v)
	}
	ev, _ := db.Read().AuditEvents(ctx(), store.AuditFilter{Subject: "PATCH-1"})
	if len(ev) != 4 || string(ev[0].Data) != `{"i":0,"to":"in_review","z":[1,2]}` {
		t.Errorf("events of PATCH-1: %d, first data %s", len(ev), ev[0].Data)
	}
	for i := 1; i < len(ev); i++ {
		if ev[i].Seq <= ev[i-1].Seq {
			t.Errorf("events out of order")
		}
	}
}

func testAuditModified(t *testing.T, db *store.DB) {
	appendEvents(t, db, 6)
	if err := db.Exec(ctx(), `UPDATE audit_events SET data = ? WHERE seq = 4`, `{"i":3,"to":"done","z":[1,2]}`); err != nil {
		t.Fatal(err)
	}
	v := verify(t, db)
	if v.OK || v.FirstBad != 4 || v.Problem != "modified" {
		t.Errorf("after editing event 4: %+v; want modified at 4", v)
	}
}

func testAuditDeleted(t *testing.T, db *store.DB) {
	appendEvents(t, db, 6)
	if err := db.Exec(ctx(), `DELETE FROM audit_events WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	v := verify(t, db)
	if v.OK || v.FirstBad != 3 || v.Problem != "deleted" {
		t.Errorf("after deleting event 3: %+v; want deleted at 3", v)
	}
}

func testAuditDeletedTail(t *testing.T, db *store.DB) {
	appendEvents(t, db, 6)
	if err := db.Exec(ctx(), `DELETE FROM audit_events WHERE seq >= 5`); err != nil {
		t.Fatal(err)
	}
	v := verify(t, db)
	if v.OK || v.FirstBad != 5 || v.Problem != "deleted" {
		t.Errorf("after deleting the last two events: %+v; want deleted at 5", v)
	}
}

func testAuditReordered(t *testing.T, db *store.DB) {
	appendEvents(t, db, 6)
	// Swap events 3 and 4 keeping their sequence numbers in place.
	for _, q := range []string{
		`UPDATE audit_events SET seq = 1003 WHERE seq = 3`,
		`UPDATE audit_events SET seq = 3 WHERE seq = 4`,
		`UPDATE audit_events SET seq = 4 WHERE seq = 1003`,
	} {
		if err := db.Exec(ctx(), q); err != nil {
			t.Fatal(err)
		}
	}
	v := verify(t, db)
	if v.OK || v.FirstBad != 3 || v.Problem != "reordered" {
		t.Errorf("after swapping events 3 and 4: %+v; want reordered at 3", v)
	}
}

func testAuditConcurrent(t *testing.T, db *store.DB) {
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				err := db.InTx(ctx(), func(tx *store.Tx) error {
					return tx.Audit(ctx(), &patchctl.AuditEvent{At: t0, Actor: fmt.Sprint("w", g), Action: "x", Subject: "s"}, map[string]int{"i": i})
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	v := verify(t, db)
	if !v.OK || v.Checked != 40 {
		t.Errorf("after 40 concurrent appends: %+v", v)
	}
}

func testTokens(t *testing.T, db *store.DB) {
	tok := &store.Token{Name: "alice", Role: patchctl.RoleLead, Prefix: "pct_abcdef", CreatedBy: "local:root", CreatedAt: t0}
	if err := db.InTx(ctx(), func(tx *store.Tx) error { return tx.CreateToken(ctx(), tok, "hash-1") }); err != nil {
		t.Fatal(err)
	}
	got, err := db.Read().TokenByHash(ctx(), "hash-1")
	if err != nil || got.Name != "alice" || got.Role != patchctl.RoleLead {
		t.Fatalf("TokenByHash = %+v, %v", got, err)
	}
	if _, err := db.Read().TokenByHash(ctx(), "nope"); patchctl.ErrorCode(err) != patchctl.CodeUnauthorized {
		t.Errorf("unknown hash: %v", err)
	}
	dup := &store.Token{Name: "x", Role: "viewer", Prefix: "p", CreatedBy: "x", CreatedAt: t0}
	if err := db.InTx(ctx(), func(tx *store.Tx) error { return tx.CreateToken(ctx(), dup, "hash-1") }); patchctl.ErrorCode(err) != patchctl.CodeConflict {
		t.Errorf("duplicate hash: %v", err)
	}
	if err := db.InTx(ctx(), func(tx *store.Tx) error {
		_, err := tx.RevokeToken(ctx(), tok.ID, "admin", t0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	live, _ := db.Read().Tokens(ctx(), false)
	all, _ := db.Read().Tokens(ctx(), true)
	if len(live) != 0 || len(all) != 1 || all[0].RevokedAt == nil {
		t.Errorf("after revoke: %d live, %d all", len(live), len(all))
	}
}

func testTimers(t *testing.T, db *store.DB) {
	err := db.InTx(ctx(), func(tx *store.Tx) error {
		if err := tx.ScheduleTimer(ctx(), "sla.breach", "PATCH-1", t0.Add(time.Hour), map[string]string{"v": "1"}, t0); err != nil {
			return err
		}
		// Rescheduling the same kind and subject replaces the timer.
		return tx.ScheduleTimer(ctx(), "sla.breach", "PATCH-1", t0.Add(2*time.Hour), map[string]string{"v": "2"}, t0)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := db.ClaimTimers(ctx(), "a", t0.Add(90*time.Minute), time.Minute, 10); len(got) != 0 {
		t.Fatalf("claimed %d timers before their due time", len(got))
	}
	got, err := db.ClaimTimers(ctx(), "a", t0.Add(2*time.Hour), time.Minute, 10)
	if err != nil || len(got) != 1 || string(got[0].Payload) != `{"v":"2"}` {
		t.Fatalf("claim = %+v, %v", got, err)
	}
	// Held by a: b cannot claim it until the lease expires.
	if again, _ := db.ClaimTimers(ctx(), "b", t0.Add(2*time.Hour+30*time.Second), time.Minute, 10); len(again) != 0 {
		t.Errorf("b claimed a timer a holds")
	}
	taken, _ := db.ClaimTimers(ctx(), "b", t0.Add(2*time.Hour+2*time.Minute), time.Minute, 10)
	if len(taken) != 1 {
		t.Fatalf("b did not take over the expired lease")
	}
	err = db.InTx(ctx(), func(tx *store.Tx) error { return tx.FinishTimer(ctx(), got[0].ID, "a", t0) })
	if patchctl.ErrorCode(err) != patchctl.CodeConflict {
		t.Errorf("a finished a timer b took over: %v", err)
	}
	if err := db.RetryTimer(ctx(), taken[0].ID, "b", t0.Add(3*time.Hour), errors.New("flaky"), 10); err != nil {
		t.Fatal(err)
	}
	list, _ := db.Read().Timers(ctx(), "sla.", "", true, 10)
	if len(list) != 1 || list[0].LastError != "flaky" || !list[0].DueAt.Equal(t0.Add(3*time.Hour)) {
		t.Errorf("after retry: %+v", list)
	}
	final, _ := db.ClaimTimers(ctx(), "c", t0.Add(3*time.Hour), time.Minute, 10)
	if len(final) != 1 {
		t.Fatal("retried timer not claimable")
	}
	if err := db.InTx(ctx(), func(tx *store.Tx) error { return tx.FinishTimer(ctx(), final[0].ID, "c", t0) }); err != nil {
		t.Fatal(err)
	}
	if list, _ := db.Read().Timers(ctx(), "", "", true, 10); len(list) != 0 {
		t.Errorf("finished timer still pending")
	}
}

// testTimerErrorClipped checks that a long error is kept to 2,000 bytes
// without cutting a character in two (PostgreSQL refuses invalid UTF-8).
func testTimerErrorClipped(t *testing.T, db *store.DB) {
	if err := db.InTx(ctx(), func(tx *store.Tx) error {
		return tx.ScheduleTimer(ctx(), "feed.kev", "kev", t0, nil, t0)
	}); err != nil {
		t.Fatal(err)
	}
	got, err := db.ClaimTimers(ctx(), "a", t0, time.Minute, 10)
	if err != nil || len(got) != 1 {
		t.Fatalf("claim = %+v, %v", got, err)
	}
	cause := errors.New(strings.Repeat("x", 1999) + "é and more")
	if err := db.RetryTimer(ctx(), got[0].ID, "a", t0.Add(time.Hour), cause, 10); err != nil {
		t.Fatal(err)
	}
	list, _ := db.Read().Timers(ctx(), "feed.", "", true, 10)
	if len(list) != 1 || list[0].LastError != strings.Repeat("x", 1999) {
		t.Errorf("after retry: %+v", list)
	}
}

func testTimersClaimedOnce(t *testing.T, db *store.DB) {
	err := db.InTx(ctx(), func(tx *store.Tx) error {
		for i := range 60 {
			if err := tx.ScheduleTimer(ctx(), "k", fmt.Sprint("s", i), t0, nil, t0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[int64]string{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			holder := fmt.Sprint("replica-", w)
			for {
				ts, err := db.ClaimTimers(ctx(), holder, t0, time.Hour, 7)
				if err != nil {
					t.Error(err)
					return
				}
				if len(ts) == 0 {
					return
				}
				mu.Lock()
				for _, tm := range ts {
					if prev, dup := seen[tm.ID]; dup {
						t.Errorf("timer %d claimed by %s and %s", tm.ID, prev, holder)
					}
					seen[tm.ID] = holder
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 60 {
		t.Errorf("claimed %d of 60 timers", len(seen))
	}
}

func testLeases(t *testing.T, db *store.DB) {
	ok, err := db.AcquireLease(ctx(), "scheduler", "a", t0, time.Minute)
	if err != nil || !ok {
		t.Fatalf("a acquire: %v %v", ok, err)
	}
	if ok, _ := db.AcquireLease(ctx(), "scheduler", "b", t0.Add(30*time.Second), time.Minute); ok {
		t.Errorf("b acquired a lease a holds")
	}
	if ok, _ := db.AcquireLease(ctx(), "scheduler", "a", t0.Add(30*time.Second), time.Minute); !ok {
		t.Errorf("a could not renew its own lease")
	}
	if ok, _ := db.AcquireLease(ctx(), "scheduler", "b", t0.Add(2*time.Minute), time.Minute); !ok {
		t.Errorf("b could not take an expired lease")
	}
	if err := db.ReleaseLease(ctx(), "scheduler", "b"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := db.AcquireLease(ctx(), "scheduler", "c", t0.Add(2*time.Minute), time.Minute); !ok {
		t.Errorf("c could not take a released lease")
	}
}

func testOutbox(t *testing.T, db *store.DB) {
	err := db.InTx(ctx(), func(tx *store.Tx) error {
		if _, err := tx.Enqueue(ctx(), "page.oncall", "PATCH-1", map[string]string{"summary": "x"}, t0); err != nil {
			return err
		}
		_, err := tx.Enqueue(ctx(), "sla.breached", "PATCH-2", map[string]string{}, t0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	all, _ := db.Read().Outbox(ctx(), store.OutboxFilter{})
	pages, _ := db.Read().Outbox(ctx(), store.OutboxFilter{Topic: "page.*"})
	p2, _ := db.Read().Outbox(ctx(), store.OutboxFilter{Subject: "PATCH-2", Undelivered: true})
	if len(all) != 2 || len(pages) != 1 || len(p2) != 1 || string(pages[0].Payload) != `{"summary":"x"}` {
		t.Errorf("outbox: all %d, pages %d, PATCH-2 %d", len(all), len(pages), len(p2))
	}
}

func testStableVersions(t *testing.T, db *store.DB) {
	p := create(t, db, newPatch("stable", patchctl.PriorityHigh, t0))
	rec := func(v string, at time.Time, patch int64) {
		t.Helper()
		if err := db.InTx(ctx(), func(tx *store.Tx) error {
			return tx.RecordStable(ctx(), &store.StableVersion{Subject: "payments", Environment: "production", Version: v, Source: "x", Actor: "a", RecordedAt: at}, patch)
		}); err != nil {
			t.Fatal(err)
		}
	}
	rec("v1.0.0", t0, 0)
	rec("v1.1.0", t0.Add(time.Hour), 0)
	rec("v1.2.0", t0.Add(2*time.Hour), p.ID) // this patch's own release
	s, err := db.Read().PreviousStable(ctx(), "payments", "production", t0.Add(3*time.Hour), p.ID, "v1.2.0")
	if err != nil || s.Version != "v1.1.0" {
		t.Errorf("previous stable = %+v, %v; want v1.1.0", s, err)
	}
	s, err = db.Read().PreviousStable(ctx(), "payments", "production", t0.Add(30*time.Minute), 0, "")
	if err != nil || s.Version != "v1.0.0" {
		t.Errorf("previous stable before 30m = %+v, %v; want v1.0.0", s, err)
	}
	if _, err := db.Read().PreviousStable(ctx(), "payments", "staging", t0.Add(3*time.Hour), 0, ""); patchctl.ErrorCode(err) != patchctl.CodeNotFound {
		t.Errorf("no stable in staging: %v", err)
	}
}

func testMigrationsIdempotent(t *testing.T, db *store.DB) {
	applied, err := db.Migrate(ctx())
	if err != nil || len(applied) != 0 {
		t.Errorf("second migrate applied %d (%v), want 0", len(applied), err)
	}
	if n, err := db.Pending(ctx()); err != nil || n != 0 {
		t.Errorf("pending = %d, %v", n, err)
	}
}
