package intake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/config"
	"github.com/patchctl/patchctl/internal/importer"
	"github.com/patchctl/patchctl/internal/intake"
	"github.com/patchctl/patchctl/internal/policy"
	"github.com/patchctl/patchctl/internal/scheduler"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
	"github.com/patchctl/patchctl/internal/testutil/corpus"
	"github.com/patchctl/patchctl/internal/testutil/fakeclock"
	"github.com/patchctl/patchctl/internal/testutil/pgtest"
	"github.com/patchctl/patchctl/internal/testutil/testdb"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var (
	start = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	erin  = patchctl.Actor{Name: "erin", Role: patchctl.RoleEngineer}
	lena  = patchctl.Actor{Name: "lena", Role: patchctl.RoleLead}
	vera  = patchctl.Actor{Name: "vera", Role: patchctl.RoleViewer}
)

type fix struct {
	t     *testing.T
	ctx   context.Context
	db    *store.DB
	svc   *service.Service
	in    *intake.Intake
	clock *fakeclock.Clock
}

func newFix(t *testing.T, db *store.DB) *fix {
	pol, ps := policy.New(config.Default())
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	clk := fakeclock.New(start)
	svc := service.New(db, pol, clk.Now, nil)
	return &fix{t: t, ctx: context.Background(), db: db, svc: svc, in: intake.New(svc, nil), clock: clk}
}

func each(t *testing.T, fn func(t *testing.T, f *fix)) {
	testdb.Each(t, func(t *testing.T, db *store.DB) { fn(t, newFix(t, db)) })
}

func (f *fix) importBytes(data []byte, opts intake.Options) (*intake.Summary, error) {
	return f.in.Import(f.ctx, erin, bytes.NewReader(data), opts)
}

