package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/config"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
)

func (e *env) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.emit(map[string]string{"version": patchctl.Version}, func(w io.Writer) { fmt.Fprintf(w, "patchctl %s\n", patchctl.Version) })
		},
	}
}

func (e *env) migrateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending database migrations",
		Long:  "Apply the embedded migrations of the engine (SQLite or PostgreSQL). Safe to run from several replicas at once.",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := e.openDB()
			if err != nil {
				return err
			}
			applied, err := db.Migrate(e.ctx)
			if err != nil {
				return err
			}
			names := []string{}
			for _, m := range applied {
				names = append(names, m.Name)
			}
			return e.emit(map[string]any{"database": db.URL(), "applied": names}, func(w io.Writer) {
				if len(names) == 0 {
					fmt.Fprintf(w, "%s is up to date\n", db.URL())
				}
				for _, n := range names {
					fmt.Fprintf(w, "applied %s\n", n)
				}
			})
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "List migrations and whether they are applied",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := e.openDB()
			if err != nil {
				return err
			}
			st, err := db.MigrationStatus(e.ctx)
			if err != nil {
				return err
			}
			return e.emit(st, func(w io.Writer) {
				fmt.Fprintln(w, "VERSION\tNAME\tAPPLIED")
				for _, s := range st {
					fmt.Fprintf(w, "%d\t%s\t%s\n", s.Version, s.Name, tsp(s.AppliedAt))
				}
			})
		},
	})
	return cmd
}

func (e *env) configCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Validate and show the configuration"}
	cmd.AddCommand(&cobra.Command{
		Use:   "validate [FILE]",
		Short: "Check patchctl.yaml and list every problem with file, line and field (exit code 2 on problems)",
		Args:  args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if len(a) == 1 {
				e.configPath = a[0]
			}
			if e.configPath != "" {
				if _, err := os.Stat(e.configPath); err != nil {
					return patchctl.FieldError("config", "%v", err)
				}
			}
			cfg, err := e.config()
			if err != nil {
				return err
			}
			warnings := cfg.Warnings(time.Now())
			file := cfg.File()
			if file == "" {
				file = "(built-in defaults)"
			}
			return e.emit(map[string]any{"file": file, "valid": true, "policy_version": cfg.EffectivePolicyVersion(), "warnings": warnings},
				func(w io.Writer) {
					fmt.Fprintf(w, "%s: valid (policy version %s)\n", file, cfg.EffectivePolicyVersion())
					for _, wn := range warnings {
						fmt.Fprintf(w, "warning: %s\n", wn)
					}
				})
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "show",
		Short: "Print the effective policy (defaults, file, environment and flags applied)",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := e.config()
			if err != nil {
				return err
			}
			if e.output == OutTable {
				e.output = OutYAML
			}
			return e.emit(cfg, nil)
		},
	})
	return cmd
}

func (e *env) statusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Versions, warnings, open and overdue patches",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := e.api()
			if err != nil {
				return err
			}
			st, err := api.Status(e.ctx)
			if err != nil {
				return err
			}
			return e.emit(st, func(w io.Writer) {
				fmt.Fprintf(w, "patchctl\t%s\nengine\t%s\npolicy\t%s (%s)\nopen patches\t%d\noverdue\t%d\naudit events\t%d\n",
					st.Version, st.Engine, st.PolicyVersion, st.SOP, st.OpenPatches, st.Overdue, st.AuditHead)
				for _, wn := range st.Warnings {
					fmt.Fprintf(w, "warning\t%s\n", wn)
				}
			})
		},
	}
}

