// Package cli implements the patchctl command line in the kubectl/argocd
// tradition: `patchctl <noun> <verb>`, `-o table|json|yaml`, shell
// completion. With --server (or PATCHCTL_SERVER) it is a plain client of the
// REST API; without, it works on the local database directly, acting as the
// local user with the role the policy assigns to them.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/user"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/client"
	"github.com/patchctl/patchctl/internal/config"
	"github.com/patchctl/patchctl/internal/intake"
	"github.com/patchctl/patchctl/internal/policy"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
)

// Exit codes. Scripts can tell a gate refusal from a typo from an outage.
const (
	ExitOK          = 0
	ExitInternal    = 1 // a bug or an unexpected failure
	ExitUsage       = 2 // bad command line, invalid input, invalid configuration
	ExitGate        = 3 // refused by a lifecycle gate
	ExitNotFound    = 4
	ExitForbidden   = 5 // missing or wrong token, or a role that may not do it
	ExitConflict    = 6 // changed by someone else, or not allowed from this state
	ExitUnavailable = 7 // server or database unreachable
)

const exitCodesHelp = `Exit codes:
  0  success
  1  internal error
  2  usage error: bad flags or arguments, invalid input, invalid configuration
  3  refused by a gate (the message names the gate and what is missing)
  4  not found
  5  forbidden: missing or wrong token, or the role may not do it
  6  conflict: changed by someone else, or not allowed from the current state
  7  unavailable: server or database unreachable`

// ExitCode maps an error to the process exit code, in one place.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ue usageError
	if errors.As(err, &ue) {
		return ExitUsage
	}
	var ps config.Problems
	if errors.As(err, &ps) {
		return ExitUsage
	}
	switch patchctl.ErrorCode(err) {
	case patchctl.CodeInvalid, patchctl.CodeTooLarge:
		return ExitUsage
	case patchctl.CodeGate:
		return ExitGate
	case patchctl.CodeNotFound:
		return ExitNotFound
	case patchctl.CodeForbidden, patchctl.CodeUnauthorized:
		return ExitForbidden
	case patchctl.CodeConflict:
		return ExitConflict
	case patchctl.CodeUnavailable:
		return ExitUnavailable
	}
	return ExitInternal
}

type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// env is the state of one invocation.
type env struct {
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string

	configPath string
	database   string
	server     string
	token      string
	output     string
	as         string

	cfg     *config.Config
	pol     *policy.Policy // compiled from cfg, by config
	backend Backend
	closers []func() error
}

// Run executes the command line and returns the exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if getenv == nil {
		getenv = os.Getenv
	}
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr, getenv: getenv}
	defer e.close()
	root := e.root()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err != nil {
		e.report(err)
	}
	return ExitCode(err)
}

func (e *env) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		_ = e.closers[i]()
	}
}

// report prints an error for people: the message, and for a gate refusal
// each gate with what is missing.
func (e *env) report(err error) {
	var ps config.Problems
	if errors.As(err, &ps) {
		fmt.Fprintf(e.stderr, "error: the configuration has %d problem(s):\n", len(ps))
		for _, p := range ps {
			fmt.Fprintf(e.stderr, "  %s\n", p)
		}
		return
	}
	var pe *patchctl.Error
	if errors.As(err, &pe) && pe.Code == patchctl.CodeGate && len(pe.Gates) > 0 {
		fmt.Fprintln(e.stderr, "error: refused by a gate")
		for _, g := range pe.Gates {
			fmt.Fprintf(e.stderr, "  ✗ %s: %s\n      rule: %s\n", g.Gate, g.Missing, g.Rule)
		}
		if e.output == OutJSON {
			_ = e.emit(map[string]any{"error": pe.Message, "code": pe.Code, "gates": pe.Gates}, nil)
		}
		return
	}
	msg := err.Error()
	if pe != nil {
		msg = pe.Error()
		if pe.Code == patchctl.CodeInternal {
			msg = patchctl.ErrorMessage(err) + ": " + pe.Error()
		}
	}
	fmt.Fprintf(e.stderr, "error: %s\n", msg)
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(e.stderr, "Run 'patchctl --help' for usage.")
	}
}