func (f *fix) mustImport(data []byte, opts intake.Options) *intake.Summary {
	f.t.Helper()
	s, err := f.importBytes(data, opts)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func read(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type expected struct {
	Files map[string]struct {
		Format     string         `json:"format"`
		Findings   int            `json:"findings"`
		BySeverity map[string]int `json:"by_severity"`
	} `json:"files"`
}

// TestCorpusImports imports every scanner report of the corpus on both
// engines, auto-detecting the format, and checks the counts against
// EXPECTED.json.
func TestCorpusImports(t *testing.T) {
	var exp expected
	if err := json.Unmarshal(read(t, corpus.Path(t, "EXPECTED.json")), &exp); err != nil {
		t.Fatal(err)
	}
	formatOf := map[string]importer.Format{"trivy-json": importer.FormatTrivy, "grype-json": importer.FormatGrype,
		"osv-scanner-json": importer.FormatOSV, "sarif": importer.FormatSARIF}
	each(t, func(t *testing.T, f *fix) {
		for rel, want := range exp.Files {
			s, err := importAsset(f, read(t, corpus.Path(t, rel)), rel)
			if err != nil {
				t.Errorf("%s: %v", rel, err)
				continue
			}
			if s.Format != string(formatOf[want.Format]) {
				t.Errorf("%s: detected %s, want %s", rel, s.Format, want.Format)
			}
			if s.FindingsInReport != want.Findings {
				t.Errorf("%s: %d findings in report, want %d", rel, s.FindingsInReport, want.Findings)
			}
			raw := s.BySeverityRaw
			if raw == nil {
				raw = map[string]int{}
			}
			if diff := cmp.Diff(want.BySeverity, raw); diff != "" && want.Format != "sarif" {
				t.Errorf("%s: by severity (-want +got):\n%s", rel, diff)
			}
			total := 0
			for _, n := range s.BySeverity {
				total += n
			}
			if total != want.Findings {
				t.Errorf("%s: normalised severities count %d records, want %d", rel, total, want.Findings)
			}
			// The import is audited in its transaction, with its counts.
			evs, err := f.db.Read().AuditEvents(f.ctx, store.AuditFilter{Subject: fmt.Sprintf("import:%d", s.ImportID), Limit: 5})
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 1 || evs[0].Action != "import."+s.Format || !strings.Contains(string(evs[0].Data), fmt.Sprintf(`"findings_new":%d`, s.FindingsNew)) {
				t.Errorf("%s: audit of import %d: %+v", rel, s.ImportID, evs)
			}
		}
		// CycloneDX SBOMs and VEX documents, and the rest of the corpus
		// reports, import without error.
		for _, dir := range []string{"cyclonedx/*.json", "cyclonedx/*.golden", "trivy/*", "grype/*", "osv-scanner/*", "sarif/*"} {
			for _, p := range corpus.Glob(t, dir) {
				if _, err := importAsset(f, read(t, p), filepath.Base(p)); err != nil {
					t.Errorf("%s: %v", filepath.Base(p), err)
				}
			}
		}
		if v, err := f.svc.VerifyAudit(f.ctx, vera); err != nil || !v.OK {
			t.Errorf("audit after imports: %+v %v", v, err)
		}
	})
}

// importAsset imports a report; a report that names no asset (SARIF, some
// VEX documents) is refused with a message asking for one, and imported
// again naming it after the file.
func importAsset(f *fix, data []byte, name string) (*intake.Summary, error) {
	s, err := f.importBytes(data, intake.Options{Source: name})
	if err != nil && strings.Contains(err.Error(), "give one with --asset") {
		return f.importBytes(data, intake.Options{Source: name, Asset: "repository:" + name})
	}
	return s, err
}

// trivyReport builds a one-asset Trivy report with the given vulnerabilities.
func trivyReport(asset string, vulns ...[4]string) []byte {
	type v struct {
		VulnerabilityID, PkgName, InstalledVersion, FixedVersion, Severity string
	}
	var vs []v
	for _, x := range vulns {
		vs = append(vs, v{x[0], x[1], x[2], x[3], "HIGH"})
	}
	doc := map[string]any{
		"SchemaVersion": 2, "ArtifactName": asset, "ArtifactType": "container_image",
		"Results": []map[string]any{{"Target": asset + " (debian 12)", "Class": "os-pkgs", "Type": "debian", "Vulnerabilities": vs}},
	}
	b, _ := json.Marshal(doc)
	return b
}

// TestGroupingModes checks how each grouping rule turns the same package
// and fix on three assets (two builds of one service, one of another) into
// patches, each import finding the patch an earlier one created.
func TestGroupingModes(t *testing.T) {
	for by, want := range map[string]int{"asset_group_package_fix": 2, "asset_package_fix": 3, "package_fix": 1} {
		t.Run(by, func(t *testing.T) {
			cfg := config.Default()
			cfg.Grouping.By = by
			pol, ps := policy.New(cfg)
			if len(ps) > 0 {
				t.Fatal(ps)
			}
			svc := service.New(testdb.Open(t, store.SQLite), pol, fakeclock.New(start).Now, nil)
			in := intake.New(svc, nil)
			created := 0
			for _, img := range []string{"ghcr.io/acme/payments:1.4", "ghcr.io/acme/payments:1.5", "ghcr.io/acme/ledger:2.0"} {
				s, err := in.Import(context.Background(), erin, bytes.NewReader(trivyReport(img, [4]string{"CVE-2024-0001", "openssl", "3.0.7", "3.0.8"})), intake.Options{})
				if err != nil {
					t.Fatal(err)
				}
				created += s.PatchesCreated
				if s.PatchesCreated+s.PatchesUpdated != 1 {
					t.Errorf("%s: %+v", img, s)
				}
			}
			if created != want {
				t.Errorf("%d patches created, want %d", created, want)
			}
		})
	}
}

func TestReimportSemantics(t *testing.T) {
	each(t, func(t *testing.T, f *fix) {
		a := [4]string{"CVE-2024-0001", "openssl", "3.0.7", "3.0.8"}
		b := [4]string{"CVE-2024-0002", "openssl", "3.0.7", "3.0.8"}
		c := [4]string{"CVE-2024-0003", "zlib", "1.2.11", ""}
		const img = "ghcr.io/acme/payments:1.4"
		s := f.mustImport(trivyReport(img, a, b, c), intake.Options{})
		if s.FindingsNew != 3 || s.FindingsNoFix != 1 || s.PatchesCreated != 1 || s.Asset != img {
			t.Fatalf("first import: %+v", s)
		}
		// The patch groups openssl's two CVEs: "upgrade openssl to 3.0.8 in ghcr.io/acme/payments".
		d, err := f.svc.Patch(f.ctx, vera, s.Patches[0])
		if err != nil {
			t.Fatal(err)
		}
		if d.Patch.Title != "Upgrade openssl to 3.0.8 in ghcr.io/acme/payments" || len(d.Links) != 2 || d.Patch.Priority != patchctl.PriorityHigh {
			t.Errorf("patch: %q %d links %s", d.Patch.Title, len(d.Links), d.Patch.Priority)
		}
		// Same file again: nothing but "last seen".
		f.clock.Advance(time.Hour)
		s = f.mustImport(trivyReport(img, a, b, c), intake.Options{})
		if s.FindingsNew != 0 || s.FindingsUnchanged != 3 || s.FindingsUpdated != 0 || s.PatchesCreated != 0 || s.PatchesUpdated != 0 {
			t.Fatalf("identical re-import: %+v", s)
		}
		fl, _ := f.svc.ListFindings(f.ctx, vera, store.FindingFilter{Package: "zlib"})
		if len(fl.Findings) != 1 || !fl.Findings[0].LastSeenAt.Equal(start.Add(time.Hour)) || !fl.Findings[0].FirstSeenAt.Equal(start) {
			t.Errorf("last/first seen after re-import: %+v", fl.Findings[0])
		}
		// b is fixed, c gets a fix.
		f.clock.Advance(time.Hour)
		c2 := c
		c2[3] = "1.3.1"
		s = f.mustImport(trivyReport(img, a, c2), intake.Options{})
		if s.FindingsClosed != 1 || s.FindingsUpdated != 1 || s.FindingsUnchanged != 1 || s.PatchesCreated != 1 {
			t.Fatalf("changed re-import: %+v", s)
		}
		fl, _ = f.svc.ListFindings(f.ctx, vera, store.FindingFilter{VulnID: "CVE-2024-0002"})
		if got := fl.Findings[0]; got.State != patchctl.FindingClosed || got.ClosedByImport != s.ImportID {
			t.Errorf("closed finding: %+v", got)
		}
		// b comes back.
		s = f.mustImport(trivyReport(img, a, b, c2), intake.Options{})
		if s.FindingsReopened != 1 || s.FindingsNew != 0 {
			t.Fatalf("reopening re-import: %+v", s)
		}
		fl, _ = f.svc.ListFindings(f.ctx, vera, store.FindingFilter{VulnID: "CVE-2024-0002"})
		if got := fl.Findings[0]; got.State != patchctl.FindingOpen || !got.FirstSeenAt.Equal(start) {
			t.Errorf("reopened finding keeps its first detection: %+v", got)
		}
		// A report that parses but lists nothing for the asset closes it all.
		s = f.mustImport(trivyReport(img), intake.Options{})
		if s.FindingsClosed != 3 || len(s.Notes) == 0 || !strings.Contains(s.Notes[0], "lists no vulnerabilities for "+img) {
			t.Fatalf("empty report: %+v", s)
		}
		// The first report again, byte for byte: not a no-op any more, the
		// asset was imported since. Everything it lists reopens.
		s = f.mustImport(trivyReport(img, a, b, c), intake.Options{})
		if s.FindingsReopened != 3 || len(s.Notes) > 0 && strings.Contains(s.Notes[0], "byte-identical") {
			t.Fatalf("old report after newer imports: %+v", s)
		}
		// And now it is the latest import of its asset: again, a no-op.
		s = f.mustImport(trivyReport(img, a, b, c), intake.Options{})
		if s.FindingsUnchanged != 3 || len(s.Notes) == 0 || !strings.Contains(s.Notes[0], "byte-identical") {
			t.Fatalf("identical re-import: %+v", s)
		}
		// Streamed (not seekable) input takes the full path with the same result.
		s, err = f.in.Import(f.ctx, erin, io.MultiReader(bytes.NewReader(trivyReport(img, a, b, c))), intake.Options{})
		if err != nil || s.FindingsUnchanged != 3 || s.FindingsNew != 0 || strings.Contains(strings.Join(s.Notes, " "), "byte-identical") {
			t.Fatalf("streamed identical re-import: %+v %v", s, err)
		}
	})
}

func TestFailedImportChangesNothing(t *testing.T) {
	each(t, func(t *testing.T, f *fix) {
		const img = "ghcr.io/acme/payments:1.4"
		rep := trivyReport(img, [4]string{"CVE-2024-0001", "openssl", "3.0.7", "3.0.8"}, [4]string{"CVE-2024-0002", "curl", "8.0", "8.1"})
		f.mustImport(rep, intake.Options{})
		headBefore, _, _ := f.db.Read().AuditHead(f.ctx)
		// Truncated: a parse error after some findings were read.
		_, err := f.importBytes(rep[:len(rep)-40], intake.Options{})
		if patchctl.ErrorCode(err) != patchctl.CodeInvalid || !strings.Contains(err.Error(), "line") {
			t.Fatalf("truncated report: %v", err)
		}
		// Wrong format for the parser named.
		_, err = f.importBytes(read(t, corpus.Path(t, "grype/ghsa-test.json")), intake.Options{Format: importer.FormatTrivy})
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), "grype") {
			t.Fatalf("grype report given as trivy: %v", err)
		}
		fl, _ := f.svc.ListFindings(f.ctx, vera, store.FindingFilter{States: []patchctl.FindingState{patchctl.FindingOpen}})
		headAfter, _, _ := f.db.Read().AuditHead(f.ctx)
		if len(fl.Findings) != 2 || headAfter != headBefore {
			t.Errorf("after failed imports: %d open findings, audit head %d → %d", len(fl.Findings), headBefore, headAfter)
		}
		ims, _ := f.db.Read().Imports(f.ctx, 10)
		if len(ims) != 3 || ims[0].Status != store.ImportFailed || ims[0].Error == "" {
			t.Errorf("imports: %+v", ims[0])
		}
	})
}

