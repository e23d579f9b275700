package github

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/testutil/corpus"
)

const (
	helloWorld = "Codertocat/Hello-World"
	sha2       = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
	shaMaster  = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
	prBody     = "This is a pretty simple change that we need to pull into master."
)

// codertocatPR is pull request 2 of Codertocat/Hello-World as the octokit
// samples show it; mod adjusts it per sample.
func codertocatPR(mod func(*PullRequest)) *PullRequest {
	pr := &PullRequest{
		Repo: helloWorld, Number: 2, ID: 279147437,
		URL:     "https://github.com/Codertocat/Hello-World/pull/2",
		Title:   "Update the README with new information.",
		Body:    ptr(prBody),
		Author:  "Codertocat",
		State:   "open",
		HeadRef: "changes", HeadSHA: sha2, HeadRepo: helloWorld,
		BaseRef: "master", BaseSHA: shaMaster,
		Labels:    []string{"bug"},
		CreatedAt: *ts("2019-05-15T15:20:33Z"),
		UpdatedAt: *ts("2019-05-15T15:20:33Z"),
	}
	if mod != nil {
		mod(pr)
	}
	return pr
}

// corpusCases lists every github-webhooks corpus payload with the event it
// must normalise to. Delivery is checked separately.
var corpusCases = []struct {
	file string
	want *Event
}{
	{"check_run__completed.payload.json", &Event{Name: "check_run", Type: TypeCheckRun, Action: "completed", Repo: helloWorld, Sender: "Codertocat",
		Check: &Check{ID: 128620228, Name: "Octocoders-linter", Status: "completed", Conclusion: "success", Result: patchctl.ResultPassed,
			HeadSHA: sha2, HeadBranch: "changes", PRNumbers: []int{2}, URL: "https://github.com/Codertocat/Hello-World/runs/128620228",
			DetailsURL: "https://octocoders.io", CheckSuiteID: 118578147, StartedAt: ts("2019-05-15T15:21:12Z"), CompletedAt: ts("2019-05-15T15:21:12Z")}}},
	{"check_run__created.payload.json", &Event{Name: "check_run", Type: TypeCheckRun, Action: "created", Repo: helloWorld, Sender: "Codertocat",
		Check: &Check{ID: 128620228, Name: "Octocoders-linter", Status: "queued", Result: ResultInProgress,
			HeadSHA: sha2, HeadBranch: "changes", PRNumbers: []int{2}, URL: "https://github.com/Codertocat/Hello-World/runs/128620228",
			DetailsURL: "https://octocoders.io", CheckSuiteID: 118578147, StartedAt: ts("2019-05-15T15:21:12Z")}}},
	{"check_run__requested_action.payload.json", &Event{Name: "check_run", Type: TypeCheckRun, Action: "requested_action", Repo: "electron/electron",
		Sender: "codebytere", InstallationID: 690857,
		Check: &Check{ID: 1494503112, Name: "API Review", Status: "in_progress", Result: ResultInProgress,
			HeadSHA: "5bd5f196a46b8222fb7484f05faba41a73cf34bd", HeadBranch: "miniak/event-process-id", PRNumbers: []int{26764},
			URL: "https://github.com/electron/electron/runs/1494503112", DetailsURL: "https://github.com/electron/cation",
			CheckSuiteID: 1604239627, App: "electron-cation", StartedAt: ts("2020-12-03T18:27:27Z")}}},
	{"check_suite__completed.payload.json", &Event{Name: "check_suite", Type: TypeCheckSuite, Action: "completed", Repo: helloWorld, Sender: "Codertocat",
		Check: &Check{ID: 118578147, Name: "octocoders-linter", Status: "completed", Conclusion: "success", Result: patchctl.ResultPassed,
			HeadSHA: sha2, HeadBranch: "changes", PRNumbers: []int{2},
			URL: "https://api.github.com/repos/Codertocat/Hello-World/check-suites/118578147", CheckSuiteID: 118578147,
			StartedAt: ts("2019-05-15T15:20:31Z"), CompletedAt: ts("2019-05-15T15:21:14Z")}}},
	{"check_suite__requested.payload.json", &Event{Name: "check_suite", Type: TypeCheckSuite, Action: "requested", Repo: helloWorld, Sender: "Codertocat",
		InstallationID: 957387,
		Check: &Check{ID: 118578174, Name: "octocoders-linter", Status: "queued", Result: ResultInProgress,
			HeadSHA: shaMaster, HeadBranch: "master",
			URL: "https://api.github.com/repos/Codertocat/Hello-World/check-suites/118578174", CheckSuiteID: 118578174,
			StartedAt: ts("2019-05-15T15:20:33Z")}}},
	{"dependabot_alert__created.payload.json", &Event{Name: "dependabot_alert", Type: TypeDependabotAlert, Action: "created",
		Repo: "wolfy1339/pika-pack", Sender: "github", InstallationID: 13986380,
		Alert: &VulnerabilityAlert{Repo: "wolfy1339/pika-pack", Number: 20, Action: AlertCreated, State: "open",
			GHSAID: "GHSA-c2qf-rxjj-qqgw", CVEID: "CVE-2022-25883", Aliases: []string{"GHSA-c2qf-rxjj-qqgw", "CVE-2022-25883"},
			Summary: "semver vulnerable to Regular Expression Denial of Service",
			Package: "semver", Ecosystem: "npm", VulnerableRange: "< 7.5.2", PatchedVersion: "7.5.2",
			ManifestPath: "package-lock.json", Scope: "runtime",
			Severity: patchctl.SeverityMedium, SeverityRaw: "medium",
			CVSS: 5.3, CVSSVector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L", CWEs: []string{"CWE-1333"},
			URL: "https://github.com/wolfy1339/pika-pack/security/dependabot/20", CreatedAt: ts("2023-06-24T13:57:12Z")}}},
	{"deployment_status__gh-pages.payload.json", &Event{Name: "deployment_status", Type: TypeDeploymentStatus, Action: "created",
		Repo: helloWorld, Sender: "Codertocat", InstallationID: 1,
		Deployment: &Deployment{ID: 145988746, StatusID: 209916254, Environment: "github-pages", State: "in_progress",
			SHA: shaMaster, Ref: "master", Task: "deploy", Creator: "github-pages[bot]",
			TargetURL: "https://github.com/Codertocat/Hello-World/runs/145988746?check_suite_focus=true",
			LogURL:    "https://github.com/CorsixTH/CorsixTH/runs/4687056418?check_suite_focus=true",
			CreatedAt: ts("2022-01-03T01:28:40Z")}}},
	{"deployment_status__payload.json", &Event{Name: "deployment_status", Type: TypeDeploymentStatus, Action: "created",
		Repo: helloWorld, Sender: "Codertocat",
		Deployment: &Deployment{ID: 145988746, StatusID: 209916254, Environment: "production", State: "success",
			SHA: shaMaster, Ref: "master", Task: "deploy", Creator: "Codertocat", CreatedAt: ts("2019-05-15T15:20:55Z")}}},
	{"deployment_status__with-installation.payload.json", &Event{Name: "deployment_status", Type: TypeDeploymentStatus, Action: "created",
		Repo: helloWorld, Sender: "Codertocat", InstallationID: 1,
		Deployment: &Deployment{ID: 145988746, StatusID: 209916254, Environment: "production", State: "success",
			SHA: shaMaster, Ref: "master", Task: "deploy", Creator: "Codertocat", CreatedAt: ts("2019-05-15T15:20:55Z")}}},
	{"pull_request__closed-merged__reallyfastci__webhook-pr-close.json", &Event{Name: "pull_request", Type: TypePullRequest, Action: "closed",
		Repo: "ailisp/gcbapp-buildconfig-example", Sender: "ailisp",
		PullRequest: &PullRequest{Repo: "ailisp/gcbapp-buildconfig-example", Number: 3, ID: 340192383,
			URL: "https://github.com/ailisp/gcbapp-buildconfig-example/pull/3", Title: "Byao1276 patch 1", Body: ptr(""),
			Author: "byao1276", State: "closed",
			HeadRef: "byao1276-patch-1", HeadSHA: "7b5a809ab03679215c55926f7d111156ec98b865", HeadRepo: "byao1276/gcbapp-buildconfig-example",
			BaseRef: "master", BaseSHA: "8357af6fef17bd180014e419f049944cb491238f",
			Merged: true, MergeCommitSHA: "a21683865c088b5fe1906cf6552d15a285a4986d", MergedBy: "ailisp",
			CreatedAt: *ts("2019-11-13T01:28:51Z"), UpdatedAt: *ts("2019-11-26T07:01:13Z"),
			ClosedAt: ts("2019-11-26T07:01:13Z"), MergedAt: ts("2019-11-26T07:01:13Z")}}},
	{"pull_request__closed.payload.json", &Event{Name: "pull_request", Type: TypePullRequest, Action: "closed",
		Repo: helloWorld, Sender: "Codertocat", InstallationID: 1,
		// Closed without merge: merge_commit_sha is in the payload but is
		// not a version, so it is left out.
		PullRequest: codertocatPR(func(p *PullRequest) {
			p.State = "closed"
			p.UpdatedAt = *ts("2019-05-15T15:21:18Z")
			p.ClosedAt = ts("2019-05-15T15:21:18Z")
		})}},
	{"pull_request__opened.payload.json", &Event{Name: "pull_request", Type: TypePullRequest, Action: "opened",
		Repo: helloWorld, Sender: "Codertocat", InstallationID: 1, PullRequest: codertocatPR(nil)}},
	{"pull_request__opened.with-null-body.json", &Event{Name: "pull_request", Type: TypePullRequest, Action: "opened",
		Repo: helloWorld, Sender: "Codertocat", InstallationID: 1, PullRequest: codertocatPR(func(p *PullRequest) { p.Body = nil })}},
	{"pull_request__reopened.payload.json", &Event{Name: "pull_request", Type: TypePullRequest, Action: "reopened",
		Repo: helloWorld, Sender: "Codertocat", InstallationID: 1, PullRequest: codertocatPR(nil)}},
	{"pull_request__synchronize.payload.json", &Event{Name: "pull_request", Type: TypePullRequest, Action: "synchronize",
		Repo: helloWorld, Sender: "Codertocat", InstallationID: 1,
		PullRequest: codertocatPR(func(p *PullRequest) { p.Before, p.After = shaMaster, sha2 })}},
	{"pull_request_review__dismissed.payload.json", &Event{Name: "pull_request_review", Type: TypePullRequestReview, Action: "dismissed",
		Repo: helloWorld, Sender: "Codertocat", InstallationID: 1,
		// The sample's pull request is stitched together: number 2 of
		// Hello-World, but id and html_url of hellomouse/GNS#902.
		PullRequest: codertocatPR(func(p *PullRequest) {
			p.ID = 370123640
			p.URL = "https://github.com/hellomouse/GNS/pull/902"
			p.Body = ptr("")
			p.UpdatedAt = *ts("2019-05-15T15:20:38Z")
		}),
		Review: &Review{ID: 237895671, Reviewer: "Codertocat", State: ReviewDismissed, CommitID: sha2,
			URL: "https://github.com/Codertocat/Hello-World/pull/2#pullrequestreview-237895671", AuthorAssociation: "OWNER",
			SubmittedAt: ts("2019-05-15T15:20:38Z"), PRNumber: 2, PRAuthor: "Codertocat", HeadSHA: sha2}}},
	{"pull_request_review__submitted.payload.json", &Event{Name: "pull_request_review", Type: TypePullRequestReview, Action: "submitted",
		Repo: helloWorld, Sender: "Codertocat", InstallationID: 1,
		PullRequest: codertocatPR(func(p *PullRequest) { p.UpdatedAt = *ts("2019-05-15T15:20:38Z") }),
		Review: &Review{ID: 237895671, Reviewer: "Codertocat", State: ReviewCommented, CommitID: sha2,
			URL: "https://github.com/Codertocat/Hello-World/pull/2#pullrequestreview-237895671", AuthorAssociation: "OWNER",
			SubmittedAt: ts("2019-05-15T15:20:38Z"), PRNumber: 2, PRAuthor: "Codertocat", HeadSHA: sha2}}},
	{"push__payload.json", &Event{Name: "push", Type: TypePush, Repo: helloWorld, Sender: "Codertocat",
		Push: &Push{Ref: "refs/tags/simple-tag", Tag: "simple-tag", Before: "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
			After: "0000000000000000000000000000000000000000", Deleted: true, Pusher: "Codertocat",
			PusherEmail: "21031067+Codertocat@users.noreply.github.com",
			Compare:     "https://github.com/Codertocat/Hello-World/compare/6113728f27ae...000000000000"}}},
	{"push__with-new-branch.payload.json", &Event{Name: "push", Type: TypePush, Repo: helloWorld, Sender: "Codertocat", InstallationID: 1,
		Push: &Push{Ref: "refs/heads/master", Branch: "master", Before: "0000000000000000000000000000000000000000",
			After: "6113728f27ae82c7b1a177c8d03f9e96e0adf246", Created: true, Commits: 1,
			HeadCommit: "6113728f27ae82c7b1a177c8d03f9e96e0adf246", Pusher: "Codertocat",
			PusherEmail: "21031067+Codertocat@users.noreply.github.com",
			Compare:     "https://github.com/Codertocat/Hello-World/commit/6113728f27ae82c7b1a177c8d03f9e96e0adf246"}}},
	{"repository_vulnerability_alert__create.payload.json", &Event{Name: "repository_vulnerability_alert", Type: TypeRepositoryVulnerabilityAlert,
		Action: "create", Repo: helloWorld, Sender: "github",
		Alert: &VulnerabilityAlert{Repo: helloWorld, Number: 2, Action: AlertCreated, State: "open",
			GHSAID: "GHSA-qqgx-2p2h-9c37", CVEID: "CVE-2018-16470", Aliases: []string{"GHSA-qqgx-2p2h-9c37", "CVE-2018-16470"},
			Package: "rack", VulnerableRange: ">= 2.0.4, < 2.0.6", PatchedVersion: "2.0.6",
			Severity: patchctl.SeverityMedium, SeverityRaw: "moderate",
			URL: "https://nvd.nist.gov/vuln/detail/CVE-2018-16470", CreatedAt: ts("2021-03-01T01:23:45Z")}}},
	{"repository_vulnerability_alert__create.with-organization.payload.json", &Event{Name: "repository_vulnerability_alert",
		Type: TypeRepositoryVulnerabilityAlert, Action: "create", Repo: helloWorld, Sender: "github",
		Alert: &VulnerabilityAlert{Repo: helloWorld, Number: 2, Action: AlertCreated, State: "open",
			GHSAID: "GHSA-qqgx-2p2h-9c37", CVEID: "CVE-2018-16470", Aliases: []string{"GHSA-qqgx-2p2h-9c37", "CVE-2018-16470"},
			Package: "rack", VulnerableRange: ">= 2.0.4, < 2.0.6", PatchedVersion: "2.0.6",
			Severity: patchctl.SeverityMedium, SeverityRaw: "moderate",
			URL: "https://nvd.nist.gov/vuln/detail/CVE-2018-16470", CreatedAt: ts("2018-11-01T00:00:00Z")}}},
	{"repository_vulnerability_alert__dismiss.payload.json", &Event{Name: "repository_vulnerability_alert",
		Type: TypeRepositoryVulnerabilityAlert, Action: "dismiss", Repo: helloWorld, Sender: "github",
		Alert: &VulnerabilityAlert{Repo: helloWorld, Number: 2, Action: AlertDismissed, State: "dismissed",
			GHSAID: "GHSA-qqgx-2p2h-9c37", CVEID: "CVE-2018-3728", Aliases: []string{"GHSA-qqgx-2p2h-9c37", "CVE-2018-3728"},
			Package: "many_versioned_gem", VulnerableRange: "0.2.0", PatchedVersion: "0.2.5",
			Severity: patchctl.SeverityMedium, SeverityRaw: "moderate",
			URL:       "https://nvd.nist.gov/vuln/detail/CVE-2018-3728",
			CreatedAt: ts("2017-10-25T00:00:00Z"), DismissedAt: ts("2017-10-25T00:00:00Z"),
			DismissedBy: "octocat", DismissedReason: "No bandwidth to fix this"}}},
	{"security_advisory__published.payload.json", &Event{Name: "security_advisory", Type: TypeSecurityAdvisory, Action: "published",
		Advisory: &Advisory{Action: "published", GHSAID: "GHSA-rf4j-j272-fj86",
			// cve_id is null in this sample; the CVE comes from identifiers.
			CVEID: "CVE-2018-6188", Aliases: []string{"GHSA-rf4j-j272-fj86", "CVE-2018-6188"},
			Identifiers: []Identifier{{"GHSA", "GHSA-rf4j-j272-fj86"}, {"CVE", "CVE-2018-6188"}},
			Summary:     "Moderate severity vulnerability that affects django",
			Severity:    patchctl.SeverityMedium, SeverityRaw: "moderate", CVSS: 7.9, CWEs: []string{"CWE-0000"},
			References: []string{"https://nvd.nist.gov/vuln/detail/CVE-2018-6188"},
			Vulnerabilities: []AdvisoryVulnerability{
				{Package: "django", Ecosystem: "pip", VulnerableRange: ">= 2.0.0, < 2.0.2", PatchedVersion: "2.0.2", Severity: patchctl.SeverityMedium},
				{Package: "django", Ecosystem: "pip", VulnerableRange: ">= 1.11.8, < 1.11.10", PatchedVersion: "1.11.10", Severity: patchctl.SeverityMedium},
			},
			PublishedAt: ts("2018-10-03T21:13:54Z"), UpdatedAt: ts("2018-10-03T21:13:54Z")}}},
	{"security_advisory__updated.payload.json", &Event{Name: "security_advisory", Type: TypeSecurityAdvisory, Action: "updated",
		Advisory: &Advisory{Action: "updated", GHSAID: "GHSA-6fmm-47qc-p4m4", CVEID: "CVE-2019-5438",
			Aliases:     []string{"GHSA-6fmm-47qc-p4m4", "CVE-2019-5438"},
			Identifiers: []Identifier{{"GHSA", "GHSA-6fmm-47qc-p4m4"}, {"CVE", "CVE-2019-5438"}},
			Summary:     "Unauthorized File Access in harp",
			Severity:    patchctl.SeverityMedium, SeverityRaw: "moderate", CVSS: 7.9, CWEs: []string{"CWE-0000"},
			References: []string{"https://nvd.nist.gov/vuln/detail/CVE-2019-5438", "https://github.com/advisories/GHSA-6fmm-47qc-p4m4"},
			// No fix exists: first_patched_version is null.
			Vulnerabilities: []AdvisoryVulnerability{{Package: "harp", Ecosystem: "npm", VulnerableRange: "<= 0.29.0", Severity: patchctl.SeverityMedium}},
			PublishedAt:     ts("2019-06-13T16:12:26Z"), UpdatedAt: ts("2021-01-08T21:27:28Z")}}},
	{"security_advisory__withdrawn.payload.json", &Event{Name: "security_advisory", Type: TypeSecurityAdvisory, Action: "withdrawn",
		Advisory: &Advisory{Action: "withdrawn", GHSAID: "GHSA-8v27-2fg9-7h62", CVEID: "CVE-2021-23334",
			Aliases:     []string{"GHSA-8v27-2fg9-7h62", "CVE-2021-23334"},
			Identifiers: []Identifier{{"GHSA", "GHSA-8v27-2fg9-7h62"}, {"CVE", "CVE-2021-23334"}},
			Summary:     "Withdrawn: Arbitrary Code Execution in static-eval",
			Severity:    patchctl.SeverityCritical, SeverityRaw: "critical",
			CVSS: 9.8, CVSSVector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", CWEs: []string{"CWE-94"},
			References:      []string{"https://nvd.nist.gov/vuln/detail/CVE-2021-23334", "https://github.com/advisories/GHSA-8v27-2fg9-7h62"},
			Vulnerabilities: []AdvisoryVulnerability{{Package: "static-eval", Ecosystem: "npm", VulnerableRange: "<= 2.1.0", Severity: patchctl.SeverityCritical}},
			PublishedAt:     ts("2021-05-06T16:11:25Z"), UpdatedAt: ts("2021-05-06T16:13:08Z"), WithdrawnAt: ts("2021-05-06T16:13:08Z")}}},
	{"workflow_run__completed.payload.json", &Event{Name: "workflow_run", Type: TypeWorkflowRun, Action: "completed",
		Repo: "octo-org/octo-repo", Sender: "Codertocat",
		// workflow_run.name is "" in the sample: the name is the workflow's.
		Check: &Check{ID: 289782451, Name: "test", Status: "completed", Conclusion: "success", Result: patchctl.ResultPassed,
			HeadSHA: "3484a3fb816e0859fd6e1cea078d76385ff50625", HeadBranch: "master",
			URL: "https://github.com/octo-org/octo-repo/actions/runs/289782451", CheckSuiteID: 1291536064, Event: "repository_dispatch",
			StartedAt: ts("2020-10-05T16:33:49Z"), CompletedAt: ts("2020-10-05T16:33:49Z")}}},
	{"workflow_run__requested.payload.json", &Event{Name: "workflow_run", Type: TypeWorkflowRun, Action: "requested",
		Repo: "octo-org/octo-repo", Sender: "Codertocat",
		Check: &Check{ID: 289782451, Name: "test", Status: "queued", Result: ResultInProgress,
			HeadSHA: "3484a3fb816e0859fd6e1cea078d76385ff50625", HeadBranch: "master",
			URL: "https://github.com/octo-org/octo-repo/actions/runs/289782451", CheckSuiteID: 1291536064, Event: "repository_dispatch",
			StartedAt: ts("2020-10-05T16:33:49Z")}}},
}

