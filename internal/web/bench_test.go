package web_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/config"
	"github.com/patchctl/patchctl/internal/demo"
	"github.com/patchctl/patchctl/internal/importer"
	"github.com/patchctl/patchctl/internal/intake"
	"github.com/patchctl/patchctl/internal/policy"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
	"github.com/patchctl/patchctl/internal/testutil/corpus"
	"github.com/patchctl/patchctl/internal/web"
)

// The page benchmarks render each page through the real handler, on SQLite,
// with 100,000 patches (demo.Bulk), one patch walked to production with its
// evidence and timeline, and 1,000,000 findings imported through the intake
// from generated Trivy reports (2,000 image builds of 20 services, 500
// findings each; about 1% of the vulnerabilities on KEV, some with EPSS
// scores), plus a few hundred webhook deliveries. They report the server
// time of one page as p50-ms and p99-ms.
//
// Seeding takes a few minutes, so the database is kept in os.TempDir()
// under a name that carries benchVersion, and reused by later runs (delete
// the directory to seed again):
//
//	go test ./internal/web -run '^$' -bench . -benchtime 200x
const benchVersion = "2-100k-patches-1m-findings"

const (
	benchPatches  = 100_000
	benchAssets   = 2_000
	benchFindings = 500 // per asset
	benchServices = 20
)

var benchNow = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

var bench struct {
	once    sync.Once
	err     error
	handler http.Handler
	cookie  *http.Cookie
	walked  string // the patch with a full history
	finding int64  // a finding with a risk acceptance in its history
	imp     int64  // the latest import
}

func benchSetup(b *testing.B) {
	b.Helper()
	templates := []string{corpus.Path(b, "trivy/alpine-310.json.golden"), corpus.Path(b, "trivy/debian-buster.json.golden")}
	bench.once.Do(func() {
		start := time.Now()
		bench.err = openBench(templates)
		b.Logf("bench database ready in %s", time.Since(start).Round(time.Millisecond))
	})
	if bench.err != nil {
		b.Fatal(bench.err)
	}
}

// benchConfig is the configuration of the seeded database.
func benchConfig() *config.Config {
	cfg := config.Default()
	cfg.Clusters = []config.Cluster{
		{Name: "mgmt", Role: config.ClusterManagement, NodePools: []string{"system"}},
		{Name: "main", Role: config.ClusterMain, NodePools: []string{"pool-a", "pool-b"}},
	}
	return cfg
}

// openBench opens the seeded database, seeding it first when no earlier run
// left one, and signs in an engineer.
func openBench(templates []string) error {
	ctx := context.Background()
	dir := filepath.Join(os.TempDir(), "patchctl-web-bench-"+benchVersion)
	path := filepath.Join(dir, "bench.db")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(os.Stderr, "seeding %s (once; later runs reuse it)...\n", dir)
		if err := seedBench(ctx, dir, templates); err != nil {
			return err
		}
	}
	cfg := benchConfig()
	db, err := store.Open(ctx, "sqlite:"+path, nil)
	if err != nil {
		return err
	}
	// Migrations added since the seed apply to the cached database.
	if _, err := db.Migrate(ctx); err != nil {
		return err
	}
	pol, ps := policy.New(cfg)
	if len(ps) > 0 {
		return ps
	}
	now := benchNow.Add(24 * time.Hour)
	svc := service.New(db, pol, func() time.Time { return now }, nil)
	admin := patchctl.Actor{Name: "local:bench", Role: patchctl.RoleAdmin}
	tok, err := svc.CreateToken(ctx, admin, service.TokenInput{Name: "erin", Role: patchctl.RoleEngineer})
	if err != nil {
		return err
	}
	ns, err := svc.SignIn(ctx, tok.Secret, "bench")
	if err != nil {
		return err
	}
	ui, err := web.New(svc, web.Options{Intake: intake.New(svc, nil)})
	if err != nil {
		return err
	}
	bench.handler = ui.Handler()
	bench.cookie = &http.Cookie{Name: "patchctl_session", Value: ns.Secret}

	r := db.Read()
	ps2, _, err := r.ListPatches(ctx, store.PatchFilter{Text: "libwebp", Limit: 1})
	if err != nil || len(ps2) == 0 {
		return fmt.Errorf("the walked patch is missing from the bench database (delete %s): %v", dir, err)
	}
	bench.walked = ps2[0].Key
	fs, _, err := r.ListFindings(ctx, store.FindingFilter{States: []patchctl.FindingState{patchctl.FindingRiskAccepted}, Limit: 1})
	if err != nil || len(fs) == 0 {
		return fmt.Errorf("the accepted finding is missing from the bench database (delete %s): %v", dir, err)
	}
	bench.finding = fs[0].ID
	ims, err := r.Imports(ctx, 1)
	if err != nil || len(ims) == 0 {
		return fmt.Errorf("no import in the bench database (delete %s): %v", dir, err)
	}
	bench.imp = ims[0].ID
	return nil
}

