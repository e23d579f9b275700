// Package client is the Go client of patchctl's REST API. The CLI uses it
// to talk to a server; problem documents come back as *patchctl.Error with
// their code, field and refusing gates, so callers handle remote and local
// failures alike.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/intake"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
)

// Client calls one patchctl server.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// New returns a client of the server at baseURL (e.g. http://127.0.0.1:8080).
func New(baseURL, token string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, patchctl.FieldError("server", "%q is not a server URL (want http://host:port)", baseURL)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	return &Client{base: u.String() + "/api/v1", token: token, http: hc}, nil
}

// Server is the server's base URL.
func (c *Client) Server() string { return strings.TrimSuffix(c.base, "/api/v1") }

type problem struct {
	Title  string                `json:"title"`
	Status int                   `json:"status"`
	Detail string                `json:"detail"`
	Code   string                `json:"code"`
	Field  string                `json:"field"`
	Gates  []patchctl.GateResult `json:"gates"`
}

func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	resp, err := c.send(ctx, method, path, query, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	return decodeJSON(resp.Body, out)
}

// send sends in as JSON (no body when nil).
func (c *Client) send(ctx context.Context, method, path string, query url.Values, in any) (*http.Response, error) {
	var body io.Reader
	contentType := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body, contentType = bytes.NewReader(b), "application/json"
	}
	req, err := c.newRequest(ctx, method, path, query, body, contentType)
	if err != nil {
		return nil, err
	}
	return c.exec(req, false)
}

// newRequest builds a request to the API with the headers every call
// carries; contentType is set when not empty.
func (c *Client) newRequest(ctx context.Context, method, path string, query url.Values, body io.Reader, contentType string) (*http.Request, error) {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "patchctl/"+patchctl.Version)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// exec sends req: an unreachable server becomes CodeUnavailable and an
// error status the server's problem, as a *patchctl.Error. Uploads are
// untimed: not bound by the client's timeout, since a large report or plan
// takes as long as it takes (ctx still ends it).
func (c *Client) exec(req *http.Request, untimed bool) (*http.Response, error) {
	resp, err := c.httpClient(untimed).Do(req)
	if err != nil {
		return nil, &patchctl.Error{Code: patchctl.CodeUnavailable, Message: "cannot reach the server at " + c.Server(), Err: err}
	}
	return checkStatus(resp)
}

func (c *Client) httpClient(untimed bool) *http.Client {
	if !untimed {
		return c.http
	}
	hc := *c.http
	hc.Timeout = 0
	return &hc
}

// checkStatus passes a successful response, and closes an error response
// and returns its problem.
func checkStatus(resp *http.Response) (*http.Response, error) {
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		return nil, decodeProblem(resp)
	}
	return resp, nil
}

// decodeJSON reads a JSON answer into out.
func decodeJSON(r io.Reader, out any) error {
	if err := json.NewDecoder(r).Decode(out); err != nil {
		return &patchctl.Error{Code: patchctl.CodeUnavailable, Message: "the server sent an unreadable response", Err: err}
	}
	return nil
}

// decodeProblem turns an error response into a *patchctl.Error.
func decodeProblem(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var p problem
	if err := json.Unmarshal(b, &p); err != nil || p.Status == 0 {
		return &patchctl.Error{Code: codeForStatus(resp.StatusCode), Message: fmt.Sprintf("server answered %s", resp.Status)}
	}
	code := patchctl.Code(p.Code)
	if code == "" {
		code = codeForStatus(p.Status)
	}
	return &patchctl.Error{Code: code, Message: p.Detail, Field: "", Gates: p.Gates}
}

func codeForStatus(s int) patchctl.Code {
	switch s {
	case 400, 422:
		return patchctl.CodeInvalid
	case 401:
		return patchctl.CodeUnauthorized
	case 403:
		return patchctl.CodeForbidden
	case 404:
		return patchctl.CodeNotFound
	case 409:
		return patchctl.CodeConflict
	case 413:
		return patchctl.CodeTooLarge
	case 502, 503, 504:
		return patchctl.CodeUnavailable
	}
	return patchctl.CodeInternal
}

