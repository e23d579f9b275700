package gitops_test

import (
	"context"
	"testing"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/service"
)

// TestReconcileOutsideTransactions holds GitHub's answer to the reconcile
// pass of a patch: meanwhile other writes go through (on SQLite a
// reconcile inside the write transaction would stop every write until
// GitHub answered), and once GitHub answers the reconcile records what it
// read.
func TestReconcileOutsideTransactions(t *testing.T) {
	h := newHarness(t, setup{githubREST: true})
	p := h.createPatch("Bump zlib")
	h.must(200, "POST", "/patches/"+p.Key+"/transitions", patchctl.RoleEngineer, map[string]any{}, nil)
	entered, release := h.gh.Hold("GET", "/repos/"+repo+"/pulls")

	h.s.Clock.Advance(11 * time.Minute)
	h.runTimers() // schedules the patch's reconcile
	done := make(chan error, 1)
	go func() {
		_, err := h.s.App.Scheduler.RunOnce(context.Background())
		done <- err
	}()
	select {
	case <-entered:
	case err := <-done:
		t.Fatalf("reconcile finished without asking GitHub: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("reconcile never asked GitHub for the pull request")
	}

	wrote := make(chan error, 1)
	go func() {
		_, err := h.s.App.Service.CreatePatch(context.Background(), patchctl.Actor{Name: "erin", Role: patchctl.RoleEngineer}, service.CreatePatch{
			Title: "Meanwhile", Kind: patchctl.KindApplication, Target: patchctl.Target{Application: "payments"},
			Links: []patchctl.Link{{Type: patchctl.LinkVulnerability, Ref: "CVE-2024-6119"}},
		})
		wrote <- err
	}()
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatalf("write while reconcile waits on GitHub: %v", err)
		}
	case <-time.After(20 * time.Second):
		release()
		t.Fatal("a write waited for the reconcile's GitHub call: the reconcile holds the write transaction")
	}

	// GitHub answers (no pull request for the branch): the pass ends
	// without error and the timer is done.
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := h.gh.CallCount("GET", "/repos/"+repo+"/pulls"); n == 0 {
		t.Errorf("no pull request lookup recorded")
	}
}
