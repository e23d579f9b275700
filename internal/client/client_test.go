package client

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/store"
)

// seen is what the fake server saw of one request.
type seen struct {
	Method, Path, Query, ContentType, Accept, Auth, Body string
}

func fakeServer(t *testing.T, status int, answer string) (*Client, *[]seen) {
	t.Helper()
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"), r.Header.Get("Accept"),
			r.Header.Get("Authorization"), string(b)})
		if status >= 400 {
			w.Header().Set("Content-Type", "application/problem+json")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL+"/", "pct_secret", nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, &got
}

func TestRequests(t *testing.T) {
	ctx := context.Background()
	c, got := fakeServer(t, 200, `{"id":7,"name":"ci"}`)
	if _, err := c.RevokeToken(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Announce(ctx, "PATCH-1", "team", "hi"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ImportPlan(ctx, "PATCH-1", strings.NewReader("{plan}"), "plan.json"); err != nil {
		t.Fatal(err)
	}
	want := []seen{
		{"DELETE", "/api/v1/tokens/7", "", "", "application/json", "Bearer pct_secret", ""},
		{"POST", "/api/v1/patches/PATCH-1/announcements", "", "application/json", "application/json", "Bearer pct_secret", `{"channel":"team","message":"hi"}`},
		{"POST", "/api/v1/patches/PATCH-1/tfplan", "ref=plan.json", "application/octet-stream", "application/json", "Bearer pct_secret", "{plan}"},
	}
	if d := cmp.Diff(want, *got); d != "" {
		t.Errorf("requests (-want +got):\n%s", d)
	}
}

func TestListQueries(t *testing.T) {
	ctx := context.Background()
	c, got := fakeServer(t, 200, `{}`)
	open := true
	if _, err := c.ListPatches(ctx, store.PatchFilter{Kinds: []patchctl.Kind{patchctl.KindApplication, patchctl.KindKubernetes},
		Priorities: []patchctl.Priority{patchctl.PriorityHigh}, Open: &open, Limit: 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListFindings(ctx, store.FindingFilter{Severities: []patchctl.Severity{patchctl.SeverityCritical, patchctl.SeverityHigh},
		States: []patchctl.FindingState{patchctl.FindingOpen}, PatchID: 4}); err != nil {
		t.Fatal(err)
	}
	want := []string{"kind=application%2Ckubernetes&limit=5&open=true&priority=high", "patch=PATCH-4&severity=critical%2Chigh&state=open"}
	for i, s := range *got {
		if s.Query != want[i] {
			t.Errorf("%s: query %s, want %s", s.Path, s.Query, want[i])
		}
	}
}

func TestProblems(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		status int
		answer string
		want   *patchctl.Error
	}{
		{"gate", 409, `{"status":409,"code":"gate","detail":"refused","gates":[{"gate":"review","missing":"an approval"}]}`,
			&patchctl.Error{Code: patchctl.CodeGate, Message: "refused", Gates: []patchctl.GateResult{{Gate: "review", Missing: "an approval"}}}},
		{"no code", 404, `{"status":404,"detail":"no such patch"}`, &patchctl.Error{Code: patchctl.CodeNotFound, Message: "no such patch"}},
		{"not a problem", 502, `<html>`, &patchctl.Error{Code: patchctl.CodeUnavailable, Message: "server answered 502 Bad Gateway"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := fakeServer(t, tc.status, tc.answer)
			// A JSON call and an upload take the same way.
			_, err := c.Patch(ctx, "PATCH-1")
			_, uerr := c.ImportState(ctx, "PATCH-1", strings.NewReader("{}"), "")
			for _, err := range []error{err, uerr} {
				if d := cmp.Diff(tc.want, err); d != "" {
					t.Errorf("error (-want +got):\n%s", d)
				}
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	c, err := New("http://127.0.0.1:1", "pct_secret", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Status(context.Background())
	if patchctl.ErrorCode(err) != patchctl.CodeUnavailable || !strings.HasPrefix(err.Error(), "cannot reach the server at http://127.0.0.1:1: ") {
		t.Errorf("status: %v", err)
	}
	_, err = c.Import(context.Background(), "trivy", "", "", strings.NewReader("{}"), 2, nil)
	if patchctl.ErrorCode(err) != patchctl.CodeUnavailable || !strings.HasPrefix(err.Error(), "cannot reach the server: ") {
		t.Errorf("import: %v", err)
	}
}

func TestImportPollsAJob(t *testing.T) {
	var polls int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == "POST" && r.URL.Path == "/api/v1/imports":
			if r.ContentLength != 4 || r.Header.Get("Content-Type") != "application/octet-stream" {
				t.Errorf("upload: length %d, type %q", r.ContentLength, r.Header.Get("Content-Type"))
			}
			w.WriteHeader(http.StatusAccepted)
			_, _ = io.WriteString(w, `{"import":{"id":3,"status":"running"}}`)
		case r.URL.Path == "/api/v1/imports/3":
			polls++
			status := "running"
			if polls == 2 {
				status = "done"
			}
			_, _ = io.WriteString(w, `{"import":{"id":3,"status":"`+status+`","records":`+map[bool]string{true: "9", false: "4"}[polls == 2]+`}}`)
		default:
			t.Errorf("unexpected %s %s", r.Method, r.URL)
		}
	}))
	defer srv.Close()
	c, _ := New(srv.URL, "pct_secret", nil)
	var records []int64
	res, err := c.Import(context.Background(), "trivy", "", "r.json", strings.NewReader("{}\n\n"), 4, func(_, _, n int64) { records = append(records, n) })
	if err != nil {
		t.Fatal(err)
	}
	if res.Import.Status != store.ImportDone || cmp.Diff([]int64{4, 9}, records) != "" {
		t.Errorf("status %s, progress %v", res.Import.Status, records)
	}
}
