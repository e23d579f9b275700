package github

import (
	"time"

	"github.com/patchctl/patchctl"
)

// Type is the kind of a normalised event. For the events patchctl acts on
// it equals GitHub's X-GitHub-Event name.
type Type string

// Event types.
const (
	TypePullRequest                  Type = "pull_request"
	TypePullRequestReview            Type = "pull_request_review"
	TypeCheckSuite                   Type = "check_suite"
	TypeCheckRun                     Type = "check_run"
	TypeWorkflowRun                  Type = "workflow_run"
	TypeDeploymentStatus             Type = "deployment_status"
	TypePush                         Type = "push"
	TypeDependabotAlert              Type = "dependabot_alert"
	TypeRepositoryVulnerabilityAlert Type = "repository_vulnerability_alert"
	TypeSecurityAdvisory             Type = "security_advisory"
	// TypePing is the delivery GitHub sends when a hook is created: it only
	// needs acknowledging.
	TypePing Type = "ping"
	// TypeIgnored is any other event: valid, acknowledged, not acted on.
	TypeIgnored Type = "ignored"
)

// Event is one normalised webhook delivery. Exactly the parts that belong
// to its Type are set:
//
//	pull_request                      PullRequest
//	pull_request_review               Review and PullRequest (the PR as it was)
//	check_suite, check_run,
//	workflow_run                      Check
//	deployment_status                 Deployment
//	push                              Push
//	dependabot_alert,
//	repository_vulnerability_alert    Alert
//	security_advisory                 Advisory
//	ping                              Ping
//	ignored                           nothing beyond the common fields
type Event struct {
	// Delivery is the X-GitHub-Delivery id (set by VerifyAndParse).
	Delivery string `json:"delivery,omitempty"`
	// Name is the X-GitHub-Event name as sent; for TypeIgnored it says
	// what was ignored.
	Name   string `json:"name"`
	Type   Type   `json:"type"`
	Action string `json:"action,omitempty"`
	// Repo is the repository's full name (owner/name); empty for events
	// that are not about one repository (a global security_advisory).
	Repo string `json:"repo,omitempty"`
	// Sender is the login of the user who triggered the event.
	Sender         string `json:"sender,omitempty"`
	InstallationID int64  `json:"installation_id,omitempty"`
	// PatchKeys are the patches the event refers to (see PatchKeys): from
	// the head branch, title and body of a pull request, the head branch of
	// a check, the ref of a push or deployment.
	PatchKeys []string `json:"patch_keys,omitempty"`

	PullRequest *PullRequest        `json:"pull_request,omitempty"`
	Review      *Review             `json:"review,omitempty"`
	Check       *Check              `json:"check,omitempty"`
	Deployment  *Deployment         `json:"deployment,omitempty"`
	Push        *Push               `json:"push,omitempty"`
	Alert       *VulnerabilityAlert `json:"alert,omitempty"`
	Advisory    *Advisory           `json:"advisory,omitempty"`
	Ping        *Ping               `json:"ping,omitempty"`
}

// PullRequest actions patchctl reacts to (GitHub sends others, such as
// labeled or assigned; they are passed through in Event.Action).
const (
	ActionOpened           = "opened"
	ActionSynchronize      = "synchronize"
	ActionReopened         = "reopened"
	ActionClosed           = "closed"
	ActionEdited           = "edited"
	ActionReadyForReview   = "ready_for_review"
	ActionConvertedToDraft = "converted_to_draft"
)

