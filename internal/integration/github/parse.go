package github

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	gh "github.com/google/go-github/v93/github"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/textutil"
)

// known lists the events parsed into typed parts; every other event name
// is TypeIgnored.
var known = map[string]Type{
	string(TypePullRequest):                  TypePullRequest,
	string(TypePullRequestReview):            TypePullRequestReview,
	string(TypeCheckSuite):                   TypeCheckSuite,
	string(TypeCheckRun):                     TypeCheckRun,
	string(TypeWorkflowRun):                  TypeWorkflowRun,
	string(TypeDeploymentStatus):             TypeDeploymentStatus,
	string(TypePush):                         TypePush,
	string(TypeDependabotAlert):              TypeDependabotAlert,
	string(TypeRepositoryVulnerabilityAlert): TypeRepositoryVulnerabilityAlert,
	string(TypeSecurityAdvisory):             TypeSecurityAdvisory,
	string(TypePing):                         TypePing,
}

// ParseEvent parses the payload of an event named name (the X-GitHub-Event
// header) with go-github's typed events and normalises it. It does not
// verify anything: call Verify first, or use VerifyAndParse.
//
// Events patchctl does not act on come back as TypeIgnored (their JSON is
// still checked). Malformed JSON, a payload of the wrong shape and a
// payload missing the object its event is about are patchctl.CodeInvalid
// errors naming the byte offset and line, or the JSON path.
func ParseEvent(name string, body []byte) (*Event, error) {
	if !validEventName(name) || name == "" {
		return nil, patchctl.FieldError(HeaderEvent, "%q is not an event name", textutil.Clip(name, 64))
	}
	typ, ok := known[name]
	if !ok {
		return parseIgnored(name, body)
	}
	raw, err := gh.ParseWebHook(name, body)
	if err != nil {
		return nil, jsonError(name, body, err)
	}
	ev := &Event{Name: name, Type: typ}
	switch p := raw.(type) {
	case *gh.PullRequestEvent:
		err = ev.fromPullRequest(p)
	case *gh.PullRequestReviewEvent:
		err = ev.fromReview(p)
	case *gh.CheckSuiteEvent:
		err = ev.fromCheckSuite(p)
	case *gh.CheckRunEvent:
		err = ev.fromCheckRun(p)
	case *gh.WorkflowRunEvent:
		err = ev.fromWorkflowRun(p)
	case *gh.DeploymentStatusEvent:
		err = ev.fromDeploymentStatus(p)
	case *gh.PushEvent:
		err = ev.fromPush(p)
	case *gh.DependabotAlertEvent:
		err = ev.fromDependabotAlert(p)
	case *gh.RepositoryVulnerabilityAlertEvent:
		err = ev.fromRepositoryVulnerabilityAlert(p, body)
	case *gh.SecurityAdvisoryEvent:
		err = ev.fromSecurityAdvisory(p)
	case *gh.PingEvent:
		ev.Ping = &Ping{HookID: p.GetHookID(), Zen: p.GetZen()}
		ev.Repo = p.GetRepo().GetFullName()
		ev.Sender = p.GetSender().GetLogin()
	case nil:
		// go-github decodes a JSON null into a nil event without an error.
		return nil, invalidf("%s payload is null, want a JSON object", name)
	default:
		return nil, &patchctl.Error{Code: patchctl.CodeInternal, Message: "unexpected event type",
			Err: fmt.Errorf("go-github returned %T for %s", raw, name)}
	}
	if err != nil {
		return nil, err
	}
	return ev, nil
}

// ignoredPayload is what is read of an event patchctl does not act on: enough
// to log it, and a full pass over the JSON to reject malformed bodies.
type ignoredPayload struct {
	Action     string `json:"action"`
	Repository *struct {
		FullName string `json:"full_name"`
	} `json:"repository"`
	Sender *struct {
		Login string `json:"login"`
	} `json:"sender"`
	Installation *struct {
		ID int64 `json:"id"`
	} `json:"installation"`
}

