package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/store"
	"github.com/patchctl/patchctl/internal/testutil/testdb"
)

var g0 = time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)

func inTx(t *testing.T, db *store.DB, fn func(tx *store.Tx) error) {
	t.Helper()
	if err := db.InTx(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// TestDeliveries runs the webhook delivery queries on every engine: a
// delivery id is recorded once per source, a failed one is replaced by its
// redelivery, and the filters select what the API offers.
func TestDeliveries(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		save := func(d store.Delivery) (store.Delivery, error) {
			err := db.InTx(ctx, func(tx *store.Tx) error { return tx.SaveDelivery(ctx, &d) })
			return d, err
		}
		a, err := save(store.Delivery{Source: "github", DeliveryID: "d-1", Event: "pull_request", Action: "opened", ReceivedAt: g0,
			Status: store.DeliveryProcessed, PatchKeys: []string{"PATCH-4", "PATCH-42"}, Repository: "acme/app", Summary: "PATCH-4: ..."})
		if err != nil || a.ID == 0 {
			t.Fatalf("save: %+v %v", a, err)
		}
		if _, err := save(store.Delivery{Source: "github", DeliveryID: "d-1", Event: "pull_request", ReceivedAt: g0, Status: store.DeliveryIgnored}); patchctl.ErrorCode(err) != patchctl.CodeConflict {
			t.Fatalf("duplicate delivery: err = %v, want conflict", err)
		}
		// The same id from another source is another delivery.
		if _, err := save(store.Delivery{Source: "argocd", DeliveryID: "d-1", Event: "argocd", ReceivedAt: g0.Add(time.Second), Status: store.DeliveryUnmatched}); err != nil {
			t.Fatal(err)
		}
		f, err := save(store.Delivery{Source: "github", DeliveryID: "d-2", Event: "push", ReceivedAt: g0.Add(2 * time.Second), Status: store.DeliveryFailed, Error: "internal error"})
		if err != nil {
			t.Fatal(err)
		}
		// A redelivery of a failed delivery replaces its record, once.
		replace := func(d store.Delivery) (store.Delivery, error) {
			err := db.InTx(ctx, func(tx *store.Tx) error { return tx.ReplaceFailedDelivery(ctx, &d) })
			return d, err
		}
		if _, err := save(store.Delivery{Source: "github", DeliveryID: "d-2", Event: "push", ReceivedAt: g0, Status: store.DeliveryProcessed}); patchctl.ErrorCode(err) != patchctl.CodeConflict {
			t.Fatalf("inserting over a failed delivery: %v, want conflict", err)
		}
		r, err := replace(store.Delivery{Source: "github", DeliveryID: "d-2", Event: "push", ReceivedAt: g0.Add(3 * time.Second), Status: store.DeliveryProcessed,
			PatchKeys: []string{"PATCH-4"}, Summary: "branch"})
		if err != nil || r.ID != f.ID {
			t.Fatalf("redelivery of a failed delivery: id %d (was %d), %v", r.ID, f.ID, err)
		}
		if _, err := replace(store.Delivery{Source: "github", DeliveryID: "d-2", Event: "push", ReceivedAt: g0, Status: store.DeliveryIgnored}); patchctl.ErrorCode(err) != patchctl.CodeConflict {
			t.Fatalf("replacing a processed delivery: %v, want conflict", err)
		}
		got, err := db.Read().Delivery(ctx, "github", "d-2")
		if err != nil {
			t.Fatal(err)
		}
		want := store.Delivery{ID: f.ID, Source: "github", DeliveryID: "d-2", Event: "push", ReceivedAt: g0.Add(3 * time.Second),
			Status: store.DeliveryProcessed, PatchKeys: []string{"PATCH-4"}, Summary: "branch"}
		if diff := cmp.Diff(want, *got); diff != "" {
			t.Errorf("delivery (-want +got):\n%s", diff)
		}
		if _, err := db.Read().Delivery(ctx, "github", "nope"); patchctl.ErrorCode(err) != patchctl.CodeNotFound {
			t.Errorf("unknown delivery: %v", err)
		}
		if d, err := db.Read().DeliveryByID(ctx, a.ID); err != nil || d.DeliveryID != "d-1" {
			t.Errorf("by id: %+v %v", d, err)
		}

		ids := func(f store.DeliveryFilter) []string {
			t.Helper()
			ds, err := db.Read().Deliveries(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			out := []string{}
			for _, d := range ds {
				out = append(out, d.Source+"/"+d.DeliveryID)
			}
			return out
		}
		for _, tc := range []struct {
			name string
			f    store.DeliveryFilter
			want []string
		}{
			{"all, newest first", store.DeliveryFilter{}, []string{"github/d-2", "argocd/d-1", "github/d-1"}},
			{"source", store.DeliveryFilter{Source: "argocd"}, []string{"argocd/d-1"}},
			{"status", store.DeliveryFilter{Status: store.DeliveryProcessed}, []string{"github/d-2", "github/d-1"}},
			{"patch PATCH-42", store.DeliveryFilter{PatchKey: "PATCH-42"}, []string{"github/d-1"}},
			{"patch PATCH-4 is not PATCH-42", store.DeliveryFilter{PatchKey: "PATCH-4"}, []string{"github/d-2", "github/d-1"}},
			{"patch PATCH-2", store.DeliveryFilter{PatchKey: "PATCH-2"}, []string{}},
			{"event and repository", store.DeliveryFilter{Event: "pull_request", Repository: "acme/app"}, []string{"github/d-1"}},
			{"page", store.DeliveryFilter{BeforeID: f.ID, Limit: 1}, []string{"argocd/d-1"}},
		} {
			if diff := cmp.Diff(tc.want, ids(tc.f)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.name, diff)
			}
		}
	})
}

