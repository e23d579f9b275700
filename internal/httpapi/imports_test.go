package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/app/apptest"
	"github.com/patchctl/patchctl/internal/config"
	"github.com/patchctl/patchctl/internal/intake"
	"github.com/patchctl/patchctl/internal/testutil/corpus"
)

func upload(t *testing.T, s *apptest.Server, role patchctl.Role, query string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.URL+"/api/v1/imports"+query, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.Tokens[role])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestImportAPI(t *testing.T) {
	s := apptest.StartServer(t, apptest.Options{Config: func(c *config.Config) { c.Server.MaxUploadBytes = 200_000 }})
	report, err := os.ReadFile(corpus.Path(t, "trivy/alpine-310.json.golden"))
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := upload(t, s, patchctl.RoleViewer, "", report); code != 403 {
		t.Errorf("viewer upload: %d", code)
	}
	code, body := upload(t, s, patchctl.RoleEngineer, "?format=auto&source=alpine-310.json", report)
	if code != 200 {
		t.Fatalf("sync import: %d %s", code, body)
	}
	var res intake.Result
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	if res.Summary == nil || res.Summary.Format != "trivy" || res.Summary.FindingsInReport != 4 || res.Summary.FindingsNew != 4 || res.Import.Status != "done" {
		t.Fatalf("summary: %s", body)
	}
	// As a job: 202, then poll until done.
	code, body = upload(t, s, patchctl.RoleEngineer, "?async=true", report)
	if code != 202 {
		t.Fatalf("async import: %d %s", code, body)
	}
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, b, _ := do(t, s, call{method: "GET", path: "/api/v1/imports/" + itoa(res.Import.ID), role: "viewer"})
		if st != 200 {
			t.Fatalf("poll: %d %s", st, b)
		}
		var r intake.Result
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		if r.Import.Status == "done" {
			if r.Summary == nil || r.Summary.FindingsUnchanged != 4 {
				t.Errorf("job summary: %s", b)
			}
			break
		}
		if r.Import.Status == "failed" || time.Now().After(deadline) {
			t.Fatalf("job: %s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	run(t, s, []call{
		{name: "malformed", method: "POST", path: "/api/v1/imports?format=trivy", role: "engineer", body: `{"SchemaVersion": 2, "Results": [`,
			status: 400, problem: "invalid", want: []string{"line"}},
		{name: "wrong format", method: "POST", path: "/api/v1/imports?format=nessus", role: "engineer", body: `{}`, status: 400, problem: "invalid", field: "format"},
		{name: "findings by severity", method: "GET", path: "/api/v1/findings?severity=medium&state=open", role: "viewer", status: 200,
			want: []string{`"vuln_id":"CVE-2019-1549"`}},
		{name: "bad severity filter", method: "GET", path: "/api/v1/findings?severity=urgent", role: "viewer", status: 400, problem: "invalid", field: "query.severity[0]"},
		{name: "stats", method: "GET", path: "/api/v1/findings/stats", role: "viewer", status: 200, want: []string{`"medium":4`}},
		{name: "finding", method: "GET", path: "/api/v1/findings/1", role: "viewer", status: 200, want: []string{`"state":"open"`, `"patch":"PATCH-`}},
		{name: "engineer cannot accept", method: "POST", path: "/api/v1/findings/1/risk-acceptance", role: "engineer",
			body: `{"reason":"compensating control","expires_at":"2026-12-01T00:00:00Z"}`, status: 403, problem: "forbidden"},
		{name: "lead accepts", method: "POST", path: "/api/v1/findings/1/risk-acceptance", role: "lead",
			body: `{"reason":"compensating control","expires_at":"2026-12-01T00:00:00Z"}`, status: 200, want: []string{`"state":"risk_accepted"`}},
		{name: "expiry timer", method: "GET", path: "/api/v1/timers?kind=finding.", role: "viewer", status: 200, want: []string{`"subject":"finding:1"`}},
		{name: "imports listed", method: "GET", path: "/api/v1/imports", role: "viewer", status: 200, want: []string{`"source":"alpine-310.json"`}},
	})
	big := append([]byte(`{"SchemaVersion":2,"ArtifactName":"x","Results":[]}`), bytes.Repeat([]byte(" "), 250_000)...)
	if code, body := upload(t, s, patchctl.RoleEngineer, "", big); code != 413 || !strings.Contains(string(body), "max_upload_bytes") {
		t.Errorf("oversize upload: %d %s", code, body)
	}
	kev, err := os.ReadFile("../intake/testdata/kev-small.json")
	if err != nil {
		t.Fatal(err)
	}
	code, body = upload(t, s, patchctl.RoleEngineer, "?format=kev", kev)
	if code != 200 || !strings.Contains(string(body), `"escalated":["PATCH-`) {
		t.Errorf("kev import: %d %s", code, body)
	}
}
