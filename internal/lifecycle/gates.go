package lifecycle

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/config"
)

// The SOP-005 rules the gates enforce, quoted.
const (
	ruleLinked        = "All patches are linked to the relevant issue or vulnerability that triggered them."
	ruleBranch        = "Patches are released via a dedicated branch in GitHub."
	rulePR            = "All changes go through code review and are merged via pull request."
	ruleStagingFirst  = "Patches are deployed to staging first for testing and validation."
	ruleValidation    = "Automated tests and manual validation are used to verify that the patch does not introduce regressions."
	ruleProdAfter     = "After staging validation, the patch is deployed to production."
	ruleNonProdFirst  = "All patches (application and infrastructure) are tested in a non-production environment before being applied to production."
	ruleTracked       = "All infrastructure changes are managed via Terraform and tracked in a GitHub repository (GitOps)."
	ruleWindow        = "For software that requires downtime, a maintenance window is scheduled and communicated to the team."
	ruleBackup        = "A backup is taken before the upgrade."
	ruleInWindow      = "The upgrade is performed during the maintenance window and validated before resuming normal operations."
	ruleMgmtFirst     = "Node upgrades are first applied to the management cluster."
	ruleSoak          = "The management cluster is monitored for 2 days to ensure stability."
	ruleGroupByGroup  = "After successful validation, node groups in the main cluster are updated group by group."
	ruleControlPlane  = "GKE version upgrades follow the same process: management cluster first, then main cluster in phases (control plane before its node pools)."
	ruleHalted        = "A failed health check halts the rollout; it resumes, retries or aborts only by a person's decision."
	ruleRollback      = "If a major issue is found after deployment, a rollback is performed by redeploying the previous stable version."
	ruleVersionToShip = "The patch names the version it ships, so that the same version is validated and then deployed."
)

func ok(detail string) (bool, string, string)    { return true, "", detail }
func fail(missing string) (bool, string, string) { return false, missing, "" }

var gateHasTrigger = Gate{Name: "has_trigger", Rule: ruleLinked, check: func(f *Facts) (bool, string, string) {
	if len(f.Links) == 0 {
		return fail("link the vulnerability (CVE, GHSA, GO, OSV id), finding or issue URL that triggered the patch")
	}
	refs := make([]string, 0, len(f.Links))
	for _, l := range f.Links {
		refs = append(refs, l.Ref)
	}
	return ok("linked to " + strings.Join(refs, ", "))
}}

var gateNotHalted = Gate{Name: "not_halted", Rule: ruleHalted, check: func(f *Facts) (bool, string, string) {
	if h := f.Patch.Halt; h != nil {
		return fail(fmt.Sprintf("the rollout is halted (%s); a person must resume, retry or abort it", h.Reason))
	}
	return ok("not halted")
}}

var gateDedicatedBranch = Gate{Name: "dedicated_branch", Rule: ruleBranch, check: func(f *Facts) (bool, string, string) {
	key := f.Patch.Key
	for _, e := range f.Evidence {
		if e.Kind == patchctl.EvidenceBranch && patchctl.BranchBelongsTo(e.Ref, key) {
			return ok("branch " + e.Ref)
		}
		if e.Kind == patchctl.EvidencePullRequest && patchctl.BranchBelongsTo(e.Details["branch"], key) {
			return ok("branch " + e.Details["branch"] + " of pull request " + e.Ref)
		}
	}
	return fail(fmt.Sprintf("record the dedicated branch named after the patch (%s) as branch evidence", patchctl.BranchName(key, f.Patch.Title)))
}}

// latestPR returns the latest pull_request evidence of the patch's branch.
func latestPR(f *Facts) (patchctl.Evidence, bool) {
	var best patchctl.Evidence
	found := false
	for _, e := range f.Evidence {
		if e.Kind != patchctl.EvidencePullRequest {
			continue
		}
		if b := e.Details["branch"]; b != "" && !patchctl.BranchBelongsTo(b, f.Patch.Key) {
			continue
		}
		if !found || !e.At.Before(best.At) {
			best, found = e, true
		}
	}
	return best, found
}

var gatePullRequest = Gate{Name: "pull_request_open", Rule: rulePR, check: func(f *Facts) (bool, string, string) {
	pr, found := latestPR(f)
	if !found {
		return fail("open a pull request from the dedicated branch and record it as pull_request evidence")
	}
	if pr.Result == "closed" {
		return fail("pull request " + pr.Ref + " was closed without merge; reopen it or open a new one")
	}
	return ok("pull request " + pr.Ref)
}}

