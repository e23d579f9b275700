package cli

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
	"github.com/patchctl/patchctl/internal/textutil"
)

func (e *env) rolloutCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "rollout", Short: "Drive kubernetes rollout waves and decide on halted rollouts"}
	var reason, override string
	var rev int64
	wave := &cobra.Command{
		Use:   "wave PATCH-ID SEQ start|complete|fail",
		Short: "Start, complete or fail one wave",
		Long: `Waves run management cluster first, control plane before its node pools, and
main cluster node pools one at a time. Completing a wave needs wave_upgrade
evidence that the upgrade landed. A failed wave halts the rollout.`,
		Example:   `  patchctl rollout wave PATCH-7 1 start`,
		Args:      args(cobra.ExactArgs(3)),
		ValidArgs: []string{"start", "complete", "fail"},
		RunE: func(cmd *cobra.Command, a []string) error {
			seq, err := strconv.Atoi(a[1])
			if err != nil || seq < 1 {
				return usagef("%q is not a wave number", a[1])
			}
			op := lower(a[2])
			if op != "start" && op != "complete" && op != "fail" {
				return usagef("%q is not a wave operation (want start, complete or fail)", a[2])
			}
			in := service.WaveInput{Op: op, Reason: reason, Revision: rev}
			if override != "" {
				in.Override = &service.OverrideInput{Justification: override}
			}
			api, err := e.api()
			if err != nil {
				return err
			}
			res, err := api.Wave(e.ctx, a[0], seq, in)
			if err != nil {
				return err
			}
			return e.emit(res, func(w io.Writer) {
				fmt.Fprintf(w, "%s wave %d %s: %s\n", res.Patch.Key, res.Wave.Seq, res.Wave.Subject(), res.Wave.State)
			})
		},
	}
	wave.Flags().StringVar(&reason, "reason", "", "why (for fail)")
	wave.Flags().StringVar(&override, "override", "", "lead/admin: justification for pushing past refusing gates")
	wave.Flags().Int64Var(&rev, "revision", 0, "fail if the patch changed since this revision")

	var dreason string
	decide := &cobra.Command{
		Use:       "decide PATCH-ID resume|retry|abort --reason TEXT",
		Short:     "Decide on a halted rollout: resume, retry the failed step, or abort",
		Args:      args(cobra.ExactArgs(2)),
		ValidArgs: []string{"resume", "retry", "abort"},
		RunE: func(cmd *cobra.Command, a []string) error {
			api, err := e.api()
			if err != nil {
				return err
			}
			p, err := api.Decide(e.ctx, a[0], service.DecisionInput{Decision: lower(a[1]), Reason: dreason})
			if err != nil {
				return err
			}
			return e.emit(p, func(w io.Writer) { fmt.Fprintf(w, "%s: %s (%s)\n", p.Key, lower(a[1]), stateWithHalt(p)) })
		},
	}
	decide.Flags().StringVar(&dreason, "reason", "", "why")
	cmd.AddCommand(wave, decide)
	return cmd
}