func parseIgnored(name string, body []byte) (*Event, error) {
	if bytes.Equal(bytes.TrimSpace(body), []byte("null")) {
		return nil, invalidf("%s payload is null, want a JSON object", name)
	}
	var p ignoredPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, jsonError(name, body, err)
	}
	ev := &Event{Name: name, Type: TypeIgnored, Action: p.Action}
	if p.Repository != nil {
		ev.Repo = p.Repository.FullName
	}
	if p.Sender != nil {
		ev.Sender = p.Sender.Login
	}
	if p.Installation != nil {
		ev.InstallationID = p.Installation.ID
	}
	return ev, nil
}

// jsonError turns a decoding error into a CodeInvalid error that names
// where the input went wrong.
func jsonError(name string, body []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := lineCol(body, syn.Offset)
		return &patchctl.Error{Code: patchctl.CodeInvalid, Err: err, Message: fmt.Sprintf(
			"%s payload is not valid JSON at byte offset %d (line %d, column %d)", name, syn.Offset, line, col)}
	case errors.As(err, &typ):
		line, col := lineCol(body, typ.Offset)
		where := typ.Field
		if where == "" {
			where = "the top level"
		}
		return &patchctl.Error{Code: patchctl.CodeInvalid, Field: typ.Field, Err: err, Message: fmt.Sprintf(
			"%s payload has a JSON %s where %s is expected, at %s (byte offset %d, line %d, column %d)",
			name, typ.Value, typeName(typ), where, typ.Offset, line, col)}
	}
	// Values a field's own decoder refuses (go-github timestamps) carry no
	// position in encoding/json.
	return &patchctl.Error{Code: patchctl.CodeInvalid, Err: err, Message: fmt.Sprintf(
		"%s payload has an invalid value: %s", name, textutil.Clip(err.Error(), 200))}
}

func typeName(e *json.UnmarshalTypeError) string {
	if e.Type == nil {
		return "another type"
	}
	switch k := e.Type.String(); {
	case strings.HasPrefix(k, "*github.") || strings.HasPrefix(k, "github."):
		return "an object"
	case strings.HasPrefix(k, "[]"):
		return "an array"
	default:
		return "a " + strings.TrimPrefix(k, "*")
	}
}

