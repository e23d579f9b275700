package web

import (
	"testing"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/service"
)

func TestDefaultEvidenceKind(t *testing.T) {
	gates := func(gs ...patchctl.GateResult) *service.Detail {
		return &service.Detail{Patch: &patchctl.Patch{Key: "PATCH-7"}, Next: &service.Step{Gates: gs}}
	}
	for _, tc := range []struct {
		name string
		d    *service.Detail
		want patchctl.EvidenceKind
	}{
		{"no next step", &service.Detail{Patch: &patchctl.Patch{Key: "PATCH-7"}}, patchctl.EvidenceNote},
		{"all gates pass", gates(patchctl.GateResult{Gate: "dedicated_branch", OK: true}), patchctl.EvidenceNote},
		// A gate another form satisfies (a link) is skipped for the first
		// one evidence satisfies.
		{"first missing evidence", gates(patchctl.GateResult{Gate: "has_trigger"}, patchctl.GateResult{Gate: "dedicated_branch", OK: true},
			patchctl.GateResult{Gate: "pull_request_open"}, patchctl.GateResult{Gate: "review_by_other"}), patchctl.EvidencePullRequest},
		{"only other forms", gates(patchctl.GateResult{Gate: "window_booked"}, patchctl.GateResult{Gate: "manual_signoff"}), patchctl.EvidenceNote},
	} {
		if got := defaultEvidenceKind(tc.d); got != tc.want {
			t.Errorf("%s: defaultEvidenceKind = %q, want %q", tc.name, got, tc.want)
		}
	}
	if h := gateHelpFor("backup_taken", "PATCH-7"); h.Href != "/patches/PATCH-7?evidence=backup#add-evidence" || h.Kind != patchctl.EvidenceBackup {
		t.Errorf("gateHelpFor(backup_taken) = %+v", h)
	}
}