var gateReviewByOther = Gate{Name: "review_by_other", Rule: rulePR, check: func(f *Facts) (bool, string, string) {
	pr, found := latestPR(f)
	if !found {
		return fail("a pull request with its author must be recorded before its reviews count")
	}
	author := pr.Subject
	if author == "" {
		return fail("the author of pull request " + pr.Ref + " is not recorded (pull_request evidence subject)")
	}
	// The latest review of each reviewer counts, as on GitHub.
	latest := map[string]patchctl.Evidence{}
	for _, e := range f.Evidence {
		if e.Kind != patchctl.EvidenceReview || e.Subject == "" {
			continue
		}
		if prev, seen := latest[e.Subject]; !seen || !e.At.Before(prev.At) {
			latest[e.Subject] = e
		}
	}
	var approvers, blockers []string
	for who, e := range latest {
		switch e.Result {
		case patchctl.ResultApproved:
			if !strings.EqualFold(who, author) {
				approvers = append(approvers, who)
			}
		case patchctl.ResultChangesRequested:
			blockers = append(blockers, who)
		}
	}
	sort.Strings(approvers)
	sort.Strings(blockers)
	if len(blockers) > 0 {
		return fail("changes requested by " + strings.Join(blockers, ", ") + " are not resolved")
	}
	if len(approvers) == 0 {
		return fail("an approving review by someone other than the author (" + author + ")")
	}
	return ok("approved by " + strings.Join(approvers, ", ") + "; author " + author)
}}

var gateMerged = Gate{Name: "merged_via_pr", Rule: rulePR, check: func(f *Facts) (bool, string, string) {
	for i := len(f.Evidence) - 1; i >= 0; i-- {
		e := f.Evidence[i]
		if patchctl.IsPatchMerge(e) {
			return ok("merged as " + e.Version)
		}
	}
	return fail("record the merge of the pull request (merge evidence with the merge commit or release as version)")
}}

var gateVersionSet = Gate{Name: "version_set", Rule: ruleVersionToShip, check: func(f *Facts) (bool, string, string) {
	if f.Patch.Version == "" {
		return fail("set the version the patch ships (patchctl patch edit --version)")
	}
	return ok("version " + f.Patch.Version)
}}

var gateChangeTracked = Gate{Name: "change_tracked", Rule: ruleTracked, check: func(f *Facts) (bool, string, string) {
	for _, e := range f.Evidence {
		if e.Kind == patchctl.EvidencePullRequest || e.Kind == patchctl.EvidenceTerraformPlan {
			return ok(string(e.Kind) + " " + e.Ref)
		}
	}
	return fail("record the change in git: a pull_request or terraform_plan evidence")
}}

// preprodEnvs returns the non-production environments of the target, in
// promotion order.
func preprodEnvs(f *Facts) []string {
	var out []string
	for _, e := range f.Config.Environments {
		if !e.Production && targets(f, e.Name) {
			out = append(out, e.Name)
		}
	}
	return out
}

func targets(f *Facts, env string) bool {
	envs := f.Patch.Target.Environments
	return len(envs) == 0 || slices.Contains(envs, env)
}

func versionOrMissing(f *Facts) (string, bool) {
	v := f.Patch.Version
	return v, v != ""
}

// deployedTo finds a successful deployment of version to env at or after since.
func deployedTo(f *Facts, env, version string, since time.Time) (patchctl.Evidence, bool) {
	for i := len(f.Evidence) - 1; i >= 0; i-- {
		e := f.Evidence[i]
		if e.Kind == patchctl.EvidenceDeployment && e.Environment == env && e.Version == version &&
			e.Result != patchctl.ResultFailed && !e.At.Before(since) {
			return e, true
		}
	}
	return patchctl.Evidence{}, false
}

// latestOf returns the latest evidence of kind for env and version.
func latestOf(f *Facts, kind patchctl.EvidenceKind, env, version string, since time.Time, people bool) (patchctl.Evidence, bool) {
	var best patchctl.Evidence
	found := false
	for _, e := range f.Evidence {
		if e.Kind != kind || e.Environment != env || e.Version != version || e.At.Before(since) {
			continue
		}
		if people && strings.HasPrefix(e.Actor, "system:") {
			continue
		}
		if !found || !e.At.Before(best.At) {
			best, found = e, true
		}
	}
	return best, found
}

var gateDeployedPreprod = Gate{Name: "deployed_to_staging", Rule: ruleStagingFirst, check: func(f *Facts) (bool, string, string) {
	v, has := versionOrMissing(f)
	if !has {
		return fail("the patch has no version yet (merged version or --version)")
	}
	var missing, done []string
	for _, env := range preprodEnvs(f) {
		if e, found := deployedTo(f, env, v, time.Time{}); found {
			done = append(done, env+" ("+e.Source+")")
		} else {
			missing = append(missing, env)
		}
	}
	if len(missing) > 0 {
		return fail("a deployment of version " + v + " to " + strings.Join(missing, ", "))
	}
	return ok("version " + v + " deployed to " + strings.Join(done, ", "))
}}

