package githubtest

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"
)

func get(t *testing.T, s *Server, path, token string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL+strings.TrimPrefix(path, "/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp, body
}

func TestServer(t *testing.T) {
	s := New(t)
	r := s.AddRepoWithBranch("acme/app", "trunk")

	// A real bare repository with one commit on the default branch.
	out, err := exec.Command("git", "-C", r.Dir, "rev-parse", "--is-bare-repository", "refs/heads/trunk").Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(out))
	if lines[0] != "true" || len(lines[1]) != 40 {
		t.Fatalf("rev-parse = %q", out)
	}
	if sha, ok := r.RevParse("trunk"); !ok || sha != lines[1] {
		t.Errorf("RevParse = %s %v", sha, ok)
	}

	resp, body := get(t, s, "/repos/acme/app", "")
	if resp.StatusCode != http.StatusUnauthorized || body["message"] != "Bad credentials" {
		t.Errorf("no token: %d %v", resp.StatusCode, body)
	}
	resp, body = get(t, s, "/repos/acme/app", s.Token)
	if resp.StatusCode != http.StatusOK || body["default_branch"] != "trunk" || body["full_name"] != "acme/app" {
		t.Errorf("repo: %d %v", resp.StatusCode, body)
	}
	if resp.Header.Get("X-RateLimit-Remaining") == "" {
		t.Error("no rate limit headers")
	}
	resp, body = get(t, s, "/repos/acme/app/git/ref/heads/trunk", s.Token)
	if obj, _ := body["object"].(map[string]any); resp.StatusCode != http.StatusOK || obj["sha"] != lines[1] || body["ref"] != "refs/heads/trunk" {
		t.Errorf("ref: %d %v", resp.StatusCode, body)
	}
	resp, _ = get(t, s, "/repos/acme/other", s.Token)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown repo: %d", resp.StatusCode)
	}

	calls := s.Calls()
	if len(calls) != 4 || calls[0].Status != http.StatusUnauthorized || calls[1].Path != "/repos/acme/app" || calls[3].Status != http.StatusNotFound {
		t.Errorf("calls = %+v", calls)
	}
}