// PullRequest is a pull request as a webhook or the REST API shows it.
type PullRequest struct {
	Repo   string `json:"repo"`
	Number int    `json:"number"`
	ID     int64  `json:"id,omitempty"`
	// URL is the pull request's web page (html_url).
	URL   string `json:"url"`
	Title string `json:"title"`
	// Body is nil when the pull request has no description (GitHub sends
	// null), and points to "" when it was cleared.
	Body   *string `json:"body"`
	Author string  `json:"author"`
	// State is open or closed.
	State   string `json:"state"`
	Draft   bool   `json:"draft"`
	HeadRef string `json:"head_ref"`
	HeadSHA string `json:"head_sha"`
	// HeadRepo is the full name of the head repository; it differs from Repo
	// for pull requests from forks.
	HeadRepo string `json:"head_repo,omitempty"`
	BaseRef  string `json:"base_ref"`
	BaseSHA  string `json:"base_sha,omitempty"`
	Merged   bool   `json:"merged"`
	// MergeCommitSHA is the commit the merge produced. It is set only when
	// Merged: GitHub also fills merge_commit_sha for open and for closed,
	// unmerged pull requests (a test merge), which is not a version.
	MergeCommitSHA string   `json:"merge_commit_sha,omitempty"`
	MergedBy       string   `json:"merged_by,omitempty"`
	Labels         []string `json:"labels,omitempty"`
	// Before and After are the old and new head SHAs of a synchronize.
	Before    string     `json:"before,omitempty"`
	After     string     `json:"after,omitempty"`
	CreatedAt time.Time  `json:"created_at,omitzero"`
	UpdatedAt time.Time  `json:"updated_at,omitzero"`
	ClosedAt  *time.Time `json:"closed_at,omitempty"`
	MergedAt  *time.Time `json:"merged_at,omitempty"`
}

// BodyText returns the body, "" when it is null.
func (p *PullRequest) BodyText() string {
	if p.Body == nil {
		return ""
	}
	return *p.Body
}

// Review states, normalised to lowercase (webhooks send lowercase, the REST
// API uppercase). They equal the patchctl.Result* constants of the same
// names.
const (
	ReviewApproved         = "approved"
	ReviewChangesRequested = "changes_requested"
	ReviewCommented        = "commented"
	ReviewDismissed        = "dismissed"
	ReviewPending          = "pending" // REST only: a review not yet submitted
)

// Review is one pull request review.
type Review struct {
	ID       int64  `json:"id"`
	Reviewer string `json:"reviewer"`
	// State is one of the Review* constants; an unknown state is kept
	// lowercased.
	State string `json:"state"`
	// CommitID is the head commit the review was given on; when it differs
	// from HeadSHA the review is about an older revision.
	CommitID string `json:"commit_id"`
	Body     string `json:"body,omitempty"`
	URL      string `json:"url,omitempty"`
	// AuthorAssociation is the reviewer's relation to the repository
	// (OWNER, MEMBER, COLLABORATOR, CONTRIBUTOR, NONE, ...).
	AuthorAssociation string     `json:"author_association,omitempty"`
	SubmittedAt       *time.Time `json:"submitted_at,omitempty"`

	// The pull request reviewed. PRAuthor and HeadSHA are set from webhook
	// deliveries; reviews listed through the REST API carry only PRNumber
	// (use Client.PullRequest for the rest).
	PRNumber int    `json:"pr_number"`
	PRAuthor string `json:"pr_author,omitempty"`
	HeadSHA  string `json:"head_sha,omitempty"`
}

// Check results. A concluded check is patchctl.ResultPassed or
// patchctl.ResultFailed; a check that is still queued or running is
// ResultInProgress.
const ResultInProgress = "in_progress"

// Check is a CI signal about a commit: a check suite, a check run or an
// Actions workflow run (Event.Type says which).
type Check struct {
	// ID is the run id: check suite id, check run id or workflow run id.
	ID int64 `json:"id"`
	// Name is the check run name, the workflow name, or the app name of a
	// check suite.
	Name string `json:"name"`
	// Status and Conclusion are GitHub's values, lowercased.
	Status     string `json:"status"`
	Conclusion string `json:"conclusion,omitempty"`
	// Result is passed, failed or in_progress (see ResultOf).
	Result     string `json:"result"`
	HeadSHA    string `json:"head_sha"`
	HeadBranch string `json:"head_branch,omitempty"`
	// PRNumbers are the pull requests GitHub associates with the check
	// (empty for pushes without a PR and for PRs from forks).
	PRNumbers []int `json:"pr_numbers,omitempty"`
	// URL is the web page of the run when GitHub gives one (check runs,
	// workflow runs), else its API URL (check suites).
	URL          string     `json:"url,omitempty"`
	DetailsURL   string     `json:"details_url,omitempty"`
	CheckSuiteID int64      `json:"check_suite_id,omitempty"`
	App          string     `json:"app,omitempty"`
	Event        string     `json:"event,omitempty"` // workflow run trigger: push, pull_request, ...
	StartedAt    *time.Time `json:"started_at,omitempty"`
	CompletedAt  *time.Time `json:"completed_at,omitempty"`
}