func testsPassed(f *Facts, v string) (bool, string, string) {
	var missing, done []string
	for _, env := range preprodEnvs(f) {
		e, found := latestOf(f, patchctl.EvidenceTestRun, env, v, time.Time{}, false)
		switch {
		case !found:
			missing = append(missing, "passing automated tests of "+v+" on "+env)
		case e.Result != patchctl.ResultPassed:
			missing = append(missing, "the latest automated test run of "+v+" on "+env+" ("+e.Ref+") "+orDash(e.Result)+"; a passing run")
		default:
			done = append(done, env+": "+e.Ref)
		}
	}
	if len(missing) > 0 {
		return fail(strings.Join(missing, "; "))
	}
	return ok("tests passed on " + strings.Join(done, ", "))
}

func orDash(s string) string {
	if s == "" {
		return "has no result"
	}
	return "is " + s
}

func signedOff(f *Facts, v string) (bool, string, string) {
	var missing, done []string
	for _, env := range preprodEnvs(f) {
		e, found := latestOf(f, patchctl.EvidenceSignoff, env, v, time.Time{}, true)
		switch {
		case !found:
			missing = append(missing, "a manual validation sign-off of "+v+" on "+env+" by a person")
		case e.Result == patchctl.ResultFailed:
			missing = append(missing, e.Actor+" rejected "+v+" on "+env+"; a new sign-off")
		default:
			done = append(done, env+" by "+e.Actor)
		}
	}
	if len(missing) > 0 {
		return fail(strings.Join(missing, "; "))
	}
	return ok("signed off on " + strings.Join(done, ", "))
}

var gateTestsPassed = Gate{Name: "automated_tests_passed", Rule: ruleValidation, check: func(f *Facts) (bool, string, string) {
	v, has := versionOrMissing(f)
	if !has {
		return fail("the patch has no version yet")
	}
	return testsPassed(f, v)
}}

var gateSignoff = Gate{Name: "manual_signoff", Rule: ruleValidation, check: func(f *Facts) (bool, string, string) {
	v, has := versionOrMissing(f)
	if !has {
		return fail("the patch has no version yet")
	}
	return signedOff(f, v)
}}

var gateSameVersionValidated = Gate{Name: "same_version_validated", Rule: ruleNonProdFirst, check: func(f *Facts) (bool, string, string) {
	v, has := versionOrMissing(f)
	if !has {
		return fail("the patch has no version yet")
	}
	var missing []string
	for _, env := range preprodEnvs(f) {
		if _, found := deployedTo(f, env, v, time.Time{}); !found {
			missing = append(missing, "a deployment of "+v+" to "+env)
		}
	}
	if okT, m, _ := testsPassed(f, v); !okT {
		missing = append(missing, m)
	}
	if okS, m, _ := signedOff(f, v); !okS {
		missing = append(missing, m)
	}
	if len(missing) > 0 {
		return fail("version " + v + " must pass non-production first: " + strings.Join(missing, "; "))
	}
	return ok("version " + v + " was deployed and validated in " + strings.Join(preprodEnvs(f), ", "))
}}

var gateDeployedProduction = Gate{Name: "deployed_to_production", Rule: ruleProdAfter, check: func(f *Facts) (bool, string, string) {
	v, has := versionOrMissing(f)
	if !has {
		return fail("the patch has no version yet")
	}
	env := f.Config.ProductionEnvironment()
	// Only a deployment after the validation counts: one before it skipped
	// the staging step, whatever its version.
	since := f.EnteredAt[patchctl.StateValidated]
	if e, found := deployedTo(f, env, v, since); found {
		return ok("version " + v + " deployed to " + env + " (" + e.Source + ")")
	}
	if e, found := deployedTo(f, env, v, time.Time{}); found {
		return fail(fmt.Sprintf("a deployment of %s to %s after its validation; the one recorded at %s came before validation (SOP-005: staging first)",
			v, env, e.At.Format(time.RFC3339)))
	}
	for _, e := range f.Evidence {
		if e.Kind == patchctl.EvidenceDeployment && e.Environment == env && e.Version != v && !e.At.Before(since) {
			return fail(fmt.Sprintf("the deployment to %s is version %s, not the validated version %s", env, e.Version, v))
		}
	}
	return fail("a deployment of the validated version " + v + " to " + env)
}}