func (e *env) windowCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "window", Short: "Maintenance windows: book, announce, list upcoming"}
	var start, end string
	var dur time.Duration
	book := &cobra.Command{
		Use:     "book PATCH-ID --start TIME (--end TIME | --duration D)",
		Short:   "Book a maintenance window for an infrastructure patch with downtime",
		Example: `  patchctl window book PATCH-9 --start 2026-12-01T22:00 --duration 2h`,
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			s, err := parseTime(start)
			if err != nil {
				return usagef("--start: %v", err)
			}
			var en time.Time
			switch {
			case end != "":
				if en, err = parseTime(end); err != nil {
					return usagef("--end: %v", err)
				}
			case dur > 0:
				en = s.Add(dur)
			default:
				return usagef("give --end or --duration")
			}
			api, err := e.api()
			if err != nil {
				return err
			}
			p, err := api.BookWindow(e.ctx, a[0], service.BookingInput{Start: s, End: en})
			if err != nil {
				return err
			}
			return e.emit(p, func(w io.Writer) {
				fmt.Fprintf(w, "%s: window %s → %s booked (%s)\n", p.Key, ts(p.Window.Start), ts(p.Window.End), p.State)
			})
		},
	}
	book.Flags().StringVar(&start, "start", "", "start (UTC)")
	book.Flags().StringVar(&end, "end", "", "end (UTC)")
	book.Flags().DurationVar(&dur, "duration", 0, "length, instead of --end")

	var channel, message string
	announce := &cobra.Command{
		Use:   "announce PATCH-ID",
		Short: "Announce the booked window to the team (recorded as evidence, sent through the outbox)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			api, err := e.api()
			if err != nil {
				return err
			}
			ev, err := api.Announce(e.ctx, a[0], channel, message)
			if err != nil {
				return err
			}
			return e.emit(ev, func(w io.Writer) { fmt.Fprintf(w, "%s: announced to %s (%s)\n", a[0], ev.Subject, ev.Ref) })
		},
	}
	announce.Flags().StringVar(&channel, "channel", "team", "where: a channel or list name")
	announce.Flags().StringVar(&message, "message", "", "message (default: generated from the window)")

	var days int
	list := &cobra.Command{
		Use:   "list",
		Short: "List the configured maintenance windows' upcoming occurrences",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := e.config(); err != nil {
				return err
			}
			pol := e.pol
			now := time.Now().UTC()
			occ := pol.Occurrences(now, now.Add(time.Duration(days)*24*time.Hour))
			return e.emit(occ, func(w io.Writer) {
				fmt.Fprintln(w, "WINDOW\tSTART\tEND\tIN")
				for _, o := range occ {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", o.Window, ts(o.Start), ts(o.End), textutil.Duration(o.Start.Sub(now)))
				}
			})
		},
	}
	list.Flags().IntVar(&days, "days", 30, "how far ahead")
	cmd.AddCommand(book, announce, list)
	return cmd
}

func (e *env) releaseCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "release", Short: "Known stable versions, which rollbacks return to"}
	var sv store.StableVersion
	var at string
	record := &cobra.Command{
		Use:     "record --subject APP --env ENV --version V",
		Short:   "Record a version known stable in an environment (e.g. the baseline before patchctl)",
		Example: `  patchctl release record --subject payments --env production --version v1.4.1`,
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if at != "" {
				t, err := parseTime(at)
				if err != nil {
					return usagef("--at: %v", err)
				}
				sv.RecordedAt = t
			}
			api, err := e.api()
			if err != nil {
				return err
			}
			got, err := api.RecordStable(e.ctx, sv)
			if err != nil {
				return err
			}
			return e.emit(got, func(w io.Writer) {
				fmt.Fprintf(w, "%s %s in %s recorded stable\n", got.Subject, got.Version, got.Environment)
			})
		},
	}
	record.Flags().StringVar(&sv.Subject, "subject", "", "application or system")
	record.Flags().StringVar(&sv.Environment, "env", "", "environment")
	record.Flags().StringVar(&sv.Version, "version", "", "version")
	record.Flags().StringVar(&sv.Source, "source", "", "where it is known from")
	record.Flags().StringVar(&at, "at", "", "since when (default now)")
	var subject string
	list := &cobra.Command{
		Use:   "list --subject APP",
		Short: "List the stable versions of an application or system",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if subject == "" {
				return usagef("--subject is required")
			}
			api, err := e.api()
			if err != nil {
				return err
			}
			vs, err := api.StableVersions(e.ctx, subject)
			if err != nil {
				return err
			}
			return e.emit(vs, func(w io.Writer) {
				fmt.Fprintln(w, "ENVIRONMENT\tVERSION\tSINCE\tPATCH\tSOURCE")
				for _, v := range vs {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", v.Environment, v.Version, ts(v.RecordedAt), orDash(v.PatchKey), v.Source)
				}
			})
		},
	}
	list.Flags().StringVar(&subject, "subject", "", "application or system")
	cmd.AddCommand(record, list)
	return cmd
}
