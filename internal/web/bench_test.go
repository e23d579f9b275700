package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/config"
	"github.com/patchctl/patchctl/internal/demo"
	"github.com/patchctl/patchctl/internal/policy"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
	"github.com/patchctl/patchctl/internal/web"
)

// The page benchmarks render each page through the real handler, on SQLite,
// with 100,000 patches (demo.Bulk) plus one patch walked to production with
// its evidence and timeline. They report the server time of one page as
// p50-ms and p99-ms. The database is seeded once per test binary (seeding
// takes tens of seconds) and removed when the binary ends.
//
//	go test ./internal/web -run '^$' -bench 'Dashboard|PatchesPage|PatchPage|BoardPage|AuditPage' -benchtime 200x

const benchPatches = 100_000

var benchNow = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

var bench struct {
	once    sync.Once
	dir     string
	err     error
	handler http.Handler
	cookie  *http.Cookie
	walked  string // the patch with a full history
	seeded  time.Duration
}

// benchDir holds the seeded database; TestMain removes it.
func removeBenchDB() {
	if bench.dir != "" {
		os.RemoveAll(bench.dir)
	}
}

func benchSetup(b *testing.B) {
	b.Helper()
	bench.once.Do(func() {
		start := time.Now()
		bench.err = seedBench()
		bench.seeded = time.Since(start)
	})
	if bench.err != nil {
		b.Fatal(bench.err)
	}
}

func seedBench() error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "patchctl-web-bench-")
	if err != nil {
		return err
	}
	bench.dir = dir
	cfg := config.Default()
	cfg.Clusters = []config.Cluster{
		{Name: "mgmt", Role: config.ClusterManagement, NodePools: []string{"system"}},
		{Name: "main", Role: config.ClusterMain, NodePools: []string{"pool-a", "pool-b"}},
	}
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "bench.db"), nil)
	if err != nil {
		return err
	}
	if _, err := db.Migrate(ctx); err != nil {
		return err
	}
	pol, ps := policy.New(cfg)
	if len(ps) > 0 {
		return ps
	}
	if err := demo.Bulk(ctx, db, pol, benchPatches, benchNow, 1); err != nil {
		return err
	}
	now := benchNow
	svc := service.New(db, pol, func() time.Time { return now }, nil)
	admin := patchctl.Actor{Name: "local:bench", Role: patchctl.RoleAdmin}
	tok, err := svc.CreateToken(ctx, admin, service.TokenInput{Name: "erin", Role: patchctl.RoleEngineer})
	if err != nil {
		return err
	}
	// One patch with a real history: the patch page shows its gates,
	// evidence and timeline.
	erin := patchctl.Actor{Name: "erin", Role: patchctl.RoleEngineer}
	lena := patchctl.Actor{Name: "lena", Role: patchctl.RoleLead}
	p, err := svc.CreatePatch(ctx, erin, service.CreatePatch{Title: "Upgrade libwebp in storefront", Kind: patchctl.KindApplication,
		Target: patchctl.Target{Application: "storefront"}, Owner: "erin",
		Links: []patchctl.Link{{Type: patchctl.LinkVulnerability, Ref: "CVE-2023-4863", Attributes: patchctl.Attributes{CVSS: 8.8}}}})
	if err != nil {
		return err
	}
	key, branch, v := p.Key, patchctl.BranchPrefix+p.Key, "v2.4.0"
	steps := []func() error{
		func() error { _, err := svc.Transition(ctx, erin, key, service.TransitionInput{}); return err },
		func() error {
			_, err := svc.AddEvidence(ctx, erin, key, patchctl.Evidence{Kind: patchctl.EvidenceBranch, Ref: branch})
			return err
		},
		func() error {
			_, err := svc.AddEvidence(ctx, erin, key, patchctl.Evidence{Kind: patchctl.EvidencePullRequest, Ref: "https://github.com/acme/storefront/pull/7",
				Subject: "erin", Details: map[string]string{"branch": branch}})
			return err
		},
		func() error { _, err := svc.Transition(ctx, erin, key, service.TransitionInput{}); return err },
		func() error {
			_, err := svc.AddEvidence(ctx, erin, key, patchctl.Evidence{Kind: patchctl.EvidenceReview, Subject: "lena", Result: patchctl.ResultApproved})
			return err
		},
		func() error {
			_, err := svc.AddEvidence(ctx, erin, key, patchctl.Evidence{Kind: patchctl.EvidenceMerge, Version: v})
			return err
		},
		func() error { _, err := svc.Transition(ctx, erin, key, service.TransitionInput{}); return err },
		func() error {
			_, err := svc.AddEvidence(ctx, erin, key, patchctl.Evidence{Kind: patchctl.EvidenceDeployment, Environment: "staging", Version: v})
			return err
		},
		func() error { _, err := svc.Transition(ctx, erin, key, service.TransitionInput{}); return err },
		func() error {
			_, err := svc.AddEvidence(ctx, erin, key, patchctl.Evidence{Kind: patchctl.EvidenceTestRun, Environment: "staging", Version: v, Result: patchctl.ResultPassed, Ref: "run/1"})
			return err
		},
		func() error {
			_, err := svc.AddEvidence(ctx, lena, key, patchctl.Evidence{Kind: patchctl.EvidenceSignoff, Environment: "staging", Version: v})
			return err
		},
		func() error { _, err := svc.Transition(ctx, erin, key, service.TransitionInput{}); return err },
		func() error {
			_, err := svc.AddEvidence(ctx, erin, key, patchctl.Evidence{Kind: patchctl.EvidenceDeployment, Environment: "production", Version: v})
			return err
		},
		func() error { _, err := svc.Transition(ctx, erin, key, service.TransitionInput{}); return err },
	}
	for i, step := range steps {
		now = now.Add(time.Minute)
		if err := step(); err != nil {
			return fmt.Errorf("bench patch step %d: %w", i, err)
		}
	}
	ns, err := svc.SignIn(ctx, tok.Secret, "bench")
	if err != nil {
		return err
	}
	ui, err := web.New(svc, web.Options{})
	if err != nil {
		return err
	}
	bench.handler = ui.Handler()
	bench.cookie = &http.Cookie{Name: "patchctl_session", Value: ns.Secret}
	bench.walked = key
	return nil
}