// ignoreLong leaves out the advisory's long description, checked apart.
var ignoreLong = cmpopts.IgnoreFields(Advisory{}, "Description")

// TestCorpusDeliveries signs every corpus payload with a real HMAC, sends it
// through VerifyAndParse and compares the normalised event.
func TestCorpusDeliveries(t *testing.T) {
	files := corpus.Glob(t, "github-webhooks/*.json")
	seen := map[string]bool{}
	for _, c := range corpusCases {
		seen[c.file] = true
		t.Run(c.file, func(t *testing.T) {
			body := readCorpus(t, c.file)
			delivery := deliveryFor(c.file)
			h := signedHeader(testSecret, eventOf(c.file), delivery, body)
			ev, err := VerifyAndParse(testSecret, h, body)
			if err != nil {
				t.Fatalf("VerifyAndParse: %v", err)
			}
			if ev.Delivery != delivery {
				t.Errorf("Delivery = %q, want %q", ev.Delivery, delivery)
			}
			want := *c.want
			want.Delivery = delivery
			if diff := cmp.Diff(&want, ev, ignoreLong); diff != "" {
				t.Errorf("event (-want +got):\n%s", diff)
			}
			if ev.Advisory != nil && len(ev.Advisory.Description) < 100 {
				t.Errorf("advisory description = %q, want the full text", ev.Advisory.Description)
			}

			// The same body with one byte changed must be refused.
			tampered := append([]byte(nil), body...)
			tampered[len(tampered)/2] ^= 0x01
			if _, err := VerifyAndParse(testSecret, h, tampered); !errors.Is(err, ErrSignatureMismatch) {
				t.Errorf("tampered body: err = %v, want ErrSignatureMismatch", err)
			}
		})
	}
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("corpus file %s has no case in corpusCases", filepath.Base(f))
		}
	}
}

