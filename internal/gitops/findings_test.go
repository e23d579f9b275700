package gitops_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/config"
	"github.com/patchctl/patchctl/internal/gitops"
	"github.com/patchctl/patchctl/internal/integration/github"
	"github.com/patchctl/patchctl/internal/store"
	"github.com/patchctl/patchctl/internal/testutil/corpus"
)

// sink is a finding intake that fails while down is set.
type sink struct {
	down bool
	got  []gitops.Alert
}

func (s *sink) RecordAlert(ctx context.Context, tx *store.Tx, a patchctl.Actor, alert gitops.Alert) (*gitops.AlertResult, error) {
	if s.down {
		return nil, errors.New("intake is down")
	}
	if tx == nil || a.Name != "system:github" {
		return nil, errors.New("no transaction or the wrong actor")
	}
	s.got = append(s.got, alert)
	return &gitops.AlertResult{Summary: "finding opened for " + alert.Vulnerability.Package, Patches: []string{"PATCH-1"}}, nil
}

// TestFindingSink hands a Dependabot alert to finding intake in the
// delivery's transaction; while intake fails, the delivery is recorded as
// failed with nothing else, and its redelivery is processed.
func TestFindingSink(t *testing.T) {
	h := newHarness(t, setup{config: func(c *config.Config) { c.Integrations.GitHub.Repositories = nil }})
	body, err := os.ReadFile(corpus.Path(t, "github-webhooks/dependabot_alert__created.payload.json"))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := github.ParseEvent("dependabot_alert", body)
	if err != nil {
		t.Fatal(err)
	}
	ev.Delivery = "alert-1"
	intake := &sink{down: true}
	loop := gitops.New(h.s.App.Service, gitops.Options{Findings: intake})
	ctx := context.Background()

	if _, err := loop.HandleGitHub(ctx, ev); err == nil {
		t.Fatal("a failing intake did not fail the delivery")
	}
	rec, err := h.s.App.DB.Read().Delivery(ctx, "github", "alert-1")
	if err != nil || rec.Status != store.DeliveryFailed || rec.Error != "internal error" {
		t.Fatalf("failed delivery record %+v %v", rec, err)
	}

	intake.down = false
	res, err := loop.HandleGitHub(ctx, ev)
	if err != nil || res.Duplicate || res.Delivery.Status != store.DeliveryProcessed || res.Delivery.ID != rec.ID ||
		res.Delivery.Summary != "finding opened for "+ev.Alert.Package || len(res.Delivery.PatchKeys) != 1 {
		t.Fatalf("redelivery: %+v %v", res, err)
	}
	if len(intake.got) != 1 || intake.got[0].Repository != ev.Repo || intake.got[0].Vulnerability.GHSAID == "" || intake.got[0].Event != "dependabot_alert" {
		t.Errorf("intake got %+v", intake.got)
	}
	if res, err := loop.HandleGitHub(ctx, ev); err != nil || !res.Duplicate || len(intake.got) != 1 {
		t.Errorf("third delivery: %+v %v", res, err)
	}
}