// benchPage requests path b.N times and reports the 50th and 99th
// percentile of the server time of one request.
func benchPage(b *testing.B, path string) {
	benchSetup(b)
	times := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.AddCookie(bench.cookie)
		rec := httptest.NewRecorder()
		start := time.Now()
		bench.handler.ServeHTTP(rec, req)
		times = append(times, time.Since(start))
		if rec.Code != http.StatusOK {
			b.Fatalf("GET %s: %d\n%s", path, rec.Code, excerpt(rec.Body.String()))
		}
	}
	b.StopTimer()
	slices.Sort(times)
	pct := func(p float64) float64 {
		i := int(p * float64(len(times)-1))
		return float64(times[i].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

func BenchmarkDashboard(b *testing.B) {
	benchPage(b, "/")
}

func BenchmarkPatchesPage(b *testing.B) {
	for _, c := range []struct{ name, query string }{
		{"open", ""},
		{"overdue", "?overdue=1"},
		{"kind", "?kind=kubernetes"},
		{"priority-overdue", "?priority=emergency&overdue=1"},
		{"owner", "?owner=otto"},
		{"text", "?q=checkout"},
		{"text-rare", "?q=libwebp"},
		{"closed", "?state=closed"},
		{"state", "?state=staging"},
		{"all-page-20", "?state=all&offset=950"},
	} {
		b.Run(c.name, func(b *testing.B) { benchPage(b, "/patches"+c.query) })
	}
}

func BenchmarkPatchPage(b *testing.B) {
	b.Run("walked", func(b *testing.B) { benchSetup(b); benchPage(b, "/patches/"+bench.walked) })
	b.Run("bulk", func(b *testing.B) { benchPage(b, "/patches/PATCH-4242") })
}

func BenchmarkBoardPage(b *testing.B) {
	for _, q := range []string{"application", "kubernetes", "infrastructure"} {
		b.Run(q, func(b *testing.B) { benchPage(b, "/patches/board?kind="+q) })
	}
}

func BenchmarkAuditPage(b *testing.B) {
	benchPage(b, "/audit")
}