// TestMergedDeliveryCapturedHeaders replays the one real merged delivery
// with the headers captured with it.
func TestMergedDeliveryCapturedHeaders(t *testing.T) {
	const base = "pull_request__closed-merged__reallyfastci__webhook-pr-close"
	body := readCorpus(t, base+".json")
	h := readHeaderFile(t, corpus.Path(t, "github-webhooks/"+base+"-header.txt"))

	d, err := ParseDelivery(h)
	if err != nil {
		t.Fatalf("ParseDelivery(captured headers): %v", err)
	}
	if want := (Delivery{ID: "884a8280-101a-11ea-9c80-7ce4e70c2e4e", Event: "pull_request"}); d != want {
		t.Errorf("delivery = %+v, want %+v", d, want)
	}
	if got := h.Get("User-Agent"); !strings.HasPrefix(got, "GitHub-Hookshot/") {
		t.Errorf("User-Agent = %q, want GitHub-Hookshot/...", got)
	}

	// The corpus file is the delivery re-indented: GitHub sent compact JSON
	// of exactly Content-Length bytes. A signature over the wire bytes
	// would therefore not verify against the file, whichever secret.
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		t.Fatal(err)
	}
	if cl := h.Get("Content-Length"); cl != strconv.Itoa(compact.Len()) || len(body) == compact.Len() {
		t.Errorf("Content-Length %s, file %d bytes, compacted %d bytes", cl, len(body), compact.Len())
	}

	// The hook that captured it had no secret: no signature header at all.
	// As captured, the delivery must be refused.
	if _, err := VerifyAndParse(testSecret, h, body); !errors.Is(err, ErrNoSignature) || patchctl.ErrorCode(err) != patchctl.CodeUnauthorized {
		t.Fatalf("unsigned captured delivery: err = %v, want unauthorized ErrNoSignature", err)
	}

	// Signed as GitHub would sign it with a secret, it goes through.
	h.Set(HeaderSignature256, Sign(testSecret, body))
	ev, err := VerifyAndParse(testSecret, h, body)
	if err != nil {
		t.Fatalf("VerifyAndParse: %v", err)
	}
	if ev.Delivery != d.ID || ev.Type != TypePullRequest || ev.Action != ActionClosed {
		t.Errorf("event = %s %s %s", ev.Delivery, ev.Type, ev.Action)
	}
	pr := ev.PullRequest
	if !pr.Merged || pr.MergeCommitSHA != "a21683865c088b5fe1906cf6552d15a285a4986d" || pr.MergedBy != "ailisp" {
		t.Errorf("merge = %v %q %q", pr.Merged, pr.MergeCommitSHA, pr.MergedBy)
	}
}