// TestGitOpsLookups runs the patch, evidence, timer and outbox queries of
// the GitOps loop on every engine.
func TestGitOpsLookups(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		mk := func(title, version string, state patchctl.State) *patchctl.Patch {
			due := g0.Add(72 * time.Hour)
			p := &patchctl.Patch{Title: title, Kind: patchctl.KindApplication, State: state, Version: version,
				Target: patchctl.Target{Application: "payments"}, Priority: patchctl.PriorityHigh, DetectedAt: g0, DueAt: &due,
				CreatedBy: "erin", CreatedAt: g0, UpdatedAt: g0}
			inTx(t, db, func(tx *store.Tx) error { return tx.CreatePatch(ctx, p) })
			return p
		}
		a := mk("ships abc", "abc", patchctl.StateMerged)
		b := mk("merged def in the deploy repo", "zzz", patchctl.StateStaging)
		mk("closed with abc", "abc", patchctl.StateDone)
		inTx(t, db, func(tx *store.Tx) error {
			return tx.AddEvidence(ctx, b.ID, &patchctl.Evidence{Kind: patchctl.EvidenceMerge, Ref: "pr", Version: "def", Source: "github",
				Actor: "system:github", At: g0, RecordedAt: g0})
		})
		inTx(t, db, func(tx *store.Tx) error {
			return tx.AddEvidence(ctx, a.ID, &patchctl.Evidence{Kind: patchctl.EvidenceDeployment, Ref: "argocd:x#1", Environment: "staging",
				Version: "abc", Source: "argocd", Details: map[string]string{"revision": "r1"}, Actor: "system:argocd", At: g0, RecordedAt: g0})
		})
		keys := func(ps []*patchctl.Patch) []string {
			out := []string{}
			for _, p := range ps {
				out = append(out, p.Key)
			}
			return out
		}
		for _, tc := range []struct {
			versions []string
			want     []string
		}{
			{[]string{"abc"}, []string{a.Key}},
			{[]string{"def"}, []string{b.Key}},
			{[]string{"abc", "def", ""}, []string{a.Key, b.Key}},
			{[]string{"nope"}, []string{}},
			{[]string{""}, []string{}},
		} {
			ps, err := db.Read().OpenPatchesByVersion(ctx, tc.versions...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, keys(ps)); diff != "" {
				t.Errorf("by version %v (-want +got):\n%s", tc.versions, diff)
			}
		}
		ev, err := db.Read().EvidenceByVersion(ctx, patchctl.EvidenceDeployment, "staging", "abc", 5)
		if err != nil || len(ev) != 1 || ev[0].Details["revision"] != "r1" {
			t.Errorf("evidence by version: %+v %v", ev, err)
		}
		if ev, _ := db.Read().EvidenceByVersion(ctx, patchctl.EvidenceDeployment, "production", "abc", 5); len(ev) != 0 {
			t.Errorf("evidence of another environment: %+v", ev)
		}

		// A timer scheduled once is neither moved nor revived.
		var created []bool
		for i := range 2 {
			inTx(t, db, func(tx *store.Tx) error {
				ok, err := tx.ScheduleTimerOnce(ctx, "gitops.rollback", "outbox:1", g0.Add(time.Duration(i)*time.Hour), map[string]any{"i": i}, g0)
				created = append(created, ok)
				return err
			})
		}
		if !cmp.Equal(created, []bool{true, false}) {
			t.Errorf("created = %v", created)
		}
		claimed, err := db.ClaimTimers(ctx, "me", g0, time.Minute, 10)
		if err != nil || len(claimed) != 1 || string(claimed[0].Payload) != `{"i":0}` {
			t.Fatalf("claimed %+v %v", claimed, err)
		}
		inTx(t, db, func(tx *store.Tx) error { return tx.FinishTimer(ctx, claimed[0].ID, "me", g0) })
		inTx(t, db, func(tx *store.Tx) error {
			ok, err := tx.ScheduleTimerOnce(ctx, "gitops.rollback", "outbox:1", g0, nil, g0)
			if ok {
				t.Error("a finished timer was revived")
			}
			return err
		})
		inTx(t, db, func(tx *store.Tx) error {
			if err := tx.ScheduleTimer(ctx, "gitops.outbox", "next", g0.Add(time.Hour), nil, g0); err != nil {
				return err
			}
			return tx.DeleteFinishedTimers(ctx, "gitops.rollback")
		})
		ts, err := db.Read().Timers(ctx, "gitops.", "", false, 10)
		if err != nil || len(ts) != 1 || ts[0].Kind != "gitops.outbox" {
			t.Errorf("after deleting finished timers: %+v %v", ts, err)
		}

		for i, at := range []time.Time{g0.Add(-48 * time.Hour), g0.Add(-time.Hour), g0} {
			inTx(t, db, func(tx *store.Tx) error {
				if _, err := tx.Enqueue(ctx, "rollback.requested", "PATCH-1", map[string]any{"i": i}, at); err != nil {
					return err
				}
				_, err := tx.Enqueue(ctx, "sla.breached", "PATCH-1", map[string]any{"i": i}, at)
				return err
			})
		}
		msgs, err := db.Read().OutboxSince(ctx, "rollback.requested", g0.Add(-24*time.Hour), 10)
		if err != nil || len(msgs) != 2 || string(msgs[0].Payload) != `{"i":1}` || string(msgs[1].Payload) != `{"i":2}` {
			t.Errorf("outbox since: %+v %v", msgs, err)
		}
	})
}