func (e *env) auditCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Verify, read and export the hash-chained audit log"}
	cmd.AddCommand(&cobra.Command{
		Use:   "verify",
		Short: "Verify the chain; report the first modified, deleted or reordered event (exit code 1 when broken)",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := e.api()
			if err != nil {
				return err
			}
			v, err := api.VerifyAudit(e.ctx)
			if err != nil {
				return err
			}
			if err := e.emit(v, func(w io.Writer) {
				if v.OK {
					fmt.Fprintf(w, "audit log OK: %d events, head %d %s\n", v.Checked, v.HeadSeq, v.HeadHash)
					return
				}
				fmt.Fprintf(w, "audit log BROKEN at event %d: %s (%s)\n", v.FirstBad, v.Problem, v.Detail)
			}); err != nil {
				return err
			}
			if !v.OK {
				return &patchctl.Error{Code: patchctl.CodeInternal, Message: fmt.Sprintf("the audit log was tampered with: event %d %s", v.FirstBad, v.Problem)}
			}
			return nil
		},
	})
	var after int64
	var outFile string
	export := &cobra.Command{
		Use:   "export",
		Short: "Write the audit log as JSON lines (one event per line, in chain order)",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := e.api()
			if err != nil {
				return err
			}
			w := e.stdout
			if outFile != "" && outFile != "-" {
				f, err := os.Create(outFile)
				if err != nil {
					return patchctl.FieldError("out", "%v", err)
				}
				defer f.Close()
				w = f
			}
			n := 0
			enc := json.NewEncoder(w) // one event per line
			err = api.ExportAudit(e.ctx, after, func(ev patchctl.AuditEvent) error {
				n++
				return enc.Encode(ev)
			})
			if err == nil && w != e.stdout {
				fmt.Fprintf(e.stderr, "exported %d events to %s\n", n, outFile)
			}
			return err
		},
	}
	export.Flags().Int64Var(&after, "after", 0, "only events after this sequence number")
	export.Flags().StringVar(&outFile, "out", "", "file to write (default standard output)")
	var f store.AuditFilter
	var limit int
	log := &cobra.Command{
		Use:   "log",
		Short: "Show audit events, newest first",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.Desc, f.Limit = true, limit
			api, err := e.api()
			if err != nil {
				return err
			}
			evs, err := api.AuditEvents(e.ctx, f)
			if err != nil {
				return err
			}
			return e.emit(evs, func(w io.Writer) {
				fmt.Fprintln(w, "SEQ\tAT\tACTOR\tACTION\tSUBJECT\tDATA")
				for _, ev := range evs {
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", ev.Seq, ts(ev.At), ev.Actor, ev.Action, ev.Subject, truncate(string(ev.Data), 80))
				}
			})
		},
	}
	log.Flags().StringVar(&f.Subject, "subject", "", "e.g. PATCH-42")
	log.Flags().StringVar(&f.Actor, "actor", "", "who")
	log.Flags().StringVar(&f.Action, "action", "", "e.g. patch.transition")
	log.Flags().IntVar(&limit, "limit", 50, "how many")
	cmd.AddCommand(export, log)
	return cmd
}

func (e *env) tokenCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Create, list and revoke API tokens"}
	var name, role string
	var ttl string
	create := &cobra.Command{
		Use:   "create --name NAME --role ROLE",
		Short: "Create an API token; the secret is printed once (locally: bootstrap as admin)",
		Example: `  patchctl token create --name alice --role lead
  patchctl token create --name ci --role engineer --ttl 90d`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			in := service.TokenInput{Name: name, Role: patchctl.Role(lower(role))}
			if ttl != "" {
				d, err := config.ParseDuration(ttl)
				if err != nil {
					return usagef("--ttl: %v", err)
				}
				in.TTL = d
			}
			api, err := e.api()
			if err != nil {
				return err
			}
			t, err := api.CreateToken(e.ctx, in)
			if err != nil {
				return err
			}
			return e.emit(t, func(w io.Writer) {
				fmt.Fprintf(w, "token %d for %s (%s):\n%s\nKeep it secret: it is not shown again.\n", t.Token.ID, t.Token.Name, t.Token.Role, t.Secret)
			})
		},
	}
	create.Flags().StringVar(&name, "name", "", "who or what the token is for")
	create.Flags().StringVar(&role, "role", "", "viewer, engineer, oncall, lead or admin")
	create.Flags().StringVar(&ttl, "ttl", "", "lifetime, e.g. 90d (default: no expiry)")
	_ = create.RegisterFlagCompletionFunc("role", completeAll(patchctl.Roles))
	var all bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List tokens",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := e.api()
			if err != nil {
				return err
			}
			ts, err := api.Tokens(e.ctx, all)
			if err != nil {
				return err
			}
			return e.emit(ts, func(w io.Writer) {
				fmt.Fprintln(w, "ID\tNAME\tROLE\tPREFIX\tCREATED\tLAST USED\tEXPIRES\tREVOKED")
				for _, t := range ts {
					fmt.Fprintf(w, "%d\t%s\t%s\t%s…\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, t.Prefix, tsp(&t.CreatedAt), tsp(t.LastUsedAt), tsp(t.ExpiresAt), tsp(t.RevokedAt))
				}
			})
		},
	}
	list.Flags().BoolVar(&all, "all", false, "include revoked tokens")
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			id, err := strconv.ParseInt(a[0], 10, 64)
			if err != nil {
				return usagef("%q is not a token id", a[0])
			}
			api, err := e.api()
			if err != nil {
				return err
			}
			t, err := api.RevokeToken(e.ctx, id)
			if err != nil {
				return err
			}
			return e.emit(t, func(w io.Writer) { fmt.Fprintf(w, "token %d (%s) revoked\n", t.ID, t.Name) })
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}