// TestApprovedReview builds the approved review the corpus lacks from the
// submitted sample, in memory.
func TestApprovedReview(t *testing.T) {
	for _, tc := range []struct {
		state, reviewer string
		wantState       string
	}{
		{"approved", "octo-reviewer", ReviewApproved},
		{"APPROVED", "octo-reviewer", ReviewApproved},
		{"changes_requested", "octo-reviewer", ReviewChangesRequested},
		{"approved", "", ReviewApproved}, // reviewer left as in the sample (the PR author)
	} {
		t.Run(tc.state+"/"+tc.reviewer, func(t *testing.T) {
			var doc map[string]any
			if err := json.Unmarshal(readCorpus(t, "pull_request_review__submitted.payload.json"), &doc); err != nil {
				t.Fatal(err)
			}
			review := doc["review"].(map[string]any)
			review["state"] = tc.state
			if tc.reviewer != "" {
				review["user"].(map[string]any)["login"] = tc.reviewer
			}
			body, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := VerifyAndParse(testSecret, signedHeader(testSecret, "pull_request_review", deliveryFor(tc.state), body), body)
			if err != nil {
				t.Fatal(err)
			}
			r := ev.Review
			wantReviewer := tc.reviewer
			if wantReviewer == "" {
				wantReviewer = "Codertocat"
			}
			want := &Review{ID: 237895671, Reviewer: wantReviewer, State: tc.wantState, CommitID: sha2,
				URL: "https://github.com/Codertocat/Hello-World/pull/2#pullrequestreview-237895671", AuthorAssociation: "OWNER",
				SubmittedAt: ts("2019-05-15T15:20:38Z"), PRNumber: 2, PRAuthor: "Codertocat", HeadSHA: sha2}
			if diff := cmp.Diff(want, r); diff != "" {
				t.Errorf("review (-want +got):\n%s", diff)
			}
			if r.State != patchctl.ResultApproved && tc.wantState == ReviewApproved {
				t.Errorf("state %q is not patchctl.ResultApproved", r.State)
			}
		})
	}
}