// ResultOf maps a check's status and conclusion to a result. A check is
// concluded when its status (or the delivery's action) is "completed".
// GitHub's own rule for required checks decides pass or fail: success,
// neutral and skipped pass; every other conclusion (failure, cancelled,
// timed_out, action_required, stale, startup_failure, an unknown or missing
// one) fails, so nothing unknown ever counts as passed.
func ResultOf(status, conclusion string) string {
	if status != "completed" {
		return ResultInProgress
	}
	switch conclusion {
	case "success", "neutral", "skipped":
		return patchctl.ResultPassed
	}
	return patchctl.ResultFailed
}

// Deployment is a deployment status update.
type Deployment struct {
	// ID is the deployment id; StatusID the id of this status.
	ID       int64 `json:"id"`
	StatusID int64 `json:"status_id,omitempty"`
	// Environment is the status's environment, else the deployment's.
	Environment string `json:"environment"`
	// State is error, failure, inactive, in_progress, queued, pending or
	// success.
	State          string     `json:"state"`
	SHA            string     `json:"sha"`
	Ref            string     `json:"ref"`
	Task           string     `json:"task,omitempty"`
	Description    string     `json:"description,omitempty"`
	Creator        string     `json:"creator,omitempty"`
	TargetURL      string     `json:"target_url,omitempty"`
	LogURL         string     `json:"log_url,omitempty"`
	EnvironmentURL string     `json:"environment_url,omitempty"`
	CreatedAt      *time.Time `json:"created_at,omitempty"`
}

// Push is a push to a branch or tag.
type Push struct {
	// Ref is the full ref (refs/heads/main); Branch or Tag is its short name.
	Ref     string `json:"ref"`
	Branch  string `json:"branch,omitempty"`
	Tag     string `json:"tag,omitempty"`
	Before  string `json:"before"`
	After   string `json:"after"`
	Created bool   `json:"created"`
	Deleted bool   `json:"deleted"`
	Forced  bool   `json:"forced"`
	// Commits counts the commits listed in the delivery (GitHub lists at
	// most 20).
	Commits     int    `json:"commits"`
	HeadCommit  string `json:"head_commit,omitempty"`
	Pusher      string `json:"pusher"`
	PusherEmail string `json:"pusher_email,omitempty"`
	Compare     string `json:"compare,omitempty"`
}

// Alert actions, normalised across dependabot_alert (created, dismissed,
// fixed, reopened, reintroduced, auto_dismissed, auto_reopened) and
// repository_vulnerability_alert (create, dismiss, resolve, reopen).
const (
	AlertCreated       = "created"
	AlertDismissed     = "dismissed"
	AlertFixed         = "fixed"
	AlertReopened      = "reopened"
	AlertReintroduced  = "reintroduced"
	AlertAutoDismissed = "auto_dismissed"
	AlertAutoReopened  = "auto_reopened"
)

