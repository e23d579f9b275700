package patchctl

import "time"

// EvidenceKind names what a piece of evidence proves.
type EvidenceKind string

// Evidence kinds. Gates in internal/lifecycle look for these.
const (
	EvidenceBranch         EvidenceKind = "branch"          // the dedicated branch exists
	EvidencePullRequest    EvidenceKind = "pull_request"    // a PR is open for the branch
	EvidenceReview         EvidenceKind = "review"          // a PR review (approved, changes_requested, dismissed)
	EvidenceMerge          EvidenceKind = "merge"           // the PR was merged; Version = merge commit or release
	EvidenceTestRun        EvidenceKind = "test_run"        // automated tests (CI run) with a result
	EvidenceDeployment     EvidenceKind = "deployment"      // Version deployed to Environment
	EvidenceSignoff        EvidenceKind = "signoff"         // manual validation sign-off for Environment and Version
	EvidenceHealthCheck    EvidenceKind = "health_check"    // a health check during a soak or after an upgrade
	EvidenceWaveUpgrade    EvidenceKind = "wave_upgrade"    // a rollout wave's upgrade observed complete
	EvidenceBackup         EvidenceKind = "backup"          // a backup id taken before an upgrade
	EvidenceAnnouncement   EvidenceKind = "announcement"    // the maintenance window was announced
	EvidenceWindowBooking  EvidenceKind = "window_booking"  // a maintenance window was booked
	EvidenceTerraformPlan  EvidenceKind = "terraform_plan"  // a terraform plan linked to the patch
	EvidenceTerraformApply EvidenceKind = "terraform_apply" // a terraform apply that landed
	EvidenceRollback       EvidenceKind = "rollback"        // a rollback decision and its target version
	EvidenceNote           EvidenceKind = "note"            // free text
)

// EvidenceKinds lists the kinds people may record by hand; the others are
// recorded by the transitions themselves.
var EvidenceKinds = []EvidenceKind{
	EvidenceBranch, EvidencePullRequest, EvidenceReview, EvidenceMerge, EvidenceTestRun,
	EvidenceDeployment, EvidenceSignoff, EvidenceHealthCheck, EvidenceWaveUpgrade, EvidenceBackup,
	EvidenceAnnouncement, EvidenceTerraformPlan, EvidenceTerraformApply, EvidenceNote,
}

// Valid reports whether k may be recorded through the evidence API.
func (k EvidenceKind) Valid() bool {
	for _, v := range EvidenceKinds {
		if k == v {
			return true
		}
	}
	return false
}

// Results of checks and reviews.
const (
	ResultPassed           = "passed"
	ResultFailed           = "failed"
	ResultApproved         = "approved"
	ResultChangesRequested = "changes_requested"
	ResultDismissed        = "dismissed"
	ResultCommented        = "commented"
)

// Evidence is what proves a step happened.
type Evidence struct {
	ID   int64        `json:"id"`
	Kind EvidenceKind `json:"kind"`
	// Ref identifies the thing itself: a URL, a PR number, a run id, a backup id.
	Ref         string `json:"ref,omitempty"`
	Environment string `json:"environment,omitempty"`
	Version     string `json:"version,omitempty"`
	// Result is passed/failed for checks, approved/changes_requested/... for reviews.
	Result string `json:"result,omitempty"`
	// Subject is who or what the evidence is about when it is not the actor:
	// a PR author, a reviewer, a cluster/node pool, a wave number.
	Subject string `json:"subject,omitempty"`
	// Source is where it came from: manual, github, argocd, terraform, import...
	Source  string            `json:"source"`
	Details map[string]string `json:"details,omitempty"`
	Actor   string            `json:"actor"`
	// At is when the thing happened; RecordedAt is when patchctl learnt it.
	At         time.Time `json:"at"`
	RecordedAt time.Time `json:"recorded_at"`
}

// IsPatchMerge says whether e records the merge of the patch's own change:
// merge evidence naming the merged version, and not the later merge of a
// deployment repository that rolls the version out (Details "role":
// "deployment").
func IsPatchMerge(e Evidence) bool {
	return e.Kind == EvidenceMerge && e.Version != "" && e.Details["role"] != "deployment"
}