func esc(s string) string { return url.PathEscape(s) }

// setList sets a comma-separated list parameter, unless vals is empty.
func setList[T ~string](q url.Values, name string, vals []T) {
	if len(vals) == 0 {
		return
	}
	ss := make([]string, len(vals))
	for i, v := range vals {
		ss[i] = string(v)
	}
	q.Set(name, strings.Join(ss, ","))
}

// CreatePatch creates a patch.
func (c *Client) CreatePatch(ctx context.Context, in service.CreatePatch) (*patchctl.Patch, error) {
	body := struct {
		Title       string            `json:"title"`
		Description string            `json:"description,omitempty"`
		Kind        patchctl.Kind     `json:"kind"`
		Target      patchctl.Target   `json:"target"`
		Owner       string            `json:"owner,omitempty"`
		Labels      []string          `json:"labels,omitempty"`
		Priority    patchctl.Priority `json:"priority,omitempty"`
		Links       []linkBody        `json:"links,omitempty"`
	}{in.Title, in.Description, in.Kind, in.Target, in.Owner, in.Labels, in.Priority, nil}
	for _, l := range in.Links {
		body.Links = append(body.Links, toLinkBody(l))
	}
	var p patchctl.Patch
	return &p, c.do(ctx, "POST", "/patches", nil, body, &p)
}

func toLinkBody(l patchctl.Link) linkBody {
	b := linkBody{Type: l.Type, Ref: l.Ref, Aliases: l.Aliases, Attributes: l.Attributes}
	if !l.DetectedAt.IsZero() {
		t := l.DetectedAt
		b.DetectedAt = &t
	}
	return b
}

