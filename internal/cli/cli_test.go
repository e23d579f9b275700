package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/app/apptest"
	"github.com/patchctl/patchctl/internal/cli"
	"github.com/patchctl/patchctl/internal/testutil/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// runner runs the CLI as a given role against a server.
type runner struct {
	t   *testing.T
	s   *apptest.Server
	env map[string]string
}

func newRunner(t *testing.T, s *apptest.Server) *runner {
	return &runner{t: t, s: s, env: map[string]string{"PATCHCTL_SERVER": s.URL}}
}

func (r *runner) as(role patchctl.Role, args ...string) (int, string, string) {
	r.t.Helper()
	env := map[string]string{"PATCHCTL_TOKEN": r.s.Tokens[role]}
	for k, v := range r.env {
		env[k] = v
	}
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), args, &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

// ok runs a command that must succeed.
func (r *runner) ok(role patchctl.Role, args ...string) string {
	r.t.Helper()
	code, out, errs := r.as(role, args...)
	if code != cli.ExitOK {
		r.t.Fatalf("patchctl %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// refused runs a command that a gate must refuse, naming every gate.
func (r *runner) refused(role patchctl.Role, gates []string, args ...string) {
	r.t.Helper()
	code, out, errs := r.as(role, args...)
	if code != cli.ExitGate {
		r.t.Fatalf("patchctl %s: exit %d, want %d (gate)\n%s%s", strings.Join(args, " "), code, cli.ExitGate, out, errs)
	}
	for _, g := range gates {
		if !strings.Contains(errs, "✗ "+g+":") {
			r.t.Errorf("patchctl %s: refusal does not name gate %s:\n%s", strings.Join(args, " "), g, errs)
		}
	}
	if n := strings.Count(errs, "✗ "); n != len(gates) {
		r.t.Errorf("patchctl %s: %d gates refused, want %v:\n%s", strings.Join(args, " "), n, gates, errs)
	}
}

func (r *runner) code(want int, role patchctl.Role, args ...string) string {
	r.t.Helper()
	code, out, errs := r.as(role, args...)
	if code != want {
		r.t.Fatalf("patchctl %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out, errs)
	}
	return errs
}

const (
	eng    = patchctl.RoleEngineer
	oncall = patchctl.RoleOncall
	lead   = patchctl.RoleLead
	viewer = patchctl.RoleViewer
)

// TestApplicationThroughCLI walks an application patch from draft to done
// with the CLI against a running server; at each step the advance is first
// refused by every gate whose evidence is missing.
func TestApplicationThroughCLI(t *testing.T) {
	s := apptest.StartServer(t, apptest.Options{})
	r := newRunner(t, s)

	out := r.ok(eng, "patch", "create", "--kind", "application", "--app", "payments", "--title", "Upgrade openssl to 3.0.15", "--owner", "erin")
	if !strings.Contains(out, "PATCH-1 created: draft, routine") {
		t.Fatalf("create: %s", out)
	}
	r.refused(eng, []string{"has_trigger"}, "patch", "advance", "PATCH-1")
	r.code(cli.ExitUsage, eng, "patch", "link", "PATCH-1", "--cve", "CVE-2024")
	r.ok(eng, "patch", "link", "PATCH-1", "--cve", "CVE-2024-9143", "--cvss", "7.5")
	r.ok(eng, "patch", "advance", "PATCH-1")

	r.refused(eng, []string{"dedicated_branch", "pull_request_open"}, "patch", "advance", "PATCH-1")
	r.ok(eng, "patch", "evidence", "PATCH-1", "--kind", "branch", "--ref", "patch/PATCH-1-upgrade-openssl")
	r.refused(eng, []string{"pull_request_open"}, "patch", "advance", "PATCH-1")
	r.ok(eng, "patch", "evidence", "PATCH-1", "--kind", "pull_request", "--ref", "https://github.com/acme/payments/pull/9",
		"--subject", "erin", "--detail", "branch=patch/PATCH-1-upgrade-openssl")
	r.ok(eng, "patch", "advance", "PATCH-1")

	r.refused(eng, []string{"review_by_other", "merged_via_pr"}, "patch", "advance", "PATCH-1")
	r.ok(eng, "patch", "evidence", "PATCH-1", "--kind", "review", "--subject", "erin", "--result", "approved")
	r.refused(eng, []string{"review_by_other", "merged_via_pr"}, "patch", "advance", "PATCH-1")
	r.ok(eng, "patch", "evidence", "PATCH-1", "--kind", "review", "--subject", "bob", "--result", "approved")
	r.refused(eng, []string{"merged_via_pr"}, "patch", "advance", "PATCH-1")
	r.ok(eng, "patch", "evidence", "PATCH-1", "--kind", "merge", "--version", "9f2c1e7", "--ref", "https://github.com/acme/payments/pull/9")
	r.ok(eng, "patch", "advance", "PATCH-1")

	r.refused(eng, []string{"deployed_to_staging"}, "patch", "advance", "PATCH-1")
	r.ok(eng, "patch", "evidence", "PATCH-1", "--kind", "deployment", "--env", "staging", "--version", "9f2c1e7")
	r.ok(eng, "patch", "advance", "PATCH-1")

	r.refused(eng, []string{"automated_tests_passed", "manual_signoff"}, "patch", "advance", "PATCH-1")
	r.ok(eng, "patch", "evidence", "PATCH-1", "--kind", "test_run", "--env", "staging", "--version", "9f2c1e7", "--result", "passed", "--ref", "https://ci/1")
	r.refused(eng, []string{"manual_signoff"}, "patch", "advance", "PATCH-1")
	r.ok(eng, "patch", "evidence", "PATCH-1", "--kind", "signoff", "--env", "staging", "--version", "9f2c1e7")
	r.ok(eng, "patch", "advance", "PATCH-1")

	r.refused(eng, []string{"deployed_to_production"}, "patch", "advance", "PATCH-1")
	r.ok(eng, "patch", "evidence", "PATCH-1", "--kind", "deployment", "--env", "production", "--version", "1234567")
	r.refused(eng, []string{"deployed_to_production"}, "patch", "advance", "PATCH-1")
	r.ok(eng, "patch", "evidence", "PATCH-1", "--kind", "deployment", "--env", "production", "--version", "9f2c1e7")
	r.ok(eng, "patch", "advance", "PATCH-1")
	r.ok(eng, "patch", "advance", "PATCH-1")

	show := r.ok(viewer, "patch", "show", "PATCH-1")
	for _, want := range []string{`State:\s+done`, `Version:\s+9f2c1e7`, `approved\s+bob`, `production → done`} {
		if !regexp.MustCompile(want).MatchString(show) {
			t.Errorf("show lacks %q:\n%s", want, show)
		}
	}
	var d struct {
		Patch struct {
			State string `json:"state"`
		} `json:"patch"`
		Transitions []json.RawMessage `json:"transitions"`
	}
	if err := json.Unmarshal([]byte(r.ok(viewer, "patch", "show", "PATCH-1", "-o", "json")), &d); err != nil || d.Patch.State != "done" || len(d.Transitions) != 8 {
		t.Errorf("show -o json: %+v %v", d, err)
	}
	if y := r.ok(viewer, "patch", "show", "PATCH-1", "-o", "yaml"); !strings.Contains(y, "state: done") {
		t.Errorf("show -o yaml:\n%s", y)
	}
	if v := r.ok(viewer, "audit", "verify"); !strings.Contains(v, "audit log OK") {
		t.Errorf("audit verify: %s", v)
	}
}

func TestRollbackThroughCLI(t *testing.T) {
	s := apptest.StartServer(t, apptest.Options{})
	r := newRunner(t, s)
	r.ok(eng, "release", "record", "--subject", "payments", "--env", "production", "--version", "v8.2.0", "--at", "2026-10-01")
	r.ok(eng, "release", "record", "--subject", "payments", "--env", "production", "--version", "v8.2.1", "--at", "2026-10-15")
	r.ok(eng, "patch", "create", "--app", "payments", "--title", "x", "--cve", "CVE-2024-0001")
	r.ok(lead, "patch", "advance", "PATCH-1")
	// Lead pushes it to production with overrides; the overrides stay on record.
	for range 5 {
		r.ok(lead, "patch", "advance", "PATCH-1", "--override", "exercise: evidence lives in the old tracker")
	}
	if out := r.ok(viewer, "patch", "show", "PATCH-1"); !regexp.MustCompile(`State:\s+production`).MatchString(out) || !strings.Contains(out, "[OVERRIDE]") {
		t.Fatalf("after overrides:\n%s", out)
	}
	errs := r.code(cli.ExitForbidden, eng, "patch", "rollback", "PATCH-1", "--severity", "sev2", "--reason", "5xx")
	if !strings.Contains(errs, "oncall or lead") {
		t.Errorf("engineer refusal: %s", errs)
	}
	r.code(cli.ExitUsage, oncall, "patch", "rollback", "PATCH-1", "--severity", "bad", "--reason", "5xx")
	out := r.ok(oncall, "patch", "rollback", "PATCH-1", "--severity", "sev2", "--reason", "checkout 5xx after deploy")
	if !strings.Contains(out, "rolled back in production") || !strings.Contains(out, "→ v8.2.1") {
		t.Errorf("rollback: %s", out)
	}
}

func TestKubernetesThroughCLI(t *testing.T) {
	s := apptest.StartServer(t, apptest.Options{})
	r := newRunner(t, s)
	const v = "1.30.5-gke.1014001"
	r.ok(eng, "patch", "create", "--kind", "kubernetes", "--clusters", "mgmt,main", "--upgrade", "version", "--version", v,
		"--title", "GKE 1.30.5", "--issue", "https://example.com/i/1")
	r.ok(eng, "patch", "advance", "PATCH-1")
	r.ok(eng, "patch", "advance", "PATCH-1")
	r.refused(eng, []string{"control_plane_first"}, "rollout", "wave", "PATCH-1", "2", "start")
	wave := func(seq, subject string) {
		r.ok(eng, "rollout", "wave", "PATCH-1", seq, "start")
		r.refused(eng, []string{"wave_upgrade_observed"}, "rollout", "wave", "PATCH-1", seq, "complete")
		r.ok(eng, "patch", "evidence", "PATCH-1", "--kind", "wave_upgrade", "--subject", subject, "--version", v, "--ref", "op-"+seq)
		r.ok(eng, "rollout", "wave", "PATCH-1", seq, "complete")
	}
	wave("1", "mgmt/control-plane")
	r.refused(eng, []string{"management_waves_completed"}, "patch", "advance", "PATCH-1")
	wave("2", "mgmt/system")
	r.ok(eng, "patch", "advance", "PATCH-1")
	r.refused(eng, []string{"soak_elapsed", "soak_health_checks_passed"}, "patch", "advance", "PATCH-1")
	s.Clock.Advance(24 * time.Hour)
	r.ok(eng, "patch", "evidence", "PATCH-1", "--kind", "health_check", "--ref", "prometheus:up", "--result", "passed")
	r.refused(eng, []string{"soak_elapsed"}, "patch", "advance", "PATCH-1")
	s.Clock.Advance(24 * time.Hour)
	r.ok(eng, "patch", "advance", "PATCH-1")
	wave("3", "main/control-plane")
	r.ok(eng, "rollout", "wave", "PATCH-1", "4", "start")
	r.refused(eng, []string{"one_main_pool_at_a_time"}, "rollout", "wave", "PATCH-1", "5", "start")
	r.ok(eng, "rollout", "wave", "PATCH-1", "4", "fail", "--reason", "PDB blocks drain")
	if out := r.ok(viewer, "patch", "list"); !strings.Contains(out, "upgrading_main (HALTED)") {
		t.Errorf("list does not show the halt:\n%s", out)
	}
	r.ok(oncall, "rollout", "decide", "PATCH-1", "retry", "--reason", "PDB relaxed")
	r.ok(eng, "patch", "evidence", "PATCH-1", "--kind", "wave_upgrade", "--subject", "main/pool-a", "--version", v)
	r.ok(eng, "rollout", "wave", "PATCH-1", "4", "start")
	r.ok(eng, "patch", "evidence", "PATCH-1", "--kind", "wave_upgrade", "--subject", "main/pool-a", "--version", v)
	r.ok(eng, "rollout", "wave", "PATCH-1", "4", "complete")
	r.refused(eng, []string{"main_waves_completed"}, "patch", "advance", "PATCH-1")
	wave("5", "main/pool-b")
	r.ok(eng, "patch", "advance", "PATCH-1")
	if out := r.ok(viewer, "patch", "show", "PATCH-1"); !regexp.MustCompile(`State:\s+done`).MatchString(out) {
		t.Errorf("not done:\n%s", out)
	}
}

func TestInfrastructureThroughCLI(t *testing.T) {
	s := apptest.StartServer(t, apptest.Options{})
	r := newRunner(t, s)
	r.ok(eng, "patch", "create", "--kind", "infrastructure", "--system", "postgres-primary", "--downtime",
		"--title", "PostgreSQL 15.8", "--cve", "CVE-2024-7348", "--cvss", "7.5")
	r.ok(eng, "patch", "advance", "PATCH-1")
	r.refused(eng, []string{"change_tracked", "version_set", "deployed_to_staging"}, "patch", "advance", "PATCH-1")
	r.ok(eng, "patch", "evidence", "PATCH-1", "--kind", "terraform_plan", "--ref", "https://github.com/acme/infra/pull/3")
	r.ok(eng, "patch", "edit", "PATCH-1", "--version", "15.8")
	r.ok(eng, "patch", "evidence", "PATCH-1", "--kind", "deployment", "--env", "staging", "--version", "15.8")
	r.ok(eng, "patch", "advance", "PATCH-1")
	r.ok(eng, "patch", "evidence", "PATCH-1", "--kind", "test_run", "--env", "staging", "--version", "15.8", "--result", "passed")
	r.ok(eng, "patch", "evidence", "PATCH-1", "--kind", "signoff", "--env", "staging", "--version", "15.8")
	r.ok(eng, "patch", "advance", "PATCH-1")
	r.refused(eng, []string{"window_booked"}, "patch", "advance", "PATCH-1")
	r.ok(eng, "window", "book", "PATCH-1", "--start", "2026-11-05T22:00", "--duration", "2h")
	r.ok(eng, "patch", "advance", "PATCH-1")
	r.refused(eng, []string{"announced_in_time"}, "patch", "advance", "PATCH-1")
	r.ok(eng, "window", "announce", "PATCH-1", "--channel", "#sre")
	r.ok(eng, "patch", "advance", "PATCH-1")
	r.refused(eng, []string{"backup_taken"}, "patch", "advance", "PATCH-1")
	s.Clock.Advance(time.Hour)
	r.ok(eng, "patch", "evidence", "PATCH-1", "--kind", "backup", "--ref", "snap-0001")
	r.ok(eng, "patch", "advance", "PATCH-1")
	r.refused(eng, []string{"inside_window"}, "patch", "advance", "PATCH-1")
	s.Clock.Set(time.Date(2026, 11, 5, 22, 5, 0, 0, time.UTC))
	r.ok(eng, "patch", "advance", "PATCH-1")
	r.refused(eng, []string{"upgrade_validated"}, "patch", "advance", "PATCH-1")
	r.ok(eng, "patch", "evidence", "PATCH-1", "--kind", "deployment", "--env", "production", "--version", "15.8")
	r.ok(eng, "patch", "evidence", "PATCH-1", "--kind", "signoff", "--env", "production", "--version", "15.8")
	r.ok(eng, "patch", "advance", "PATCH-1")
	r.ok(eng, "patch", "advance", "PATCH-1")
	r.ok(eng, "patch", "advance", "PATCH-1")
	if out := r.ok(viewer, "patch", "show", "PATCH-1"); !regexp.MustCompile(`State:\s+done`).MatchString(out) {
		t.Errorf("not done:\n%s", out)
	}
}

func TestExitCodesAndListing(t *testing.T) {
	s := apptest.StartServer(t, apptest.Options{})
	r := newRunner(t, s)
	r.code(cli.ExitNotFound, viewer, "patch", "show", "PATCH-404")
	r.code(cli.ExitForbidden, viewer, "patch", "create", "--app", "a", "--title", "t")
	r.code(cli.ExitUsage, viewer, "patch", "show")
	r.code(cli.ExitUsage, viewer, "patch", "list", "--bogus")
	r.code(cli.ExitUsage, viewer, "patch", "list", "-o", "xml")
	r.code(cli.ExitUsage, eng, "patch", "create", "--app", "a", "--title", "t", "--cve", "CVE-1")
	r.ok(eng, "patch", "create", "--app", "a", "--title", "overdue one", "--cve", "CVE-2024-0001", "--cvss", "9.8")
	r.ok(eng, "patch", "create", "--app", "b", "--title", "later one", "--cve", "CVE-2024-0002", "--cvss", "7.1")
	out := r.ok(viewer, "patch", "list")
	if !strings.Contains(out, "due in 1d") || !strings.Contains(out, "due in 7d") {
		t.Errorf("SLA column:\n%s", out)
	}
	s.Clock.Advance(26 * time.Hour)
	out = r.ok(viewer, "patch", "list", "--overdue")
	if !strings.Contains(out, "OVERDUE 2h") || strings.Contains(out, "later one") {
		t.Errorf("overdue list:\n%s", out)
	}
	// Conflict: an advance naming a stale revision.
	r.code(cli.ExitConflict, eng, "patch", "advance", "PATCH-1", "--revision", "99")
	// Server down: unavailable.
	r.env["PATCHCTL_SERVER"] = "http://127.0.0.1:1"
	r.code(cli.ExitUnavailable, viewer, "patch", "list")
}

// TestLocalMode works on a local database: the role comes from the policy's
// role assignments, tokens are bootstrapped locally, and audit verify finds
// a row edited behind patchctl's back.
func TestLocalMode(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "patchctl.yaml")
	if err := os.WriteFile(cfg, []byte("roles:\n  olga: oncall\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dbURL := "sqlite:" + filepath.Join(dir, "p.db")
	run := func(as string, args ...string) (int, string, string) {
		env := map[string]string{"PATCHCTL_DATABASE": dbURL, "PATCHCTL_CONFIG": cfg, "PATCHCTL_USER": as}
		var out, errb bytes.Buffer
		code := cli.Run(context.Background(), args, &out, &errb, func(k string) string { return env[k] })
		return code, out.String(), errb.String()
	}
	must := func(as string, args ...string) string {
		t.Helper()
		code, out, errs := run(as, args...)
		if code != 0 {
			t.Fatalf("%v: %d %s %s", args, code, out, errs)
		}
		return out
	}
	must("erin", "patch", "create", "--app", "payments", "--title", "local", "--cve", "CVE-2024-0001")
	must("erin", "patch", "advance", "PATCH-1", "--to", "in_progress")
	if code, _, _ := run("erin", "patch", "rollback", "PATCH-1", "--severity", "sev3", "--reason", "x"); code != cli.ExitForbidden {
		t.Errorf("engineer rollback locally: %d", code)
	}
	// olga is on call by the policy: her rollback is not refused for her role.
	if code, _, errs := run("olga", "patch", "rollback", "PATCH-1", "--severity", "sev3", "--reason", "x"); code != cli.ExitConflict || !strings.Contains(errs, "cannot go from in_progress to rolled_back") {
		t.Errorf("on-call rollback from in_progress: %d %s", code, errs)
	}
	tok := must("erin", "token", "create", "--name", "alice", "--role", "lead")
	if !strings.Contains(tok, "pct_") {
		t.Errorf("token create: %s", tok)
	}
	log := must("erin", "audit", "log", "--action", "token.create")
	if !strings.Contains(log, "local:erin") {
		t.Errorf("token creation audited as %s", log)
	}
	if out := must("erin", "audit", "verify"); !strings.Contains(out, "OK") {
		t.Fatalf("verify: %s", out)
	}
	exp := must("erin", "audit", "export")
	if lines := strings.Count(exp, "\n"); lines < 3 {
		t.Errorf("export has %d lines", lines)
	}
	// Edit a row behind patchctl's back.
	tamper(t, dbURL)
	code, out, errs := run("erin", "audit", "verify")
	if code != cli.ExitInternal || !strings.Contains(out, "BROKEN at event 2: modified") {
		t.Errorf("verify after tampering: %d\n%s%s", code, out, errs)
	}
	// Config errors: exit 2 with every problem.
	if err := os.WriteFile(cfg, []byte("roles:\n  olga: captain\nsla:\n  high: soon\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs = run("erin", "config", "validate")
	if code != cli.ExitUsage || !strings.Contains(errs, "2 problem(s)") || !strings.Contains(errs, "patchctl.yaml:2: roles.olga") || !strings.Contains(errs, ":4: sla.high") {
		t.Errorf("config validate: %d\n%s", code, errs)
	}
}
