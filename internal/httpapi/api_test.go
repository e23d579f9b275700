package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/app/apptest"
	"github.com/patchctl/patchctl/internal/httpapi"
	"github.com/patchctl/patchctl/internal/store"
	"github.com/patchctl/patchctl/internal/testutil/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

type call struct {
	name    string
	method  string
	path    string
	role    patchctl.Role // "" = no token
	token   string        // overrides role
	body    string
	status  int
	want    []string // substrings of the body
	problem string   // expected problem code
	field   string   // expected problem field
	gate    string   // expected first refusing gate
}

func do(t *testing.T, s *apptest.Server, c call) (int, []byte, http.Header) {
	t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, s.URL+c.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	tok := c.token
	if tok == "" && c.role != "" {
		tok = s.Tokens[c.role]
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

func run(t *testing.T, s *apptest.Server, calls []call) {
	t.Helper()
	for _, c := range calls {
		status, body, hdr := do(t, s, c)
		if status != c.status {
			t.Fatalf("%s: %s %s = %d, want %d\n%s", c.name, c.method, c.path, status, c.status, body)
		}
		for _, w := range c.want {
			if !bytes.Contains(body, []byte(w)) {
				t.Errorf("%s: body lacks %q:\n%s", c.name, w, body)
			}
		}
		if c.problem != "" {
			if ct := hdr.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("%s: content type %q, want application/problem+json", c.name, ct)
			}
			var p httpapi.Problem
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if p.Code != c.problem || p.Field != c.field || p.Gate != c.gate || p.Status != status || p.Title == "" {
				t.Errorf("%s: problem = %+v, want code %s field %q gate %q", c.name, p, c.problem, c.field, c.gate)
			}
		}
	}
}

const createBody = `{"title":"Upgrade openssl in payments","kind":"application","target":{"application":"payments"},"owner":"erin"}`

func TestAPIScenario(t *testing.T) {
	s := apptest.StartServer(t, apptest.Options{})
	run(t, s, []call{
		{name: "no token", method: "GET", path: "/api/v1/patches", status: 401, problem: "unauthorized"},
		{name: "wrong token", method: "GET", path: "/api/v1/patches", token: "pct_nope", status: 401, problem: "unauthorized"},
		{name: "viewer cannot create", method: "POST", path: "/api/v1/patches", role: "viewer", body: createBody, status: 403, problem: "forbidden", want: []string{"engineer"}},
		{name: "unknown field", method: "POST", path: "/api/v1/patches", role: "engineer",
			body: `{"title":"x","kind":"application","target":{"application":"a"},"colour":"blue"}`, status: 400, problem: "invalid", field: "colour"},
		{name: "malformed body", method: "POST", path: "/api/v1/patches", role: "engineer", body: `{"title":`, status: 400, problem: "invalid", field: "body"},
		{name: "bad kind", method: "POST", path: "/api/v1/patches", role: "engineer",
			body: `{"title":"x","kind":"database","target":{}}`, status: 400, problem: "invalid", field: "kind"},
		{name: "bad CVE id", method: "POST", path: "/api/v1/patches", role: "engineer",
			body:   `{"title":"x","kind":"application","target":{"application":"a"},"links":[{"type":"vulnerability","ref":"CVE-24-1"}]}`,
			status: 400, problem: "invalid", field: "links[0].ref"},
		{name: "bad issue URL", method: "POST", path: "/api/v1/patches", role: "engineer",
			body:   `{"title":"x","kind":"application","target":{"application":"a"},"links":[{"type":"issue","ref":"not a url"}]}`,
			status: 400, problem: "invalid", field: "links[0].ref"},
		{name: "create", method: "POST", path: "/api/v1/patches", role: "engineer", body: createBody, status: 201,
			want: []string{`"id":"PATCH-1"`, `"state":"draft"`, `"priority":"routine"`}},
		{name: "show with gates", method: "GET", path: "/api/v1/patches/PATCH-1", role: "viewer", status: 200,
			want: []string{`"gate":"has_trigger"`, `"ok":false`, `"missing":"link the vulnerability`}},
		{name: "gate refuses", method: "POST", path: "/api/v1/patches/PATCH-1/transitions", role: "engineer", body: `{}`,
			status: 409, problem: "gate", gate: "has_trigger", want: []string{"refused by gate has_trigger"}},
		{name: "link a KEV CVE", method: "POST", path: "/api/v1/patches/PATCH-1/links", role: "engineer",
			body: `{"type":"vulnerability","ref":"cve-2024-3094","attributes":{"cvss":10,"kev":true}}`, status: 201, want: []string{`"ref":"CVE-2024-3094"`}},
		{name: "now emergency", method: "GET", path: "/api/v1/patches/PATCH-1", role: "viewer", status: 200,
			want: []string{`"priority":"emergency"`, `"priority_rule":"emergency-exploited-or-critical"`, `"revision":2`}},
		{name: "stale revision", method: "POST", path: "/api/v1/patches/PATCH-1/transitions", role: "engineer", body: `{"revision":1}`,
			status: 409, problem: "conflict", want: []string{"changed by someone else"}},
		{name: "advance", method: "POST", path: "/api/v1/patches/PATCH-1/transitions", role: "engineer", body: `{"revision":2}`,
			status: 200, want: []string{`"to":"in_progress"`}},
		{name: "filter emergency", method: "GET", path: "/api/v1/patches?priority=emergency&state=in_progress", role: "viewer", status: 200,
			want: []string{`"PATCH-1"`, `"more":false`}},
		{name: "bad filter", method: "GET", path: "/api/v1/patches?priority=urgent", role: "viewer", status: 400, problem: "invalid", field: "query.priority[0]"},
		{name: "not found", method: "GET", path: "/api/v1/patches/PATCH-77", role: "viewer", status: 404, problem: "not_found"},
		{name: "bad id", method: "GET", path: "/api/v1/patches/77x", role: "viewer", status: 400, problem: "invalid", field: "id"},
		{name: "evidence needs fields", method: "POST", path: "/api/v1/patches/PATCH-1/evidence", role: "engineer",
			body: `{"kind":"deployment","version":"abc"}`, status: 400, problem: "invalid", field: "environment"},
		{name: "evidence", method: "POST", path: "/api/v1/patches/PATCH-1/evidence", role: "engineer",
			body: `{"kind":"branch","ref":"patch/PATCH-1-upgrade-openssl"}`, status: 201},
		{name: "engineer cannot override", method: "POST", path: "/api/v1/patches/PATCH-1/overrides", role: "engineer",
			body: `{"justification":"the PR is in the private mirror"}`, status: 403, problem: "forbidden"},
		{name: "lead overrides", method: "POST", path: "/api/v1/patches/PATCH-1/overrides", role: "lead",
			body: `{"justification":"the PR is in the private mirror"}`, status: 200, want: []string{`"overridden":["pull_request_open"]`}},
		{name: "overrides listed", method: "GET", path: "/api/v1/overrides", role: "viewer", status: 200,
			want: []string{`"patch":"PATCH-1"`, `"actor":"lena"`}},
		{name: "engineer cannot roll back", method: "POST", path: "/api/v1/patches/PATCH-1/rollback", role: "engineer",
			body: `{"severity":"sev2","reason":"errors"}`, status: 403, problem: "forbidden", want: []string{"oncall or lead"}},
		{name: "engineer cannot list tokens", method: "GET", path: "/api/v1/tokens", role: "engineer", status: 403, problem: "forbidden"},
		{name: "admin lists tokens", method: "GET", path: "/api/v1/tokens", role: "admin", status: 200, want: []string{`"name":"erin"`}},
		{name: "bad role", method: "POST", path: "/api/v1/tokens", role: "admin", body: `{"name":"x","role":"root"}`, status: 400, problem: "invalid", field: "role"},
		{name: "status", method: "GET", path: "/api/v1/status", role: "viewer", status: 200, want: []string{`"engine":"sqlite"`, `"sop":"SOP-005"`}},
		{name: "timers", method: "GET", path: "/api/v1/timers?kind=sla.", role: "viewer", status: 200, want: []string{`"kind":"sla.breach"`}},
		{name: "page on emergency", method: "GET", path: "/api/v1/notifications?topic=page.*", role: "viewer", status: 200, want: []string{`"subject":"PATCH-1"`}},
		{name: "audit by subject", method: "GET", path: "/api/v1/audit?subject=PATCH-1&action=patch.transition", role: "viewer", status: 200,
			want: []string{`"actor":"lena"`, `"justification":"the PR is in the private mirror"`}},
		{name: "audit verify", method: "GET", path: "/api/v1/audit/verify", role: "viewer", status: 200, want: []string{`"ok":true`}},
	})

	// A token created over the API works, and stops working when revoked.
	status, body, _ := do(t, s, call{method: "POST", path: "/api/v1/tokens", role: "admin", body: `{"name":"ci-bot","role":"engineer","ttl":"30d"}`})
	if status != 201 {
		t.Fatalf("create token: %d %s", status, body)
	}
	var nt struct {
		Secret string `json:"secret"`
		Token  struct {
			ID int64 `json:"id"`
		} `json:"token"`
	}
	if err := json.Unmarshal(body, &nt); err != nil || !strings.HasPrefix(nt.Secret, "pct_") {
		t.Fatalf("new token: %s", body)
	}
	run(t, s, []call{
		{name: "new token works", method: "GET", path: "/api/v1/patches", token: nt.Secret, status: 200},
		{name: "revoke", method: "DELETE", path: "/api/v1/tokens/" + itoa(nt.Token.ID), role: "admin", status: 200, want: []string{`"revoked_by":"ada"`}},
		{name: "revoked token refused", method: "GET", path: "/api/v1/patches", token: nt.Secret, status: 401, problem: "unauthorized"},
	})
	// The stored token is a hash: the secret appears nowhere in the database.
	var n int
	if err := s.App.DB.Read().QueryRowCount(t.Context(), nt.Secret, &n); err != nil || n != 0 {
		t.Errorf("secret stored in clear (%d rows, %v)", n, err)
	}

	// Export: one JSON event per line, chained.
	status, body, hdr := do(t, s, call{method: "GET", path: "/api/v1/audit/export", role: "viewer"})
	if status != 200 || hdr.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("export: %d %s", status, hdr.Get("Content-Type"))
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	prev, lines := "", 0
	for sc.Scan() {
		var e patchctl.AuditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %d: %v", lines+1, err)
		}
		if e.PrevHash != prev {
			t.Fatalf("line %d does not chain", lines+1)
		}
		prev = e.Hash
		lines++
	}
	if lines < 8 {
		t.Errorf("exported %d events", lines)
	}
	_ = store.AuditFilter{}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestOpenAPIMatchesRouter checks that every registered route is in the
// OpenAPI document and every documented operation is served.
func TestOpenAPIMatchesRouter(t *testing.T) {
	s := apptest.StartServer(t, apptest.Options{})
	resp, err := http.Get(s.URL + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %s", doc.OpenAPI)
	}
	var documented, routed []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	for _, r := range s.App.API.Routes() {
		routed = append(routed, r.Method+" "+r.Path)
	}
	sort.Strings(documented)
	sort.Strings(routed)
	if strings.Join(documented, "\n") != strings.Join(routed, "\n") {
		t.Fatalf("documented:\n%s\n\nrouted:\n%s", strings.Join(documented, "\n"), strings.Join(routed, "\n"))
	}
	// Every documented operation reaches a handler: without a token the
	// answer is 401 from the API, never the mux's 404 or 405.
	for _, op := range documented {
		method, path, _ := strings.Cut(op, " ")
		path = strings.NewReplacer("{id}", "PATCH-1", "{link}", "1", "{seq}", "1").Replace(path)
		req, _ := http.NewRequest(method, s.URL+httpapi.Prefix+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s: %d, want 401 from an authenticated handler", method, path, resp.StatusCode)
		}
	}
	if len(documented) < 25 {
		t.Errorf("only %d operations documented", len(documented))
	}
}