func TestAliasesMerge(t *testing.T) {
	each(t, func(t *testing.T, f *fix) {
		// An OSV-Scanner report names GO-2021-0053 with its CVE alias; Trivy
		// names the CVE: on the same asset they are one finding.
		osv := `{"results":[{"source":{"path":"/src/go.mod","type":"lockfile"},"packages":[{"package":{"name":"github.com/gogo/protobuf","version":"1.3.1","ecosystem":"Go"},
			"vulnerabilities":[{"id":"GO-2021-0053","aliases":["CVE-2021-3121","GHSA-c3h9-896r-86jm"],"affected":[{"package":{"name":"github.com/gogo/protobuf","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.3.2"}]}]}]}]}]}]}`
		s := f.mustImport([]byte(osv), intake.Options{Asset: "repository:github.com/acme/payments"})
		if s.FindingsNew != 1 {
			t.Fatalf("osv import: %+v", s)
		}
		fl, _ := f.svc.ListFindings(f.ctx, vera, store.FindingFilter{})
		if fl.Findings[0].VulnID != "CVE-2021-3121" || !cmp.Equal(fl.Findings[0].Aliases, []string{"GHSA-c3h9-896r-86jm", "GO-2021-0053"}) {
			t.Errorf("canonical id: %s aliases %v", fl.Findings[0].VulnID, fl.Findings[0].Aliases)
		}
		trivy := trivyReport("x", [4]string{"GHSA-c3h9-896r-86jm", "github.com/gogo/protobuf", "1.3.1", "1.3.2"})
		s = f.mustImport(trivy, intake.Options{Asset: "repository:github.com/acme/payments"})
		if s.FindingsNew != 0 || s.FindingsUpdated+s.FindingsUnchanged != 1 {
			t.Errorf("same vulnerability by its GHSA id: %+v", s)
		}
		// An OSV record teaches an alias after the fact: findings move.
		s2 := f.mustImport(trivyReport("y", [4]string{"GO-2022-0236", "golang.org/x/net", "0.0.1", "0.0.2"}), intake.Options{Asset: "repository:github.com/acme/api"})
		if s2.FindingsNew != 1 {
			t.Fatal(s2)
		}
		sum, err := f.in.ImportOSVRecord(f.ctx, erin, bytes.NewReader(read(t, corpus.Path(t, "osv-advisories/GO-2022-0236.json"))))
		if err != nil || sum.FindingsAffected != 1 {
			t.Fatalf("osv record: %+v %v", sum, err)
		}
		fl, _ = f.svc.ListFindings(f.ctx, vera, store.FindingFilter{Asset: "github.com/acme/api"})
		if !strings.HasPrefix(fl.Findings[0].VulnID, "CVE-") {
			t.Errorf("after the OSV record the finding is filed under %s", fl.Findings[0].VulnID)
		}
	})
}