// VulnerabilityAlert is a vulnerable dependency GitHub found in a
// repository: the finding data intake needs.
type VulnerabilityAlert struct {
	Repo   string `json:"repo"`
	Number int    `json:"number,omitempty"`
	// Action is one of the Alert* constants; State is the alert's state
	// (open, dismissed, fixed, auto_dismissed).
	Action string `json:"action"`
	State  string `json:"state"`
	// GHSAID and CVEID are normalised (patchctl.NormalizeVulnID) when
	// valid, kept as sent otherwise. Aliases lists every id, GHSA first.
	GHSAID  string   `json:"ghsa_id,omitempty"`
	CVEID   string   `json:"cve_id,omitempty"`
	Aliases []string `json:"aliases,omitempty"`
	Summary string   `json:"summary,omitempty"`
	// Package and Ecosystem name the dependency (Ecosystem as GitHub spells
	// it: npm, pip, maven, rubygems, go, ...; empty for
	// repository_vulnerability_alert, which does not say).
	Package         string `json:"package"`
	Ecosystem       string `json:"ecosystem,omitempty"`
	VulnerableRange string `json:"vulnerable_range,omitempty"`
	// PatchedVersion is the first patched version, "" when none exists.
	PatchedVersion string `json:"patched_version,omitempty"`
	ManifestPath   string `json:"manifest_path,omitempty"`
	Scope          string `json:"scope,omitempty"`
	// Severity is normalised (patchctl.ParseSeverity: moderate → medium);
	// SeverityRaw is as sent.
	Severity        patchctl.Severity `json:"severity"`
	SeverityRaw     string            `json:"severity_raw,omitempty"`
	CVSS            float64           `json:"cvss,omitempty"`
	CVSSVector      string            `json:"cvss_vector,omitempty"`
	CWEs            []string          `json:"cwes,omitempty"`
	URL             string            `json:"url,omitempty"`
	CreatedAt       *time.Time        `json:"created_at,omitempty"`
	DismissedAt     *time.Time        `json:"dismissed_at,omitempty"`
	DismissedBy     string            `json:"dismissed_by,omitempty"`
	DismissedReason string            `json:"dismissed_reason,omitempty"`
	FixedAt         *time.Time        `json:"fixed_at,omitempty"`
}

// Advisory is a GitHub security advisory (published, updated, withdrawn).
type Advisory struct {
	// Action is published, updated, withdrawn (or performed).
	Action  string   `json:"action"`
	GHSAID  string   `json:"ghsa_id"`
	CVEID   string   `json:"cve_id,omitempty"`
	Aliases []string `json:"aliases,omitempty"`
	// Identifiers are the advisory's identifiers as sent (type and value).
	Identifiers []Identifier      `json:"identifiers,omitempty"`
	Summary     string            `json:"summary,omitempty"`
	Description string            `json:"description,omitempty"`
	Severity    patchctl.Severity `json:"severity"`
	SeverityRaw string            `json:"severity_raw,omitempty"`
	// CVSS and CVSSVector are the CVSS v3 score and vector when given, else
	// v4, else the legacy cvss object. A zero score means none was given.
	CVSS            float64                 `json:"cvss,omitempty"`
	CVSSVector      string                  `json:"cvss_vector,omitempty"`
	CWEs            []string                `json:"cwes,omitempty"`
	References      []string                `json:"references,omitempty"`
	Vulnerabilities []AdvisoryVulnerability `json:"vulnerabilities,omitempty"`
	PublishedAt     *time.Time              `json:"published_at,omitempty"`
	UpdatedAt       *time.Time              `json:"updated_at,omitempty"`
	WithdrawnAt     *time.Time              `json:"withdrawn_at,omitempty"`
}

// Withdrawn reports whether the advisory was withdrawn.
func (a *Advisory) Withdrawn() bool { return a.WithdrawnAt != nil }

// Identifier is one advisory identifier (type GHSA or CVE).
type Identifier struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// AdvisoryVulnerability is one affected package range of an advisory.
type AdvisoryVulnerability struct {
	Package         string            `json:"package"`
	Ecosystem       string            `json:"ecosystem"`
	VulnerableRange string            `json:"vulnerable_range"`
	PatchedVersion  string            `json:"patched_version,omitempty"`
	Severity        patchctl.Severity `json:"severity,omitempty"`
}

// Ping is the hook's ping: acknowledge it.
type Ping struct {
	HookID int64  `json:"hook_id,omitempty"`
	Zen    string `json:"zen,omitempty"`
}