// seedBench builds the benchmark database in a scratch directory and moves
// it to dir when complete, so that an interrupted seed is never reused.
func seedBench(ctx context.Context, dir string, templates []string) (err error) {
	tmp := fmt.Sprintf("%s.seeding-%d", dir, os.Getpid())
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	cfg := benchConfig()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(tmp, "bench.db"), nil)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp, dir)
		}
	}()
	if _, err := db.Migrate(ctx); err != nil {
		return err
	}
	pol, ps := policy.New(cfg)
	if len(ps) > 0 {
		return ps
	}
	start := time.Now()
	if err := demo.Bulk(ctx, db, pol, benchPatches, benchNow, 1); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "  %d patches in %s\n", benchPatches, time.Since(start).Round(time.Second))
	now := benchNow
	svc := service.New(db, pol, func() time.Time { return now }, nil)
	if err := walkBenchPatch(ctx, svc, &now); err != nil {
		return err
	}

	// Enrichment first, so that the reports' findings are enriched as they
	// are inserted: about 1% of the generated vulnerabilities are on KEV,
	// one in five has an EPSS score.
	in := intake.New(svc, nil)
	erin := patchctl.Actor{Name: "erin", Role: patchctl.RoleEngineer}
	var kev strings.Builder
	kev.WriteString(`{"catalogVersion":"2026.11.01","count":0,"vulnerabilities":[`)
	for i := 0; i < 100_000; i += 97 {
		if i > 0 {
			kev.WriteByte(',')
		}
		fmt.Fprintf(&kev, `{"cveID":"CVE-2031-%05d","vendorProject":"acme","product":"libgen","vulnerabilityName":"generated","dateAdded":"2026-10-01","shortDescription":"","requiredAction":"patch","dueDate":"2026-10-22","knownRansomwareCampaignUse":"Unknown","notes":""}`, i)
	}
	kev.WriteString(`]}`)
	if _, err := in.ImportKEV(ctx, erin, strings.NewReader(kev.String())); err != nil {
		return fmt.Errorf("bench KEV catalog: %w", err)
	}
	var epss strings.Builder
	epss.WriteString("#model_version:v2025.03.14,score_date:2026-11-01T00:00:00Z\ncve,epss,percentile\n")
	for i := 0; i < 100_000; i += 5 {
		score := float64((i*7919)%1000) / 1000
		fmt.Fprintf(&epss, "CVE-2031-%05d,%.3f,%.3f\n", i, score, score)
	}
	if _, err := in.ImportEPSS(ctx, erin, strings.NewReader(epss.String())); err != nil {
		return fmt.Errorf("bench EPSS scores: %w", err)
	}

	reports := filepath.Join(tmp, "reports")
	if err := os.Mkdir(reports, 0o755); err != nil {
		return err
	}
	files, _, err := intake.GenerateReports(intake.BenchOptions{Assets: benchAssets, Findings: benchFindings, Groups: benchServices,
		Dir: reports, Templates: templates})
	if err != nil {
		return err
	}
	start = time.Now()
	for i, p := range files {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		now = now.Add(time.Second)
		_, err = in.Import(ctx, erin, f, intake.Options{Format: importer.FormatTrivy, Source: filepath.Base(p)})
		f.Close()
		if err != nil {
			return fmt.Errorf("bench import %s: %w", p, err)
		}
		if (i+1)%250 == 0 {
			fmt.Fprintf(os.Stderr, "  %d reports imported in %s\n", i+1, time.Since(start).Round(time.Second))
		}
	}
	if err := os.RemoveAll(reports); err != nil {
		return err
	}

	// A finding with a history: accepted, then reopened and accepted again;
	// another marked a false positive.
	lena := patchctl.Actor{Name: "lena", Role: patchctl.RoleLead}
	exp := now.Add(90 * 24 * time.Hour)
	for _, step := range []func() error{
		func() error {
			_, err := svc.AcceptRisk(ctx, lena, 4242, service.AcceptanceInput{Reason: "not reachable: the parser is unused", ExpiresAt: &exp})
			return err
		},
		func() error { _, err := svc.ReopenFinding(ctx, lena, 4242, "the parser is used after all"); return err },
		func() error {
			_, err := svc.AcceptRisk(ctx, lena, 4242, service.AcceptanceInput{Reason: "mitigated by the WAF rule 7", ExpiresAt: &exp})
			return err
		},
		func() error {
			_, err := svc.MarkFalsePositive(ctx, lena, 4243, service.AcceptanceInput{Reason: "the scanner matched the wrong package"})
			return err
		},
	} {
		now = now.Add(time.Minute)
		if err := step(); err != nil {
			return fmt.Errorf("bench finding history: %w", err)
		}
	}

	// Webhook deliveries of every status.
	statuses := store.DeliveryStatuses
	return db.InTx(ctx, func(tx *store.Tx) error {
		for i := range 500 {
			d := store.Delivery{Source: "github", DeliveryID: "bench-" + strconv.Itoa(i), Event: "pull_request", Action: "opened",
				ReceivedAt: benchNow.Add(time.Duration(i) * time.Minute), Status: statuses[i%len(statuses)],
				Repository: "acme/svc-" + strconv.Itoa(i%benchServices), Summary: "generated delivery"}
			if i%3 == 0 {
				d.Source, d.Event, d.Action, d.Repository = "argocd", "argocd", "on-deployed", ""
			}
			if err := tx.SaveDelivery(ctx, &d); err != nil {
				return err
			}
		}
		return nil
	})
}

