package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/app"
	"github.com/patchctl/patchctl/internal/demo"
	"github.com/patchctl/patchctl/internal/service"
)

func (e *env) serveCmd() *cobra.Command {
	var listen string
	var seedDemo bool
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server: web UI, REST API, webhooks and the scheduler",
		Long: `Run patchctl: the web UI at / (sign in with an API token), the REST API under
/api/v1 (OpenAPI at /api/v1/openapi.json), webhooks under /hooks (GitHub, Argo CD),
/healthz, /readyz, /metrics, and the durable scheduler (SLA escalations, risk
acceptance expiries, feed downloads, GitOps reconcile). On SIGTERM or SIGINT it
stops accepting connections and lets in-flight requests finish.

The first run on an empty database prints an admin token (shown once).
--demo seeds an empty database with a realistic demo.`,
		Example: `  patchctl serve --demo
  PATCHCTL_DATABASE=postgres://patchctl@db/patchctl patchctl serve --listen :8080`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := e.config()
			if err != nil {
				return err
			}
			if listen != "" {
				cfg.Server.Listen = listen
			}
			log := e.serverLogger(cfg.Server.LogFormat, cfg.Server.LogLevel)
			ctx := e.ctx
			a, err := app.New(ctx, cfg, app.Options{Logger: log})
			if err != nil {
				return err
			}
			defer a.Close()
			l, err := a.Listen("")
			if err != nil {
				return err
			}
			if seedDemo {
				if err := demo.Seed(ctx, a.DB, a.Policy, time.Now().UTC()); err != nil && patchctl.ErrorCode(err) != patchctl.CodeConflict {
					return fmt.Errorf("seeding the demo: %w", err)
				} else if err != nil {
					log.Info("demo not seeded: the database already holds patches")
				} else {
					log.Info("demo seeded")
				}
			}
			if err := e.firstRun(ctx, a, seedDemo); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "patchctl %s serving on %s (database %s)\n", patchctl.Version, a.URL(), a.DB.URL())
			return a.Serve(ctx, l, grace)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "", "address to listen on (default from config: 127.0.0.1:8080; env PATCHCTL_LISTEN)")
	cmd.Flags().BoolVar(&seedDemo, "demo", false, "seed an empty database with a realistic demo")
	cmd.Flags().DurationVar(&grace, "shutdown-grace", 20*time.Second, "how long in-flight requests may run on shutdown")
	return cmd
}

// firstRun creates an admin token when the database has none and prints it
// once; with the demo it also creates a token per demo person.
func (e *env) firstRun(ctx context.Context, a *app.App, demoTokens bool) error {
	has, err := a.Service.HasTokens(ctx)
	if err != nil || has {
		return err
	}
	boot := patchctl.Actor{Name: "local:" + e.localUser(), Role: patchctl.RoleAdmin}
	t, err := a.Service.CreateToken(ctx, boot, service.TokenInput{Name: "admin", Role: patchctl.RoleAdmin})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nFirst run: created an admin token (shown once, keep it):\n\n    %s\n\n", t.Secret)
	fmt.Fprintf(e.stdout, "    export PATCHCTL_SERVER=%s PATCHCTL_TOKEN=%s\n\n", a.URL(), t.Secret)
	if demoTokens {
		fmt.Fprintln(e.stdout, "Demo people (sign in with these tokens to see what each role may do):")
		for _, p := range []struct {
			name string
			role patchctl.Role
		}{{"vera", patchctl.RoleViewer}, {"erin", patchctl.RoleEngineer}, {"otto", patchctl.RoleOncall}, {"lena", patchctl.RoleLead}} {
			t, err := a.Service.CreateToken(ctx, boot, service.TokenInput{Name: p.name, Role: p.role})
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "    %-5s %-9s %s\n", p.name, p.role, t.Secret)
		}
		fmt.Fprintln(e.stdout)
	}
	return nil
}

// serverLogger logs text on a terminal and JSON otherwise.
func (e *env) serverLogger(format, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" || (format == "auto" && !isTerminal(e.stderr)) {
		return slog.New(slog.NewJSONHandler(e.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(e.stderr, opts))
}