// TestAliasSpellingsMerge checks that ids are compared in their normal
// spelling: a report that writes them in other cases, with spaces, files
// and finds the same finding.
func TestAliasSpellingsMerge(t *testing.T) {
	each(t, func(t *testing.T, f *fix) {
		osv := `{"results":[{"source":{"path":"/src/go.mod","type":"lockfile"},"packages":[{"package":{"name":"github.com/gogo/protobuf","version":"1.3.1","ecosystem":"Go"},
			"vulnerabilities":[{"id":"go-2021-0053","aliases":[" cve-2021-3121","GHSA-C3H9-896R-86JM"],"affected":[{"package":{"name":"github.com/gogo/protobuf","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.3.2"}]}]}]}]}]}]}`
		if s := f.mustImport([]byte(osv), intake.Options{Asset: "repository:github.com/acme/payments"}); s.FindingsNew != 1 {
			t.Fatalf("osv import: %+v", s)
		}
		fl, _ := f.svc.ListFindings(f.ctx, vera, store.FindingFilter{})
		if fl.Findings[0].VulnID != "CVE-2021-3121" || !cmp.Equal(fl.Findings[0].Aliases, []string{"GHSA-c3h9-896r-86jm", "GO-2021-0053"}) {
			t.Errorf("canonical id: %s aliases %v", fl.Findings[0].VulnID, fl.Findings[0].Aliases)
		}
		trivy := trivyReport("x", [4]string{"ghsa-c3h9-896r-86jm ", "github.com/gogo/protobuf", "1.3.1", "1.3.2"})
		if s := f.mustImport(trivy, intake.Options{Asset: "repository:github.com/acme/payments"}); s.FindingsNew != 0 || s.FindingsUpdated+s.FindingsUnchanged != 1 {
			t.Errorf("same vulnerability by its GHSA id in lower case: %+v", s)
		}
	})
}