func TestVerifyRefuses(t *testing.T) {
	body := []byte(`{"zen":"Keep it logically awesome.","hook_id":1}`)
	good := Sign(testSecret, body)
	sha1Header := "sha1=" + strings.Repeat("ab", 20)
	tests := []struct {
		name    string
		secret  []byte
		headers map[string][]string
		want    error
	}{
		{"empty secret", nil, map[string][]string{HeaderSignature256: {good}}, ErrNoSecret},
		{"empty secret with empty-key signature", []byte{}, map[string][]string{HeaderSignature256: {Sign(nil, body)}}, ErrNoSecret},
		{"no signature", testSecret, nil, ErrNoSignature},
		{"sha1 only", testSecret, map[string][]string{HeaderSignatureSHA1: {sha1Header}}, ErrSHA1Only},
		{"empty value", testSecret, map[string][]string{HeaderSignature256: {""}}, ErrMalformedSignature},
		{"no prefix", testSecret, map[string][]string{HeaderSignature256: {strings.TrimPrefix(good, "sha256=")}}, ErrMalformedSignature},
		{"sha1 prefix in sha256 header", testSecret, map[string][]string{HeaderSignature256: {"sha1=" + good[7:]}}, ErrMalformedSignature},
		{"sha512", testSecret, map[string][]string{HeaderSignature256: {"sha512=" + good[7:] + good[7:]}}, ErrMalformedSignature},
		{"short", testSecret, map[string][]string{HeaderSignature256: {good[:len(good)-2]}}, ErrMalformedSignature},
		{"not hex", testSecret, map[string][]string{HeaderSignature256: {good[:len(good)-2] + "zz"}}, ErrMalformedSignature},
		{"two headers", testSecret, map[string][]string{HeaderSignature256: {good, good}}, ErrMalformedSignature},
		{"wrong secret", []byte("another secret"), map[string][]string{HeaderSignature256: {good}}, ErrSignatureMismatch},
		{"other body's signature", testSecret, map[string][]string{HeaderSignature256: {Sign(testSecret, []byte("{}"))}}, ErrSignatureMismatch},
		{"valid sha1 next to a wrong sha256", testSecret, map[string][]string{
			HeaderSignature256: {Sign([]byte("x"), body)}, HeaderSignatureSHA1: {sha1Header}}, ErrSignatureMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, vs := range tc.headers {
				for _, v := range vs {
					h.Add(k, v)
				}
			}
			err := Verify(tc.secret, h, body)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if c := patchctl.ErrorCode(err); c != patchctl.CodeUnauthorized {
				t.Errorf("code = %q, want unauthorized", c)
			}
			if msg := patchctl.ErrorMessage(err); msg == "" || strings.Contains(msg, string(testSecret)) {
				t.Errorf("message %q is empty or leaks the secret", msg)
			}
		})
	}

	t.Run("good", func(t *testing.T) {
		h := http.Header{}
		h.Set(HeaderSignature256, good)
		if err := Verify(testSecret, h, body); err != nil {
			t.Fatal(err)
		}
		// Upper-case hex digits and prefix are the same signature.
		h.Set(HeaderSignature256, "SHA256="+strings.ToUpper(good[7:]))
		if err := Verify(testSecret, h, body); err != nil {
			t.Fatalf("upper case: %v", err)
		}
	})
}