func (e *env) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "patchctl",
		Short: "Patch management control plane for SRE teams",
		Long: `patchctl knows what must be patched and by when, walks every patch through
the team's patch process (SOP-005) without letting a step be skipped, and
proves afterwards what happened.

Without --server it works on the local database (PATCHCTL_DATABASE, default
sqlite:patchctl.db) as the local user, with the role that patchctl.yaml
assigns to them (--as NAME to act as someone else; unassigned users are
engineers). With --server URL and --token it talks to a running server.

` + exitCodesHelp,
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: false},
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			switch e.output {
			case OutTable, OutJSON, OutYAML:
				return nil
			}
			return usagef("--output %q is not a format (want table, json or yaml)", e.output)
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&e.configPath, "config", e.getenv("PATCHCTL_CONFIG"), "policy file (env PATCHCTL_CONFIG; default ./patchctl.yaml if present)")
	pf.StringVar(&e.database, "database", "", "database URL: sqlite:FILE or postgres://... (env PATCHCTL_DATABASE)")
	pf.StringVar(&e.server, "server", e.getenv("PATCHCTL_SERVER"), "server URL; omit to work on the local database (env PATCHCTL_SERVER)")
	pf.StringVar(&e.token, "token", e.getenv("PATCHCTL_TOKEN"), "API token for --server (env PATCHCTL_TOKEN)")
	pf.StringVarP(&e.output, "output", "o", OutTable, "output format: table, json or yaml")
	pf.StringVar(&e.as, "as", e.getenv("PATCHCTL_USER"), "local mode: act as this person (env PATCHCTL_USER; default the OS user)")
	_ = root.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{OutTable, OutJSON, OutYAML}, cobra.ShellCompDirectiveNoFileComp
	})
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })

	root.AddCommand(e.versionCmd(), e.serveCmd(), e.migrateCmd(), e.configCmd(), e.patchCmd(), e.rolloutCmd(),
		e.windowCmd(), e.releaseCmd(), e.auditCmd(), e.tokenCmd(), e.statusCmd(), e.devCmd(), e.importCmd(), e.findingCmd())
	root.AddCommand(e.gitopsCmds(root)...)
	return root
}

// args wraps a cobra argument check so that its failure is a usage error.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// config loads the configuration once: defaults < file < env < flags. It
// compiles the policy too (e.pol), which also checks it.
func (e *env) config() (*config.Config, error) {
	if e.cfg != nil {
		return e.cfg, nil
	}
	path, optional := e.configPath, false
	if path == "" {
		path, optional = "patchctl.yaml", true
	}
	cfg, err := config.Load(path, optional, e.getenv)
	if err != nil {
		return nil, err
	}
	if e.database != "" {
		cfg.Server.Database = e.database
		if ps := cfg.Validate(); len(ps) > 0 {
			return nil, ps
		}
	}
	pol, ps := policy.New(cfg)
	if len(ps) > 0 {
		return nil, ps
	}
	e.cfg, e.pol = cfg, pol
	return cfg, nil
}

func (e *env) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// localUser names the person behind a local command.
func (e *env) localUser() string {
	if e.as != "" {
		return e.as
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "local"
}

// api returns the backend: the API client with --server, else the local
// database through the service.
func (e *env) api() (Backend, error) {
	if e.backend != nil {
		return e.backend, nil
	}
	if e.server != "" {
		c, err := e.remote(nil)
		if err != nil {
			return nil, err
		}
		e.backend = c
		return c, nil
	}
	svc, _, err := e.openLocal()
	if err != nil {
		return nil, err
	}
	e.backend = &local{svc: svc, intake: intake.New(svc, e.logger()), actor: e.localActor()}
	return e.backend, nil
}

// remote returns the API client of --server (hc nil: the client's default
// HTTP client).
func (e *env) remote(hc *http.Client) (*client.Client, error) {
	if e.token == "" {
		return nil, patchctl.Errorf(patchctl.CodeUnauthorized, "--server needs a token: --token or PATCHCTL_TOKEN")
	}
	c, err := client.New(e.server, e.token, hc)
	if err != nil {
		return nil, usageError{err}
	}
	return c, nil
}

// localActor is the local user with the role the policy assigns to them
// (engineer when it assigns none). The configuration is loaded.
func (e *env) localActor() patchctl.Actor {
	name := e.localUser()
	role := patchctl.RoleEngineer
	if r, ok := e.cfg.Roles[name]; ok {
		role = patchctl.Role(r)
	}
	return patchctl.Actor{Name: name, Role: role}
}

// openDB opens the configured database as it is, closed when the
// invocation ends.
func (e *env) openDB() (*store.DB, error) {
	cfg, err := e.config()
	if err != nil {
		return nil, err
	}
	db, err := store.Open(e.ctx, cfg.Server.Database, e.logger())
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, db.Close)
	return db, nil
}

// openLocal opens the local database. A new SQLite database is created and
// migrated on first use; an existing database with pending migrations must
// be migrated explicitly (patchctl migrate), so that a CLI never changes a
// shared schema behind a server's back.
func (e *env) openLocal() (*service.Service, *store.DB, error) {
	db, err := e.openDB()
	if err != nil {
		return nil, nil, err
	}
	st, err := db.MigrationStatus(e.ctx)
	if err != nil {
		return nil, nil, err
	}
	applied := 0
	for _, s := range st {
		if s.AppliedAt != nil {
			applied++
		}
	}
	switch {
	case applied == len(st):
	case applied == 0 && db.Engine() == store.SQLite:
		if _, err := db.Migrate(e.ctx); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, patchctl.Errorf(patchctl.CodeUnavailable,
			"the database %s has %d pending migration(s): run 'patchctl migrate' first", db.URL(), len(st)-applied)
	}
	return service.New(db, e.pol, nil, e.logger()), db, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func lower(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