// TestImportAfterKEV checks that findings of a vulnerability already on
// KEV are marked so, also when the report names it by another id whose
// alias an earlier record of the same report taught.
func TestImportAfterKEV(t *testing.T) {
	each(t, func(t *testing.T, f *fix) {
		if _, err := f.in.ImportKEV(f.ctx, erin, bytes.NewReader(read(t, "testdata/kev-small.json"))); err != nil {
			t.Fatal(err)
		}
		osv := `{"results":[{"source":{"path":"/src/go.mod","type":"lockfile"},"packages":[
			{"package":{"name":"xz","version":"5.6.0","ecosystem":"Go"},"vulnerabilities":[{"id":"GHSA-rxwq-x6h5-x525","aliases":["CVE-2024-3094"]}]},
			{"package":{"name":"liblzma","version":"5.6.0","ecosystem":"Go"},"vulnerabilities":[{"id":"GHSA-rxwq-x6h5-x525"}]},
			{"package":{"name":"zlib","version":"1.2.11","ecosystem":"Go"},"vulnerabilities":[{"id":"CVE-2022-37434"}]}]}]}`
		if s := f.mustImport([]byte(osv), intake.Options{Asset: "repository:github.com/acme/payments"}); s.FindingsNew != 3 {
			t.Fatalf("import: %+v", s)
		}
		fl, _ := f.svc.ListFindings(f.ctx, vera, store.FindingFilter{Limit: 10})
		kev := map[string]bool{}
		for _, fi := range fl.Findings {
			kev[fi.VulnID+" "+fi.Package] = fi.KEV
		}
		if want := map[string]bool{"CVE-2024-3094 xz": true, "CVE-2024-3094 liblzma": true, "CVE-2022-37434 zlib": false}; !cmp.Equal(kev, want) {
			t.Errorf("KEV by finding: %v, want %v", kev, want)
		}
	})
}