func TestParseDelivery(t *testing.T) {
	tests := []struct {
		name          string
		delivery, evt string
		wantField     string
	}{
		{"ok", "72d3162e-cc78-11e3-81ab-4c9367dc0958", "pull_request", ""},
		{"no delivery", "", "pull_request", HeaderDelivery},
		{"no event", "72d3162e-cc78-11e3-81ab-4c9367dc0958", "", HeaderEvent},
		{"delivery with space", "72d3162e cc78", "push", HeaderDelivery},
		{"delivery too long", strings.Repeat("a", 129), "push", HeaderDelivery},
		{"event upper case", "1", "Pull_Request", HeaderEvent},
		{"event with slash", "1", "../push", HeaderEvent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.delivery != "" {
				h.Set(HeaderDelivery, tc.delivery)
			}
			if tc.evt != "" {
				h.Set(HeaderEvent, tc.evt)
			}
			d, err := ParseDelivery(h)
			if tc.wantField == "" {
				if err != nil || d.ID != tc.delivery || d.Event != tc.evt {
					t.Fatalf("got %+v, %v", d, err)
				}
				return
			}
			var pe *patchctl.Error
			if !errors.As(err, &pe) || pe.Code != patchctl.CodeInvalid || pe.Field != tc.wantField {
				t.Fatalf("err = %#v, want invalid on %s", err, tc.wantField)
			}
		})
	}
}