var gateWindowBooked = Gate{Name: "window_booked", Rule: ruleWindow, check: func(f *Facts) (bool, string, string) {
	w := f.Patch.Window
	if w == nil {
		return fail("book a maintenance window (patchctl window book)")
	}
	if !f.Now.Before(w.End) {
		return fail("the booked window ended at " + w.End.Format(time.RFC3339) + "; book a new one")
	}
	return ok("window " + w.Start.Format(time.RFC3339) + " to " + w.End.Format(time.RFC3339))
}}

var gateAnnounced = Gate{Name: "announced_in_time", Rule: ruleWindow, check: func(f *Facts) (bool, string, string) {
	w := f.Patch.Window
	if w == nil {
		return fail("book a maintenance window first")
	}
	lead := f.Config.AnnounceLeadTime.D()
	deadline := w.Start.Add(-lead)
	booked := bookingRecord(f)
	for _, e := range f.Evidence {
		if e.Kind != patchctl.EvidenceAnnouncement || e.ID < booked || e.At.Before(w.BookedAt) {
			continue
		}
		if e.At.After(deadline) {
			continue
		}
		return ok("announced " + e.At.Format(time.RFC3339) + " (" + e.Ref + ")")
	}
	if f.Now.After(deadline) {
		return fail(fmt.Sprintf("an announcement at least %s before the window, by %s; that time has passed: book a later window",
			config.FormatDuration(lead), deadline.Format(time.RFC3339)))
	}
	return fail(fmt.Sprintf("announce the window to the team at least %s before it starts (by %s)",
		config.FormatDuration(lead), deadline.Format(time.RFC3339)))
}}

// bookingRecord returns the id of the evidence that recorded the current
// booking: announcements and backups must be recorded after it, which holds
// even when they share its timestamp.
func bookingRecord(f *Facts) int64 {
	var id int64
	for _, e := range f.Evidence {
		if e.Kind == patchctl.EvidenceWindowBooking && e.ID > id {
			id = e.ID
		}
	}
	return id
}

var gateBackup = Gate{Name: "backup_taken", Rule: ruleBackup, check: func(f *Facts) (bool, string, string) {
	w := f.Patch.Window
	if w == nil {
		return fail("book a maintenance window first")
	}
	booked := bookingRecord(f)
	for i := len(f.Evidence) - 1; i >= 0; i-- {
		e := f.Evidence[i]
		if e.Kind == patchctl.EvidenceBackup && e.Ref != "" && e.Result != patchctl.ResultFailed &&
			e.ID > booked && !e.At.Before(w.BookedAt) && !e.At.After(f.Now) {
			return ok("backup " + e.Ref + " taken " + e.At.Format(time.RFC3339))
		}
	}
	return fail("backup evidence (its id) taken after the window was booked (" + w.BookedAt.Format(time.RFC3339) + ") and before the upgrade")
}}

var gateInsideWindow = Gate{Name: "inside_window", Rule: ruleInWindow, check: func(f *Facts) (bool, string, string) {
	w := f.Patch.Window
	if w == nil {
		return fail("book a maintenance window first")
	}
	if !w.Range().Contains(f.Now) {
		return fail("the upgrade may start only inside the booked window " + w.Start.Format(time.RFC3339) + " to " + w.End.Format(time.RFC3339))
	}
	return ok("inside the window until " + w.End.Format(time.RFC3339))
}}

var gateUpgradeValidated = Gate{Name: "upgrade_validated", Rule: ruleInWindow, check: func(f *Facts) (bool, string, string) {
	v, has := versionOrMissing(f)
	if !has {
		return fail("the patch has no version yet")
	}
	env := f.Config.ProductionEnvironment()
	since := f.EnteredAt[patchctl.StateUpgrading]
	var missing []string
	if _, found := deployedTo(f, env, v, since); !found {
		missing = append(missing, "a record that "+v+" was applied to "+env+" during the upgrade")
	}
	e, found := latestOf(f, patchctl.EvidenceSignoff, env, v, since, true)
	if !found || e.Result == patchctl.ResultFailed {
		missing = append(missing, "a manual validation sign-off of "+v+" on "+env+" after the upgrade started")
	}
	if len(missing) > 0 {
		return fail(strings.Join(missing, "; "))
	}
	return ok("upgrade applied and signed off by " + e.Actor)
}}

var gatePreviousStable = Gate{Name: "previous_stable_known", Rule: ruleRollback, check: func(f *Facts) (bool, string, string) {
	if len(f.PreviousStable) == 0 {
		return fail("no previous stable version is known for this target; record one (patchctl release record) or name it")
	}
	var parts []string
	for env, v := range f.PreviousStable {
		parts = append(parts, env+"="+v)
	}
	sort.Strings(parts)
	return ok("previous stable " + strings.Join(parts, ", "))
}}