// ListPatches lists patches.
func (c *Client) ListPatches(ctx context.Context, f store.PatchFilter) (*service.ListResult, error) {
	q := url.Values{}
	setList(q, "kind", f.Kinds)
	setList(q, "priority", f.Priorities)
	setList(q, "state", f.States)
	if f.Owner != "" {
		q.Set("owner", f.Owner)
	}
	if f.Open != nil {
		q.Set("open", strconv.FormatBool(*f.Open))
	}
	if f.Overdue {
		q.Set("overdue", "true")
	}
	if f.DueBefore != nil {
		q.Set("due_before", f.DueBefore.UTC().Format(time.RFC3339))
	}
	if f.Text != "" {
		q.Set("q", f.Text)
	}
	if f.Sort != "" {
		q.Set("sort", f.Sort)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Offset > 0 {
		q.Set("offset", strconv.Itoa(f.Offset))
	}
	var r service.ListResult
	return &r, c.do(ctx, "GET", "/patches", q, nil, &r)
}

// Patch shows a patch with its gate checklist.
func (c *Client) Patch(ctx context.Context, key string) (*service.Detail, error) {
	var d service.Detail
	return &d, c.do(ctx, "GET", "/patches/"+esc(key), nil, nil, &d)
}

// EditPatch edits a patch.
func (c *Client) EditPatch(ctx context.Context, key string, in service.EditPatch) (*patchctl.Patch, error) {
	var p patchctl.Patch
	return &p, c.do(ctx, "PATCH", "/patches/"+esc(key), nil, in, &p)
}

type linkBody struct {
	Type       patchctl.LinkType   `json:"type"`
	Ref        string              `json:"ref"`
	Aliases    []string            `json:"aliases,omitempty"`
	Attributes patchctl.Attributes `json:"attributes,omitempty"`
	DetectedAt *time.Time          `json:"detected_at,omitempty"`
}

// AddLink links a trigger.
func (c *Client) AddLink(ctx context.Context, key string, l patchctl.Link) (*patchctl.Link, error) {
	var out patchctl.Link
	return &out, c.do(ctx, "POST", "/patches/"+esc(key)+"/links", nil, toLinkBody(l), &out)
}

// RemoveLink unlinks a trigger.
func (c *Client) RemoveLink(ctx context.Context, key string, id int64) error {
	return c.do(ctx, "DELETE", "/patches/"+esc(key)+"/links/"+strconv.FormatInt(id, 10), nil, nil, nil)
}

type evidenceBody struct {
	Kind        patchctl.EvidenceKind `json:"kind"`
	Ref         string                `json:"ref,omitempty"`
	Environment string                `json:"environment,omitempty"`
	Version     string                `json:"version,omitempty"`
	Result      string                `json:"result,omitempty"`
	Subject     string                `json:"subject,omitempty"`
	Source      string                `json:"source,omitempty"`
	Details     map[string]string     `json:"details,omitempty"`
	At          *time.Time            `json:"at,omitempty"`
}

// AddEvidence records evidence.
func (c *Client) AddEvidence(ctx context.Context, key string, e patchctl.Evidence) (*patchctl.Evidence, error) {
	b := evidenceBody{Kind: e.Kind, Ref: e.Ref, Environment: e.Environment, Version: e.Version, Result: e.Result,
		Subject: e.Subject, Source: e.Source, Details: e.Details}
	if !e.At.IsZero() {
		b.At = &e.At
	}
	var out patchctl.Evidence
	return &out, c.do(ctx, "POST", "/patches/"+esc(key)+"/evidence", nil, b, &out)
}

// Transition moves a patch.
func (c *Client) Transition(ctx context.Context, key string, in service.TransitionInput) (*service.TransitionResult, error) {
	var r service.TransitionResult
	return &r, c.do(ctx, "POST", "/patches/"+esc(key)+"/transitions", nil, in, &r)
}

// Rollback decides a rollback.
func (c *Client) Rollback(ctx context.Context, key string, in service.RollbackInput) (*service.RollbackResult, error) {
	var r service.RollbackResult
	return &r, c.do(ctx, "POST", "/patches/"+esc(key)+"/rollback", nil, in, &r)
}

// Wave drives a rollout wave.
func (c *Client) Wave(ctx context.Context, key string, seq int, in service.WaveInput) (*service.WaveResult, error) {
	var r service.WaveResult
	return &r, c.do(ctx, "POST", "/patches/"+esc(key)+"/waves/"+strconv.Itoa(seq), nil, in, &r)
}

// Decide resolves a halted rollout.
func (c *Client) Decide(ctx context.Context, key string, in service.DecisionInput) (*patchctl.Patch, error) {
	var p patchctl.Patch
	return &p, c.do(ctx, "POST", "/patches/"+esc(key)+"/decisions", nil, in, &p)
}

// BookWindow books a maintenance window.
func (c *Client) BookWindow(ctx context.Context, key string, in service.BookingInput) (*patchctl.Patch, error) {
	var p patchctl.Patch
	return &p, c.do(ctx, "PUT", "/patches/"+esc(key)+"/window", nil, in, &p)
}

// Announce announces a booked window.
func (c *Client) Announce(ctx context.Context, key, channel, message string) (*patchctl.Evidence, error) {
	var e patchctl.Evidence
	return &e, c.do(ctx, "POST", "/patches/"+esc(key)+"/announcements", nil, map[string]string{"channel": channel, "message": message}, &e)
}

// RecordStable records a known stable version.
func (c *Client) RecordStable(ctx context.Context, sv store.StableVersion) (*store.StableVersion, error) {
	body := map[string]any{"subject": sv.Subject, "environment": sv.Environment, "version": sv.Version}
	if sv.Source != "" {
		body["source"] = sv.Source
	}
	if !sv.RecordedAt.IsZero() {
		body["at"] = sv.RecordedAt
	}
	var out store.StableVersion
	return &out, c.do(ctx, "POST", "/releases", nil, body, &out)
}

// StableVersions lists known stable versions.
func (c *Client) StableVersions(ctx context.Context, subject string) ([]store.StableVersion, error) {
	var out []store.StableVersion
	return out, c.do(ctx, "GET", "/releases", url.Values{"subject": {subject}}, nil, &out)
}

// AuditEvents reads the audit log.
func (c *Client) AuditEvents(ctx context.Context, f store.AuditFilter) ([]patchctl.AuditEvent, error) {
	q := url.Values{}
	for k, v := range map[string]string{"subject": f.Subject, "actor": f.Actor, "action": f.Action} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.AfterSeq > 0 {
		q.Set("after", strconv.FormatInt(f.AfterSeq, 10))
	}
	if f.Desc {
		q.Set("order", "desc")
	}
	var out []patchctl.AuditEvent
	return out, c.do(ctx, "GET", "/audit", q, nil, &out)
}

// VerifyAudit verifies the chain on the server.
func (c *Client) VerifyAudit(ctx context.Context) (*store.Verification, error) {
	var v store.Verification
	return &v, c.do(ctx, "GET", "/audit/verify", nil, nil, &v)
}

// ExportAudit streams events after afterSeq.
func (c *Client) ExportAudit(ctx context.Context, afterSeq int64, fn func(patchctl.AuditEvent) error) error {
	q := url.Values{}
	if afterSeq > 0 {
		q.Set("after", strconv.FormatInt(afterSeq, 10))
	}
	resp, err := c.send(ctx, "GET", "/audit/export", q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var e patchctl.AuditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return &patchctl.Error{Code: patchctl.CodeUnavailable, Message: "unreadable audit export", Err: err}
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return sc.Err()
}

// CreateToken creates an API token (admin).
func (c *Client) CreateToken(ctx context.Context, in service.TokenInput) (*service.NewToken, error) {
	body := map[string]any{"name": in.Name, "role": in.Role}
	if in.TTL > 0 {
		body["ttl"] = in.TTL.String()
	}
	var out service.NewToken
	return &out, c.do(ctx, "POST", "/tokens", nil, body, &out)
}

// Tokens lists tokens (admin).
func (c *Client) Tokens(ctx context.Context, all bool) ([]*store.Token, error) {
	var out []*store.Token
	return out, c.do(ctx, "GET", "/tokens", url.Values{"all": {strconv.FormatBool(all)}}, nil, &out)
}

// RevokeToken revokes a token (admin).
func (c *Client) RevokeToken(ctx context.Context, id int64) (*store.Token, error) {
	var out store.Token
	return &out, c.do(ctx, "DELETE", "/tokens/"+strconv.FormatInt(id, 10), nil, nil, &out)
}

// Status reads the server status.
func (c *Client) Status(ctx context.Context) (*service.Status, error) {
	var s service.Status
	return &s, c.do(ctx, "GET", "/status", nil, nil, &s)
}

// Overrides lists overrides.
func (c *Client) Overrides(ctx context.Context, limit, offset int) ([]patchctl.Override, error) {
	var out []patchctl.Override
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if offset > 0 {
		q.Set("offset", strconv.Itoa(offset))
	}
	return out, c.do(ctx, "GET", "/overrides", q, nil, &out)
}

// Outbox lists notification messages.
func (c *Client) Outbox(ctx context.Context, f store.OutboxFilter) ([]store.OutboxMessage, error) {
	q := url.Values{}
	if f.Topic != "" {
		q.Set("topic", f.Topic)
	}
	if f.Subject != "" {
		q.Set("subject", f.Subject)
	}
	if f.Undelivered {
		q.Set("undelivered", "true")
	}
	var out []store.OutboxMessage
	return out, c.do(ctx, "GET", "/notifications", q, nil, &out)
}

// Import uploads a report (or a feed) as format; when the server runs it as
// a job (202), Import polls until it ends, calling progress as it goes.
func (c *Client) Import(ctx context.Context, format, asset, source string, r io.Reader, size int64, progress func(read, total, records int64)) (*intake.Result, error) {
	q := url.Values{"format": {format}}
	if asset != "" {
		q.Set("asset", asset)
	}
	if source != "" {
		q.Set("source", source)
	}
	req, err := c.newRequest(ctx, "POST", "/imports", q, r, "application/octet-stream")
	if err != nil {
		return nil, err
	}
	if size >= 0 {
		req.ContentLength = size
	}
	resp, err := c.httpClient(true).Do(req)
	if err != nil {
		return nil, &patchctl.Error{Code: patchctl.CodeUnavailable, Message: "cannot reach the server", Err: err}
	}
	if resp, err = checkStatus(resp); err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var res intake.Result
	if err := decodeJSON(resp.Body, &res); err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusAccepted {
		return &res, nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		cur, err := c.ImportByID(ctx, res.Import.ID)
		if err != nil {
			return nil, err
		}
		if progress != nil {
			progress(cur.Import.BytesRead, cur.Import.BytesTotal, cur.Import.Records)
		}
		switch cur.Import.Status {
		case store.ImportDone:
			return cur, nil
		case store.ImportFailed:
			return nil, patchctl.Errorf(patchctl.CodeInvalid, "import %d failed: %s", cur.Import.ID, cur.Import.Error)
		}
	}
}

// ImportByID reads an import.
func (c *Client) ImportByID(ctx context.Context, id int64) (*intake.Result, error) {
	var r intake.Result
	return &r, c.do(ctx, "GET", "/imports/"+strconv.FormatInt(id, 10), nil, nil, &r)
}

// Imports lists recent imports.
func (c *Client) Imports(ctx context.Context, limit int) ([]*store.Import, error) {
	var out []*store.Import
	return out, c.do(ctx, "GET", "/imports", url.Values{"limit": {strconv.Itoa(limit)}}, nil, &out)
}

// ListFindings lists findings.
func (c *Client) ListFindings(ctx context.Context, f store.FindingFilter) (*service.FindingList, error) {
	q := url.Values{}
	setList(q, "severity", f.Severities)
	setList(q, "state", f.States)
	if f.KEV != nil {
		q.Set("kev", strconv.FormatBool(*f.KEV))
	}
	if f.EPSSMin > 0 {
		q.Set("epss_min", strconv.FormatFloat(f.EPSSMin, 'g', -1, 64))
	}
	for k, v := range map[string]string{"asset": f.Asset, "package": f.Package, "vuln": f.VulnID} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.PatchID > 0 {
		q.Set("patch", patchctl.PatchKey(f.PatchID))
	}
	if f.NoFix {
		q.Set("no_fix", "true")
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Offset > 0 {
		q.Set("offset", strconv.Itoa(f.Offset))
	}
	var out service.FindingList
	return &out, c.do(ctx, "GET", "/findings", q, nil, &out)
}

// Finding shows a finding.
func (c *Client) Finding(ctx context.Context, id int64) (*service.FindingDetail, error) {
	var d service.FindingDetail
	return &d, c.do(ctx, "GET", "/findings/"+strconv.FormatInt(id, 10), nil, nil, &d)
}

// AcceptRisk accepts a finding's risk.
func (c *Client) AcceptRisk(ctx context.Context, id int64, in service.AcceptanceInput) (*patchctl.Finding, error) {
	var f patchctl.Finding
	return &f, c.do(ctx, "POST", "/findings/"+strconv.FormatInt(id, 10)+"/risk-acceptance", nil, in, &f)
}

// MarkFalsePositive marks a finding as a false positive.
func (c *Client) MarkFalsePositive(ctx context.Context, id int64, in service.AcceptanceInput) (*patchctl.Finding, error) {
	var f patchctl.Finding
	return &f, c.do(ctx, "POST", "/findings/"+strconv.FormatInt(id, 10)+"/false-positive", nil, map[string]string{"reason": in.Reason}, &f)
}

// ReopenFinding ends an acceptance.
func (c *Client) ReopenFinding(ctx context.Context, id int64, reason string) (*patchctl.Finding, error) {
	var f patchctl.Finding
	return &f, c.do(ctx, "POST", "/findings/"+strconv.FormatInt(id, 10)+"/reopen", nil, map[string]string{"reason": reason}, &f)
}