// TestVerifyAndParseOrder: a bad signature is refused before the headers
// or the body are looked at, and a good one with bad headers is a 400.
func TestVerifyAndParseOrder(t *testing.T) {
	body := []byte(`not json`)
	h := http.Header{}
	if _, err := VerifyAndParse(testSecret, h, body); patchctl.ErrorCode(err) != patchctl.CodeUnauthorized {
		t.Errorf("unsigned: code %q, want unauthorized", patchctl.ErrorCode(err))
	}
	h.Set(HeaderSignature256, Sign(testSecret, body))
	if _, err := VerifyAndParse(testSecret, h, body); patchctl.ErrorCode(err) != patchctl.CodeInvalid {
		t.Errorf("signed without event header: code %q, want invalid", patchctl.ErrorCode(err))
	}
	h.Set(HeaderEvent, "push")
	h.Set(HeaderDelivery, "d1")
	_, err := VerifyAndParse(testSecret, h, body)
	if patchctl.ErrorCode(err) != patchctl.CodeInvalid || !strings.Contains(patchctl.ErrorMessage(err), "byte offset 2 (line 1, column 3)") {
		t.Errorf("signed bad JSON: %v", err)
	}
}

func TestFormEncodedDelivery(t *testing.T) {
	payload := readCorpus(t, "pull_request__opened.payload.json")
	body := []byte(url.Values{"payload": {string(payload)}}.Encode())
	h := signedHeader(testSecret, "pull_request", "form-1", body)
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	ev, err := VerifyAndParse(testSecret, h, body)
	if err != nil {
		t.Fatal(err)
	}
	if ev.PullRequest.Number != 2 || ev.Delivery != "form-1" {
		t.Errorf("got %+v", ev.PullRequest)
	}
	// The signature covers the form body, not the JSON inside it.
	h.Set(HeaderSignature256, Sign(testSecret, payload))
	if _, err := VerifyAndParse(testSecret, h, body); !errors.Is(err, ErrSignatureMismatch) {
		t.Errorf("signature of inner JSON: err = %v", err)
	}
}