// walkBenchPatch walks one patch to production with its evidence, so that
// the patch page shows gates, evidence and a timeline.
func walkBenchPatch(ctx context.Context, svc *service.Service, now *time.Time) error {
	erin := patchctl.Actor{Name: "erin", Role: patchctl.RoleEngineer}
	lena := patchctl.Actor{Name: "lena", Role: patchctl.RoleLead}
	p, err := svc.CreatePatch(ctx, erin, service.CreatePatch{Title: "Upgrade libwebp in storefront", Kind: patchctl.KindApplication,
		Target: patchctl.Target{Application: "storefront"}, Owner: "erin",
		Links: []patchctl.Link{{Type: patchctl.LinkVulnerability, Ref: "CVE-2023-4863", Attributes: patchctl.Attributes{CVSS: 8.8}}}})
	if err != nil {
		return err
	}
	key, branch, v := p.Key, patchctl.BranchPrefix+p.Key, "v2.4.0"
	advance := func() error { _, err := svc.Transition(ctx, erin, key, service.TransitionInput{}); return err }
	evidence := func(a patchctl.Actor, e patchctl.Evidence) func() error {
		return func() error { _, err := svc.AddEvidence(ctx, a, key, e); return err }
	}
	steps := []func() error{
		advance,
		evidence(erin, patchctl.Evidence{Kind: patchctl.EvidenceBranch, Ref: branch}),
		evidence(erin, patchctl.Evidence{Kind: patchctl.EvidencePullRequest, Ref: "https://github.com/acme/storefront/pull/7",
			Subject: "erin", Details: map[string]string{"branch": branch}}),
		advance,
		evidence(erin, patchctl.Evidence{Kind: patchctl.EvidenceReview, Subject: "lena", Result: patchctl.ResultApproved}),
		evidence(erin, patchctl.Evidence{Kind: patchctl.EvidenceMerge, Version: v}),
		advance,
		evidence(erin, patchctl.Evidence{Kind: patchctl.EvidenceDeployment, Environment: "staging", Version: v}),
		advance,
		evidence(erin, patchctl.Evidence{Kind: patchctl.EvidenceTestRun, Environment: "staging", Version: v, Result: patchctl.ResultPassed, Ref: "run/1"}),
		evidence(lena, patchctl.Evidence{Kind: patchctl.EvidenceSignoff, Environment: "staging", Version: v}),
		advance,
		evidence(erin, patchctl.Evidence{Kind: patchctl.EvidenceDeployment, Environment: "production", Version: v}),
		advance,
	}
	for i, step := range steps {
		*now = now.Add(time.Minute)
		if err := step(); err != nil {
			return fmt.Errorf("bench patch step %d: %w", i, err)
		}
	}
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

func BenchmarkFindingsPage(b *testing.B) {
	for _, c := range []struct{ name, query string }{
		{"open", ""},
		{"severity", "?severity=critical"},
		{"kev", "?kev=true"},
		{"kev-severity", "?kev=true&severity=high"},
		{"not-kev", "?kev=false"},
		{"asset-prefix", "?asset=registry.acme.internal%2Fsvc-003*"},
		{"asset", "?asset=registry.acme.internal%2Fsvc-007%3Abuild-01227"},
		{"package", "?package=libgen7"},
		{"package-absent", "?package=openssl"},
		{"vuln", "?vuln=CVE-2031-00200&state=all"},
		{"patch", "?patch=PATCH-100010"},
		{"epss", "?epss=0.9"},
		{"epss-none", "?epss=1"},
		{"no-fix", "?nofix=1"},
		{"all-states", "?state=all"},
		{"accepted", "?state=risk_accepted"},
		{"deep-page", "?after=3.500000"},
	} {
		b.Run(c.name, func(b *testing.B) { benchPage(b, "/findings"+c.query) })
	}
}

func BenchmarkFindingPage(b *testing.B) {
	benchSetup(b)
	benchPage(b, "/findings/"+strconv.FormatInt(bench.finding, 10))
}

func BenchmarkImportsPage(b *testing.B) {
	b.Run("list", func(b *testing.B) { benchPage(b, "/imports") })
	b.Run("summary", func(b *testing.B) { benchSetup(b); benchPage(b, "/imports/"+strconv.FormatInt(bench.imp, 10)) })
}

func BenchmarkDeliveriesPage(b *testing.B) {
	b.Run("all", func(b *testing.B) { benchPage(b, "/deliveries") })
	b.Run("unmatched", func(b *testing.B) { benchPage(b, "/deliveries?status=unmatched") })
}