// lineCol returns the 1-based line and column of byte offset off.
func lineCol(b []byte, off int64) (line, col int) {
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	if off < 0 {
		off = 0
	}
	before := b[:off]
	line = 1 + bytes.Count(before, []byte{'\n'})
	col = int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// missing is the error for a payload without a required part.
func missing(name, path string) error {
	return &patchctl.Error{Code: patchctl.CodeInvalid, Field: path,
		Message: fmt.Sprintf("%s payload has no %s", name, path)}
}

// envelope is what every event payload carries besides its subject.
type envelope interface {
	GetAction() string
	GetSender() *gh.User
	GetInstallation() *gh.Installation
}

// envelope copies an event's action, repository, sender and installation.
func (ev *Event) envelope(p envelope, repo string) {
	ev.Action = p.GetAction()
	ev.Repo = repo
	ev.Sender = p.GetSender().GetLogin()
	ev.InstallationID = p.GetInstallation().GetID()
}

func (ev *Event) fromPullRequest(p *gh.PullRequestEvent) error {
	ev.envelope(p, p.GetRepo().GetFullName())
	if p.PullRequest == nil {
		return missing(ev.Name, "pull_request")
	}
	if ev.Repo == "" {
		return missing(ev.Name, "repository.full_name")
	}
	pr := normalisePR(ev.Repo, p.PullRequest)
	if pr.Number == 0 {
		pr.Number = p.GetNumber()
	}
	if pr.Number <= 0 {
		return missing(ev.Name, "pull_request.number")
	}
	pr.Before, pr.After = p.GetBefore(), p.GetAfter()
	ev.PullRequest = pr
	ev.PatchKeys = PatchKeys(pr.HeadRef, pr.Title, pr.BodyText())
	return nil
}

// normalisePR converts a go-github pull request, from a webhook or the
// REST API.
func normalisePR(repo string, p *gh.PullRequest) *PullRequest {
	pr := &PullRequest{
		Repo:      repo,
		Number:    p.GetNumber(),
		ID:        p.GetID(),
		URL:       p.GetHTMLURL(),
		Title:     p.GetTitle(),
		Body:      p.Body,
		Author:    p.GetUser().GetLogin(),
		State:     strings.ToLower(p.GetState()),
		Draft:     p.GetDraft(),
		HeadRef:   p.GetHead().GetRef(),
		HeadSHA:   p.GetHead().GetSHA(),
		HeadRepo:  p.GetHead().GetRepo().GetFullName(),
		BaseRef:   p.GetBase().GetRef(),
		BaseSHA:   p.GetBase().GetSHA(),
		CreatedAt: timeOf(p.CreatedAt),
		UpdatedAt: timeOf(p.UpdatedAt),
		ClosedAt:  timePtr(p.ClosedAt),
		MergedAt:  timePtr(p.MergedAt),
	}
	if pr.Repo == "" {
		pr.Repo = p.GetBase().GetRepo().GetFullName()
	}
	// The list endpoint leaves merged out; merged_at says the same.
	pr.Merged = p.GetMerged() || (p.Merged == nil && pr.MergedAt != nil)
	if pr.Merged {
		pr.MergeCommitSHA = p.GetMergeCommitSHA()
		pr.MergedBy = p.GetMergedBy().GetLogin()
	}
	for _, l := range p.Labels {
		if n := l.GetName(); n != "" {
			pr.Labels = append(pr.Labels, n)
		}
	}
	return pr
}

func (ev *Event) fromReview(p *gh.PullRequestReviewEvent) error {
	ev.envelope(p, p.GetRepo().GetFullName())
	switch {
	case p.Review == nil:
		return missing(ev.Name, "review")
	case p.PullRequest == nil:
		return missing(ev.Name, "pull_request")
	case ev.Repo == "":
		return missing(ev.Name, "repository.full_name")
	}
	pr := normalisePR(ev.Repo, p.PullRequest)
	if pr.Number <= 0 {
		return missing(ev.Name, "pull_request.number")
	}
	r := normaliseReview(p.Review, pr.Number)
	r.PRAuthor = pr.Author
	r.HeadSHA = pr.HeadSHA
	ev.PullRequest = pr
	ev.Review = r
	ev.PatchKeys = PatchKeys(pr.HeadRef, pr.Title, pr.BodyText())
	return nil
}

func normaliseReview(r *gh.PullRequestReview, number int) *Review {
	return &Review{
		ID:                r.GetID(),
		Reviewer:          r.GetUser().GetLogin(),
		State:             ReviewState(r.GetState()),
		CommitID:          r.GetCommitID(),
		Body:              r.GetBody(),
		URL:               r.GetHTMLURL(),
		AuthorAssociation: r.GetAuthorAssociation(),
		SubmittedAt:       timePtr(r.SubmittedAt),
		PRNumber:          number,
	}
}

// ReviewState normalises a review state to lowercase: APPROVED (REST) and
// approved (webhooks) are both ReviewApproved.
func ReviewState(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func prNumbers(prs []*gh.PullRequest) []int {
	var out []int
	for _, p := range prs {
		if n := p.GetNumber(); n > 0 {
			out = append(out, n)
		}
	}
	return out
}

// checkResult applies ResultOf, treating a "completed" delivery as
// concluded whatever its status field says.
func checkResult(action, status, conclusion string) string {
	if action == "completed" {
		status = "completed"
	}
	return ResultOf(status, conclusion)
}

func (ev *Event) fromCheckSuite(p *gh.CheckSuiteEvent) error {
	ev.envelope(p, p.GetRepo().GetFullName())
	s := p.CheckSuite
	if s == nil {
		return missing(ev.Name, "check_suite")
	}
	if ev.Repo == "" {
		return missing(ev.Name, "repository.full_name")
	}
	c := &Check{
		ID:         s.GetID(),
		Name:       s.GetApp().GetName(),
		App:        s.GetApp().GetSlug(),
		Status:     strings.ToLower(s.GetStatus()),
		Conclusion: strings.ToLower(s.GetConclusion()),
		HeadSHA:    s.GetHeadSHA(),
		HeadBranch: s.GetHeadBranch(),
		PRNumbers:  prNumbers(s.PullRequests),
		URL:        s.GetURL(),
		StartedAt:  timePtr(s.CreatedAt),
	}
	c.CheckSuiteID = c.ID
	c.Result = checkResult(ev.Action, c.Status, c.Conclusion)
	if c.Result != ResultInProgress {
		c.CompletedAt = timePtr(s.UpdatedAt)
	}
	ev.Check = c
	ev.PatchKeys = PatchKeys(c.HeadBranch, "", "")
	return nil
}

func (ev *Event) fromCheckRun(p *gh.CheckRunEvent) error {
	ev.envelope(p, p.GetRepo().GetFullName())
	r := p.CheckRun
	if r == nil {
		return missing(ev.Name, "check_run")
	}
	if ev.Repo == "" {
		return missing(ev.Name, "repository.full_name")
	}
	c := normaliseCheckRun(r)
	c.Result = checkResult(ev.Action, c.Status, c.Conclusion)
	ev.Check = c
	ev.PatchKeys = PatchKeys(c.HeadBranch, "", "")
	return nil
}

// normaliseCheckRun converts a check run from a webhook or the REST API;
// the caller sets Result.
func normaliseCheckRun(r *gh.CheckRun) *Check {
	c := &Check{
		ID:           r.GetID(),
		Name:         r.GetName(),
		Status:       strings.ToLower(r.GetStatus()),
		Conclusion:   strings.ToLower(r.GetConclusion()),
		HeadSHA:      r.GetHeadSHA(),
		HeadBranch:   r.GetCheckSuite().GetHeadBranch(),
		PRNumbers:    prNumbers(r.PullRequests),
		URL:          r.GetHTMLURL(),
		DetailsURL:   r.GetDetailsURL(),
		CheckSuiteID: r.GetCheckSuite().GetID(),
		App:          r.GetApp().GetSlug(),
		StartedAt:    timePtr(r.StartedAt),
		CompletedAt:  timePtr(r.CompletedAt),
	}
	if c.App == "" {
		c.App = r.GetCheckSuite().GetApp().GetSlug()
	}
	c.Result = ResultOf(c.Status, c.Conclusion)
	return c
}

func (ev *Event) fromWorkflowRun(p *gh.WorkflowRunEvent) error {
	ev.envelope(p, p.GetRepo().GetFullName())
	w := p.WorkflowRun
	if w == nil {
		return missing(ev.Name, "workflow_run")
	}
	if ev.Repo == "" {
		return missing(ev.Name, "repository.full_name")
	}
	c := &Check{
		ID:           w.GetID(),
		Name:         w.GetName(),
		Status:       strings.ToLower(w.GetStatus()),
		Conclusion:   strings.ToLower(w.GetConclusion()),
		HeadSHA:      w.GetHeadSHA(),
		HeadBranch:   w.GetHeadBranch(),
		PRNumbers:    prNumbers(w.PullRequests),
		URL:          w.GetHTMLURL(),
		CheckSuiteID: w.GetCheckSuiteID(),
		Event:        w.GetEvent(),
		StartedAt:    timePtr(w.RunStartedAt),
	}
	if c.Name == "" {
		// Runs GitHub names after nothing (the corpus has one) still belong
		// to a named workflow.
		c.Name = p.GetWorkflow().GetName()
	}
	c.Result = checkResult(ev.Action, c.Status, c.Conclusion)
	if c.Result != ResultInProgress {
		c.CompletedAt = timePtr(w.UpdatedAt)
	}
	ev.Check = c
	ev.PatchKeys = PatchKeys(c.HeadBranch, "", "")
	return nil
}

func (ev *Event) fromDeploymentStatus(p *gh.DeploymentStatusEvent) error {
	ev.envelope(p, p.GetRepo().GetFullName())
	s, d := p.DeploymentStatus, p.Deployment
	switch {
	case s == nil:
		return missing(ev.Name, "deployment_status")
	case d == nil:
		return missing(ev.Name, "deployment")
	case ev.Repo == "":
		return missing(ev.Name, "repository.full_name")
	}
	dep := &Deployment{
		ID:             d.GetID(),
		StatusID:       s.GetID(),
		Environment:    s.GetEnvironment(),
		State:          strings.ToLower(s.GetState()),
		SHA:            d.GetSHA(),
		Ref:            d.GetRef(),
		Task:           d.GetTask(),
		Description:    s.GetDescription(),
		Creator:        s.GetCreator().GetLogin(),
		TargetURL:      s.GetTargetURL(),
		LogURL:         s.GetLogURL(),
		EnvironmentURL: s.GetEnvironmentURL(),
		CreatedAt:      timePtr(s.CreatedAt),
	}
	if dep.Environment == "" {
		dep.Environment = d.GetEnvironment()
	}
	ev.Deployment = dep
	ev.PatchKeys = PatchKeys(strings.TrimPrefix(dep.Ref, "refs/heads/"), "", "")
	return nil
}

func (ev *Event) fromPush(p *gh.PushEvent) error {
	ev.envelope(p, p.GetRepo().GetFullName())
	if p.GetRef() == "" {
		return missing(ev.Name, "ref")
	}
	if ev.Repo == "" {
		return missing(ev.Name, "repository.full_name")
	}
	push := &Push{
		Ref:         p.GetRef(),
		Before:      p.GetBefore(),
		After:       p.GetAfter(),
		Created:     p.GetCreated(),
		Deleted:     p.GetDeleted(),
		Forced:      p.GetForced(),
		Commits:     len(p.Commits),
		HeadCommit:  p.GetHeadCommit().GetID(),
		Pusher:      p.GetPusher().GetName(),
		PusherEmail: p.GetPusher().GetEmail(),
		Compare:     p.GetCompare(),
	}
	if b, ok := strings.CutPrefix(push.Ref, "refs/heads/"); ok {
		push.Branch = b
	} else if t, ok := strings.CutPrefix(push.Ref, "refs/tags/"); ok {
		push.Tag = t
	}
	ev.Push = push
	ev.PatchKeys = PatchKeys(push.Branch, "", "")
	return nil
}

// alertAction normalises repository_vulnerability_alert's verbs to
// dependabot_alert's.
func alertAction(a string) string {
	switch a {
	case "create":
		return AlertCreated
	case "dismiss":
		return AlertDismissed
	case "resolve":
		return AlertFixed
	case "reopen":
		return AlertReopened
	}
	return a
}

func (ev *Event) fromDependabotAlert(p *gh.DependabotAlertEvent) error {
	ev.envelope(p, p.GetRepo().GetFullName())
	a := p.Alert
	if a == nil {
		return missing(ev.Name, "alert")
	}
	if ev.Repo == "" {
		return missing(ev.Name, "repository.full_name")
	}
	sa, sv := a.GetSecurityAdvisory(), a.GetSecurityVulnerability()
	al := &VulnerabilityAlert{
		Repo:            ev.Repo,
		Number:          a.GetNumber(),
		Action:          alertAction(ev.Action),
		State:           strings.ToLower(a.GetState()),
		Summary:         sa.GetSummary(),
		Package:         a.GetDependency().GetPackage().GetName(),
		Ecosystem:       a.GetDependency().GetPackage().GetEcosystem(),
		VulnerableRange: sv.GetVulnerableVersionRange(),
		PatchedVersion:  sv.GetFirstPatchedVersion().GetIdentifier(),
		ManifestPath:    a.GetDependency().GetManifestPath(),
		Scope:           a.GetDependency().GetScope(),
		SeverityRaw:     sv.GetSeverity(),
		URL:             a.GetHTMLURL(),
		CreatedAt:       timePtr(a.CreatedAt),
		DismissedAt:     timePtr(a.DismissedAt),
		DismissedBy:     a.GetDismissedBy().GetLogin(),
		DismissedReason: a.GetDismissedReason(),
		FixedAt:         timePtr(a.FixedAt),
	}
	if al.Package == "" {
		al.Package = sv.GetPackage().GetName()
	}
	if al.Ecosystem == "" {
		al.Ecosystem = sv.GetPackage().GetEcosystem()
	}
	if al.SeverityRaw == "" {
		al.SeverityRaw = sa.GetSeverity()
	}
	al.Severity, _ = patchctl.ParseSeverity(al.SeverityRaw)
	if sa != nil {
		// go-github has getters for pointers only; the slices need sa.
		al.CVSS, al.CVSSVector = bestCVSS(sa.CVSSSeverities, sa.CVSS)
		al.CWEs = cweIDs(sa.CWEs)
		al.GHSAID, al.CVEID, al.Aliases = vulnIDs(sa.GHSAID, sa.CVEID, sa.Identifiers)
	}
	if al.URL == "" {
		al.URL = a.GetURL()
	}
	ev.Alert = al
	return nil
}

// rvaExtra is what go-github's RepositoryVulnerabilityAlert leaves out.
type rvaExtra struct {
	Alert *struct {
		Number int    `json:"number"`
		State  string `json:"state"`
	} `json:"alert"`
}

func (ev *Event) fromRepositoryVulnerabilityAlert(p *gh.RepositoryVulnerabilityAlertEvent, body []byte) error {
	ev.envelope(p, p.GetRepository().GetFullName())
	a := p.Alert
	if a == nil {
		return missing(ev.Name, "alert")
	}
	if ev.Repo == "" {
		return missing(ev.Name, "repository.full_name")
	}
	var extra rvaExtra
	if err := json.Unmarshal(body, &extra); err != nil {
		return jsonError(ev.Name, body, err)
	}
	al := &VulnerabilityAlert{
		Repo:            ev.Repo,
		Action:          alertAction(ev.Action),
		Package:         a.GetAffectedPackageName(),
		VulnerableRange: a.GetAffectedRange(),
		PatchedVersion:  a.GetFixedIn(),
		SeverityRaw:     a.GetSeverity(),
		URL:             a.GetExternalReference(),
		CreatedAt:       timePtr(a.CreatedAt),
		DismissedAt:     timePtr(a.DismissedAt),
		DismissedBy:     a.GetDismisser().GetLogin(),
		DismissedReason: a.GetDismissReason(),
	}
	if extra.Alert != nil {
		al.Number, al.State = extra.Alert.Number, strings.ToLower(extra.Alert.State)
	}
	if al.State == "" {
		switch al.Action {
		case AlertDismissed:
			al.State = "dismissed"
		case AlertFixed:
			al.State = "fixed"
		default:
			al.State = "open"
		}
	}
	al.Severity, _ = patchctl.ParseSeverity(al.SeverityRaw)
	var cve string
	if ext := a.GetExternalIdentifier(); strings.HasPrefix(strings.ToUpper(ext), "CVE-") {
		cve = ext
	}
	al.GHSAID, al.CVEID, al.Aliases = vulnIDs(a.GitHubSecurityAdvisoryID, &cve, nil)
	ev.Alert = al
	return nil
}

func (ev *Event) fromSecurityAdvisory(p *gh.SecurityAdvisoryEvent) error {
	ev.envelope(p, p.GetRepository().GetFullName())
	sa := p.SecurityAdvisory
	if sa == nil {
		return missing(ev.Name, "security_advisory")
	}
	if sa.GetGHSAID() == "" {
		return missing(ev.Name, "security_advisory.ghsa_id")
	}
	adv := &Advisory{
		Action:      ev.Action,
		Summary:     sa.GetSummary(),
		Description: sa.GetDescription(),
		SeverityRaw: sa.GetSeverity(),
		CWEs:        cweIDs(sa.CWEs),
		PublishedAt: timePtr(sa.PublishedAt),
		UpdatedAt:   timePtr(sa.UpdatedAt),
		WithdrawnAt: timePtr(sa.WithdrawnAt),
	}
	adv.Severity, _ = patchctl.ParseSeverity(adv.SeverityRaw)
	adv.CVSS, adv.CVSSVector = bestCVSS(sa.CVSSSeverities, sa.CVSS)
	adv.GHSAID, adv.CVEID, adv.Aliases = vulnIDs(sa.GHSAID, sa.CVEID, sa.Identifiers)
	for _, id := range sa.Identifiers {
		if id.GetValue() != "" {
			adv.Identifiers = append(adv.Identifiers, Identifier{Type: id.GetType(), Value: id.GetValue()})
		}
	}
	for _, r := range sa.References {
		if r.GetURL() != "" {
			adv.References = append(adv.References, r.GetURL())
		}
	}
	for _, v := range sa.Vulnerabilities {
		if v == nil {
			continue
		}
		av := AdvisoryVulnerability{
			Package:         v.GetPackage().GetName(),
			Ecosystem:       v.GetPackage().GetEcosystem(),
			VulnerableRange: v.GetVulnerableVersionRange(),
			PatchedVersion:  v.GetFirstPatchedVersion().GetIdentifier(),
		}
		if s := v.GetSeverity(); s != "" {
			av.Severity, _ = patchctl.ParseSeverity(s)
		}
		adv.Vulnerabilities = append(adv.Vulnerabilities, av)
	}
	ev.Advisory = adv
	return nil
}

// bestCVSS picks CVSS v3, then v4, then the legacy cvss object; an entry
// counts when it has a score or a vector.
func bestCVSS(sev *gh.AdvisoryCVSSSeverities, legacy *gh.AdvisoryCVSS) (float64, string) {
	for _, c := range []*gh.AdvisoryCVSS{sev.GetCVSSV3(), sev.GetCVSSV4(), legacy} {
		if c.GetScore() > 0 || c.GetVectorString() != "" {
			return c.GetScore(), c.GetVectorString()
		}
	}
	return 0, ""
}

func cweIDs(cwes []*gh.AdvisoryCWEs) []string {
	var out []string
	for _, c := range cwes {
		if id := c.GetCWEID(); id != "" {
			out = append(out, id)
		}
	}
	return out
}

// vulnIDs normalises the GHSA and CVE ids and collects every id as an
// alias (GHSA first, then CVE, then the other identifiers), without
// duplicates. A CVE missing from cve_id is taken from the identifiers: the
// published security_advisory sample has cve_id null but a CVE identifier.
func vulnIDs(ghsaID, cveID *string, ids []*gh.AdvisoryIdentifier) (string, string, []string) {
	var ghsa, cve string
	if ghsaID != nil {
		ghsa = normID(*ghsaID)
	}
	if cveID != nil {
		cve = normID(*cveID)
	}
	for _, id := range ids {
		v := normID(id.GetValue())
		switch {
		case ghsa == "" && strings.EqualFold(id.GetType(), "GHSA"):
			ghsa = v
		case cve == "" && strings.EqualFold(id.GetType(), "CVE"):
			cve = v
		}
	}
	var aliases []string
	add := func(v string) {
		if v == "" {
			return
		}
		for _, a := range aliases {
			if a == v {
				return
			}
		}
		aliases = append(aliases, v)
	}
	add(ghsa)
	add(cve)
	for _, id := range ids {
		add(normID(id.GetValue()))
	}
	return ghsa, cve, aliases
}

// normID returns the canonical form of a vulnerability id, or the trimmed
// input when it is not one patchctl recognises (intake decides).
func normID(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if n, err := patchctl.NormalizeVulnID(s); err == nil {
		return n
	}
	return s
}

// timeOf returns t in UTC, or the zero time.
func timeOf(t *gh.Timestamp) time.Time {
	if t == nil || t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// timePtr returns t in UTC, or nil when it is absent.
func timePtr(t *gh.Timestamp) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