func TestReadRequest(t *testing.T) {
	body := readCorpus(t, "push__with-new-branch.payload.json")
	req, err := http.NewRequest(http.MethodPost, "http://patchctl.test/hooks/github", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = signedHeader(testSecret, "push", "r-1", body)
	ev, err := ReadRequest(req, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Push == nil || ev.Push.Branch != "master" {
		t.Fatalf("push = %+v", ev.Push)
	}

	big, err := http.NewRequest(http.MethodPost, "http://patchctl.test/hooks/github", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	big.ContentLength = MaxPayloadBytes + 1
	if _, err := ReadRequest(big, testSecret); patchctl.ErrorCode(err) != patchctl.CodeTooLarge {
		t.Errorf("declared too large: %v", err)
	}
	// A body longer than the limit without a declared length.
	huge, err := http.NewRequest(http.MethodPost, "http://patchctl.test/hooks/github", &zeroReader{n: MaxPayloadBytes + 10})
	if err != nil {
		t.Fatal(err)
	}
	huge.ContentLength = -1
	if _, err := ReadRequest(huge, testSecret); patchctl.ErrorCode(err) != patchctl.CodeTooLarge {
		t.Errorf("streamed too large: %v", err)
	}
}

type zeroReader struct{ n int }

func (z *zeroReader) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	if len(p) > z.n {
		p = p[:z.n]
	}
	clear(p)
	z.n -= len(p)
	return len(p), nil
}