func TestKEVEscalatesPatch(t *testing.T) {
	each(t, func(t *testing.T, f *fix) {
		s := f.mustImport(read(t, corpus.Path(t, "trivy/alpine-310.json.golden")), intake.Options{})
		if s.PatchesCreated == 0 {
			t.Fatalf("no patch created: %+v", s)
		}
		fl, _ := f.svc.ListFindings(f.ctx, vera, store.FindingFilter{VulnID: "CVE-2019-1549"})
		if len(fl.Findings) == 0 || fl.Findings[0].KEV || fl.Findings[0].PatchKey == "" {
			t.Fatalf("finding before KEV: %+v", fl.Findings)
		}
		key := fl.Findings[0].PatchKey
		before, _ := f.svc.Patch(f.ctx, vera, key)
		if before.Patch.Priority == patchctl.PriorityEmergency {
			t.Fatalf("already emergency")
		}
		f.clock.Advance(24 * time.Hour)
		sum, err := f.in.ImportKEV(f.ctx, erin, bytes.NewReader(read(t, "testdata/kev-small.json")))
		if err != nil {
			t.Fatal(err)
		}
		if sum.New != 2 || !contains(sum.Escalated, key) {
			t.Fatalf("kev summary: %+v", sum)
		}
		after, _ := f.svc.Patch(f.ctx, vera, key)
		if after.Patch.Priority != patchctl.PriorityEmergency {
			t.Fatalf("after KEV: %s", after.Patch.Priority)
		}
		last := after.Priority[len(after.Priority)-1]
		if !strings.Contains(last.Reason, "CVE-2019-1549 added to the CISA KEV catalog 2026-11-20") || last.From != before.Patch.Priority {
			t.Errorf("priority history: %+v", last)
		}
		// Due from the earliest detection, not from the KEV date.
		if !after.Patch.DueAt.Equal(start.Add(24 * time.Hour)) {
			t.Errorf("due %v, want detection + 24h", after.Patch.DueAt)
		}
		msgs, _ := f.svc.Outbox(f.ctx, vera, store.OutboxFilter{Subject: key})
		topics := map[string]bool{}
		for _, m := range msgs {
			topics[m.Topic] = true
		}
		if !topics[service.TopicPageOncall] || !topics[service.TopicEscalated] {
			t.Errorf("outbox for %s: %v", key, topics)
		}
		fl, _ = f.svc.ListFindings(f.ctx, vera, store.FindingFilter{VulnID: "CVE-2019-1549"})
		if !fl.Findings[0].KEV {
			t.Errorf("finding not marked KEV")
		}
		// Importing the same catalog again changes nothing.
		sum, _ = f.in.ImportKEV(f.ctx, erin, bytes.NewReader(read(t, "testdata/kev-small.json")))
		if sum.New != 0 || len(sum.Escalated) != 0 {
			t.Errorf("second KEV import: %+v", sum)
		}
		// The real catalog imports.
		sum, err = f.in.ImportKEV(f.ctx, erin, bytes.NewReader(read(t, corpus.Path(t, "kev/known_exploited_vulnerabilities.json"))))
		if err != nil || sum.Entries < 1000 {
			t.Errorf("corpus KEV: %+v %v", sum, err)
		}
		// A hand-made patch linked to a CVE newly on KEV escalates too.
		p, err := f.svc.CreatePatch(f.ctx, erin, service.CreatePatch{Title: "xz", Kind: patchctl.KindApplication, Target: patchctl.Target{Application: "a"},
			Links: []patchctl.Link{{Type: patchctl.LinkVulnerability, Ref: "CVE-2024-3095", Attributes: patchctl.Attributes{CVSS: 5}}}})
		if err != nil {
			t.Fatal(err)
		}
		kev := strings.ReplaceAll(string(read(t, "testdata/kev-small.json")), "CVE-2024-3094", "CVE-2024-3095")
		sum, err = f.in.ImportKEV(f.ctx, erin, strings.NewReader(kev))
		if err != nil || !contains(sum.Escalated, p.Key) {
			t.Errorf("hand-made patch: %+v %v", sum, err)
		}
	})
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestRiskAcceptance(t *testing.T) {
	each(t, func(t *testing.T, f *fix) {
		f.mustImport(trivyReport("ghcr.io/acme/web:2", [4]string{"CVE-2024-0009", "libxml2", "2.9", "2.10"}), intake.Options{})
		fl, _ := f.svc.ListFindings(f.ctx, vera, store.FindingFilter{})
		id := fl.Findings[0].ID
		exp := start.Add(14 * 24 * time.Hour)
		in := service.AcceptanceInput{Reason: "not reachable: parser unused", ExpiresAt: &exp}
		if _, err := f.svc.AcceptRisk(f.ctx, erin, id, in); patchctl.ErrorCode(err) != patchctl.CodeForbidden {
			t.Fatalf("engineer accepting: %v", err)
		}
		if _, err := f.svc.AcceptRisk(f.ctx, lena, id, service.AcceptanceInput{Reason: "x"}); patchctl.ErrorCode(err) != patchctl.CodeInvalid {
			t.Fatalf("no expiry: %v", err)
		}
		got, err := f.svc.AcceptRisk(f.ctx, lena, id, in)
		if err != nil || got.State != patchctl.FindingRiskAccepted {
			t.Fatalf("accept: %+v %v", got, err)
		}
		// A re-import keeps the acceptance.
		f.mustImport(trivyReport("ghcr.io/acme/web:2", [4]string{"CVE-2024-0009", "libxml2", "2.9", "2.10"}), intake.Options{})
		d, _ := f.svc.Finding(f.ctx, vera, id)
		if d.Finding.State != patchctl.FindingRiskAccepted || d.Finding.Acceptance.Actor != "lena" {
			t.Fatalf("after re-import: %+v", d.Finding)
		}
		sch := scheduler.New(f.db, f.clock.Now, nil, time.Second)
		sch.Handle(service.TimerAcceptanceExpiry, f.svc.HandleAcceptanceExpiry)
		f.clock.Set(exp.Add(time.Minute))
		if n, err := sch.RunOnce(f.ctx); err != nil || n != 1 {
			t.Fatalf("expiry timer: %d %v", n, err)
		}
		d, _ = f.svc.Finding(f.ctx, vera, id)
		if d.Finding.State != patchctl.FindingOpen || !d.Finding.FirstSeenAt.Equal(start) {
			t.Errorf("after expiry: %+v", d.Finding)
		}
		if len(d.History) != 2 || d.History[1].Action != "finding.acceptance_expired" {
			t.Errorf("history: %+v", d.History)
		}
		if _, err := f.svc.MarkFalsePositive(f.ctx, lena, id, service.AcceptanceInput{Reason: "scanner misreads the distro patch level"}); err != nil {
			t.Fatal(err)
		}
		fl, _ = f.svc.ListFindings(f.ctx, vera, store.FindingFilter{States: []patchctl.FindingState{patchctl.FindingFalsePositive}})
		if len(fl.Findings) != 1 {
			t.Errorf("false positives: %d", len(fl.Findings))
		}
	})
}

func TestVEXSetsState(t *testing.T) {
	each(t, func(t *testing.T, f *fix) {
		for _, name := range []string{"not_affected", "fixed", "under_investigation", "affected"} {
			asset := "sbom:product-" + name
			s, err := f.importBytes(read(t, corpus.Path(t, "cyclonedx/VEX__CISA-Use-Cases__Case-1__vex-"+name+".json")), intake.Options{Asset: asset})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if s.VEXApplied != 1 {
				t.Errorf("%s: %+v", name, s)
			}
			fl, _ := f.svc.ListFindings(f.ctx, vera, store.FindingFilter{Asset: strings.TrimPrefix(asset, "sbom:")})
			want := map[string]patchctl.FindingState{"not_affected": patchctl.FindingNotAffected, "fixed": patchctl.FindingFixed,
				"under_investigation": patchctl.FindingOpen, "affected": patchctl.FindingOpen}[name]
			if len(fl.Findings) != 1 || fl.Findings[0].State != want || fl.Findings[0].VEXState == "" || fl.Findings[0].VulnID != "CVE-2021-44228" {
				t.Errorf("%s: %d findings", name, len(fl.Findings))
				for _, x := range fl.Findings {
					t.Logf("  %+v", *x)
				}
			}
		}
	})
}
