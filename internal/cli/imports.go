package cli

import (
	"fmt"
	"io"
	"os"

	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/intake"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
)

var importFormats = []string{"auto", "trivy", "grype", "osv", "sarif", "cyclonedx", "kev", "epss", "osv-record"}

func (e *env) importCmd() *cobra.Command {
	var asset string
	cmd := &cobra.Command{
		Use:   "import FORMAT FILE|-",
		Short: "Import a scanner report (trivy, grype, osv, sarif, cyclonedx, auto) or a feed (kev, epss, osv-record)",
		Long: `Import a scanner report: its findings are deduplicated against what patchctl
knows, findings the report no longer lists for its asset are closed, findings
that come back are reopened, and fixable findings are grouped into draft
patches (one per asset group, package and fixed version). An import lands
whole or not at all. FORMAT auto detects the format and says what it found.

Feeds: kev (CISA KEV catalog JSON) re-classifies the patches of newly
exploited vulnerabilities at once; epss (FIRST EPSS CSV) updates scores;
osv-record (an OSV advisory) teaches aliases so findings under CVE, GHSA and
GO ids merge.

With -o json the summary is printed as an object with format, asset,
findings_in_report, findings_new, findings_updated, findings_unchanged,
findings_closed, findings_reopened, by_severity, patches_created and
patches_updated. On a terminal a progress bar shows on standard error.`,
		Example: `  trivy image -f json ghcr.io/acme/payments:1.4 | patchctl import trivy -
  patchctl import auto grype-report.json --asset image:ghcr.io/acme/payments:1.4
  patchctl import kev known_exploited_vulnerabilities.json`,
		Args:      args(cobra.ExactArgs(2)),
		ValidArgs: importFormats,
		RunE: func(cmd *cobra.Command, a []string) error {
			format := lower(a[0])
			var r io.Reader = os.Stdin
			size := int64(-1)
			source := "stdin"
			if a[1] != "-" {
				f, err := os.Open(a[1])
				if err != nil {
					return patchctl.FieldError("file", "%v", err)
				}
				defer f.Close()
				if st, err := f.Stat(); err == nil {
					size = st.Size()
				}
				r, source = f, a[1]
			}
			api, err := e.api()
			if err != nil {
				return err
			}
			var bar *progressBar
			if e.output == OutTable && isTerminal(e.stderr) {
				bar = &progressBar{w: e.stderr, start: time.Now()}
			}
			var progress func(read, total, records int64)
			if bar != nil {
				progress = bar.update
			}
			res, err := api.Import(e.ctx, format, asset, source, r, size, progress)
			bar.done()
			if err != nil {
				return err
			}
			if res.Feed != nil {
				return e.emit(res.Feed, func(w io.Writer) { printFeed(w, res.Feed) })
			}
			if res.Summary == nil {
				return e.emit(res, func(w io.Writer) { fmt.Fprintf(w, "import %d: %s\n", res.Import.ID, res.Import.Status) })
			}
			return e.emit(res.Summary, func(w io.Writer) { printSummary(w, res.Summary) })
		},
	}
	cmd.Flags().StringVar(&asset, "asset", "", "the asset the findings belong to: kind:name (image, repository, host, workload...) or a name")
	cmd.AddCommand(e.importList(), e.importShow())
	return cmd
}

func printSummary(w io.Writer, s *intake.Summary) {
	fmt.Fprintf(w, "import %d: %s report", s.ImportID, s.Format)
	if s.Tool != "" {
		fmt.Fprintf(w, " from %s %s", s.Tool, s.ToolVersion)
	}
	fmt.Fprintf(w, ", asset %s\n", orDash(s.Asset))
	fmt.Fprintf(w, "findings\t%d in report: %d new, %d updated, %d unchanged, %d closed, %d reopened\n",
		s.FindingsInReport, s.FindingsNew, s.FindingsUpdated, s.FindingsUnchanged, s.FindingsClosed, s.FindingsReopened)
	var sev []string
	for _, k := range patchctl.Severities {
		if n := s.BySeverity[string(k)]; n > 0 {
			sev = append(sev, fmt.Sprintf("%s %d", k, n))
		}
	}
	fmt.Fprintf(w, "severity\t%s\n", orDash(strings.Join(sev, ", ")))
	fmt.Fprintf(w, "patches\t%d created, %d updated %s\n", s.PatchesCreated, s.PatchesUpdated, strings.Join(s.Patches, " "))
	for _, n := range s.Notes {
		fmt.Fprintf(w, "note\t%s\n", n)
	}
	fmt.Fprintf(w, "took\t%s for %d bytes\n", (time.Duration(s.DurationMS) * time.Millisecond).String(), s.Bytes)
}

func printFeed(w io.Writer, s *intake.FeedSummary) {
	fmt.Fprintf(w, "%s %s: %d entries, %d new, %d findings affected, %d patches updated\n", s.Format, s.Version, s.Entries, s.New, s.FindingsAffected, s.PatchesUpdated)
	if len(s.Escalated) > 0 {
		fmt.Fprintf(w, "escalated\t%s\n", strings.Join(s.Escalated, " "))
	}
}

// progressBar draws import progress on a terminal.
type progressBar struct {
	w     io.Writer
	start time.Time
	drawn bool
}

func (b *progressBar) update(read, total, records int64) {
	if b == nil {
		return
	}
	b.drawn = true
	rate := float64(records) / max(time.Since(b.start).Seconds(), 0.001)
	if total > 0 {
		frac := min(float64(read)/float64(total), 1)
		n := int(frac * 30)
		fmt.Fprintf(b.w, "\r[%s%s] %3.0f%%  %d findings  %.0f/s ", strings.Repeat("#", n), strings.Repeat(".", 30-n), frac*100, records, rate)
		return
	}
	fmt.Fprintf(b.w, "\r%d MB  %d findings  %.0f/s ", read>>20, records, rate)
}

func (b *progressBar) done() {
	if b != nil && b.drawn {
		fmt.Fprintln(b.w)
	}
}

func (e *env) importList() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List recent imports",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := e.api()
			if err != nil {
				return err
			}
			ims, err := api.Imports(e.ctx, limit)
			if err != nil {
				return err
			}
			return e.emit(ims, func(w io.Writer) {
				fmt.Fprintln(w, "ID\tSTARTED\tFORMAT\tSTATUS\tRECORDS\tBYTES\tBY\tSOURCE")
				for _, im := range ims {
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", im.ID, ts(im.StartedAt), im.Format, im.Status, im.Records, im.BytesRead, im.Actor, truncateLeft(im.Source, 40))
				}
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "how many")
	return cmd
}

func (e *env) importShow() *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show an import: status, progress, summary",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			id, err := strconv.ParseInt(a[0], 10, 64)
			if err != nil {
				return usagef("%q is not an import id", a[0])
			}
			api, err := e.api()
			if err != nil {
				return err
			}
			res, err := api.ImportByID(e.ctx, id)
			if err != nil {
				return err
			}
			return e.emit(res, func(w io.Writer) {
				im := res.Import
				fmt.Fprintf(w, "import %d (%s) %s by %s, started %s\n", im.ID, im.Format, im.Status, im.Actor, ts(im.StartedAt))
				if im.Error != "" {
					fmt.Fprintf(w, "error\t%s\n", im.Error)
				}
				if res.Summary != nil {
					printSummary(w, res.Summary)
				}
			})
		},
	}
}

func (e *env) findingCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "finding", Aliases: []string{"findings", "f"}, Short: "List and show findings; accept risks, mark false positives"}
	var sev, states []string
	var kev string
	var f store.FindingFilter
	var patch string
	list := &cobra.Command{
		Use:     "list",
		Short:   "List findings, most severe first",
		Example: `  patchctl finding list --severity critical,high --kev true --state open`,
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, s := range sev {
				f.Severities = append(f.Severities, patchctl.Severity(lower(s)))
			}
			for _, s := range states {
				f.States = append(f.States, patchctl.FindingState(lower(s)))
			}
			switch lower(kev) {
			case "":
			case "true", "yes":
				t := true
				f.KEV = &t
			case "false", "no":
				t := false
				f.KEV = &t
			default:
				return usagef("--kev %q: want true or false", kev)
			}
			if patch != "" {
				id, err := patchctl.ParsePatchKey(patch)
				if err != nil {
					return usageError{err}
				}
				f.PatchID = id
			}
			api, err := e.api()
			if err != nil {
				return err
			}
			res, err := api.ListFindings(e.ctx, f)
			if err != nil {
				return err
			}
			return e.emit(res, func(w io.Writer) {
				fmt.Fprintln(w, "ID\tSEVERITY\tKEV\tEPSS\tVULNERABILITY\tPACKAGE\tINSTALLED\tFIXED\tSTATE\tASSET\tPATCH")
				for _, x := range res.Findings {
					k := ""
					if x.KEV {
						k = "KEV"
					}
					fmt.Fprintf(w, "%d\t%s\t%s\t%.3f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", x.ID, x.Severity, k, x.EPSS, x.VulnID, truncate(x.Package, 30),
						truncate(x.InstalledVersion, 20), orDash(truncate(x.FixedVersion, 20)), x.State, truncate(x.Asset, 40), orDash(x.PatchKey))
				}
				if res.More {
					fmt.Fprintf(w, "… more: --offset %d\n", res.Offset+res.Limit)
				}
			})
		},
	}
	fl := list.Flags()
	fl.StringSliceVar(&sev, "severity", nil, "critical, high, medium, low, none, unknown")
	fl.StringSliceVar(&states, "state", nil, "open, closed, risk_accepted, false_positive, not_affected, fixed")
	fl.StringVar(&kev, "kev", "", "true: only on the KEV catalog; false: only not on it")
	fl.Float64Var(&f.EPSSMin, "epss-min", 0, "only EPSS at least this")
	fl.StringVar(&f.Asset, "asset", "", "asset name, or a prefix ending in *")
	fl.StringVar(&f.Package, "package", "", "package")
	fl.StringVar(&f.VulnID, "vuln", "", "vulnerability id or alias")
	fl.StringVar(&patch, "patch", "", "findings fixed by this patch")
	fl.BoolVar(&f.NoFix, "no-fix", false, "only findings without a fixed version")
	fl.IntVar(&f.Limit, "limit", 50, "page size")
	fl.IntVar(&f.Offset, "offset", 0, "skip this many")
	_ = list.RegisterFlagCompletionFunc("severity", completeAll(patchctl.Severities))
	_ = list.RegisterFlagCompletionFunc("state", complete("open", "closed", "risk_accepted", "false_positive", "not_affected", "fixed"))

	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a finding with its history",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			id, err := parseID(a[0])
			if err != nil {
				return err
			}
			api, err := e.api()
			if err != nil {
				return err
			}
			d, err := api.Finding(e.ctx, id)
			if err != nil {
				return err
			}
			return e.emit(d, func(w io.Writer) {
				x := d.Finding
				fmt.Fprintf(w, "finding %d\t%s in %s %s\n", x.ID, x.VulnID, x.Package, x.InstalledVersion)
				fmt.Fprintf(w, "asset\t%s\n", x.Asset)
				fmt.Fprintf(w, "severity\t%s (CVSS %.1f, EPSS %.3f, KEV %v)\n", x.Severity, x.CVSS, x.EPSS, x.KEV)
				fmt.Fprintf(w, "fixed in\t%s\n", orDash(x.FixedVersion))
				fmt.Fprintf(w, "state\t%s\n", x.State)
				if x.Acceptance != nil {
					fmt.Fprintf(w, "accepted\tby %s: %s (until %s)\n", x.Acceptance.Actor, x.Acceptance.Reason, tsp(x.Acceptance.ExpiresAt))
				}
				fmt.Fprintf(w, "seen\tfirst %s, last %s\n", ts(x.FirstSeenAt), ts(x.LastSeenAt))
				fmt.Fprintf(w, "patch\t%s\n", orDash(x.PatchKey))
				if len(x.Aliases) > 0 {
					fmt.Fprintf(w, "aliases\t%s\n", strings.Join(x.Aliases, ", "))
				}
				for _, h := range d.History {
					fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", ts(h.At), h.Actor, h.Action, truncate(string(h.Data), 80))
				}
			})
		},
	}
	var reason, until string
	accept := &cobra.Command{
		Use:     "accept ID --reason TEXT --until TIME",
		Short:   "Accept a finding's risk until a time (lead or admin); it reopens then",
		Example: `  patchctl finding accept 42 --reason "not reachable: XML parser unused" --until 2027-01-31`,
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			id, err := parseID(a[0])
			if err != nil {
				return err
			}
			if until == "" {
				return usagef("--until is required: a risk acceptance expires")
			}
			t, err := parseTime(until)
			if err != nil {
				return usagef("--until: %v", err)
			}
			api, err := e.api()
			if err != nil {
				return err
			}
			x, err := api.AcceptRisk(e.ctx, id, service.AcceptanceInput{Reason: reason, ExpiresAt: &t})
			if err != nil {
				return err
			}
			return e.emit(x, func(w io.Writer) { fmt.Fprintf(w, "finding %d: risk accepted until %s\n", x.ID, ts(t)) })
		},
	}
	accept.Flags().StringVar(&reason, "reason", "", "why the risk is acceptable")
	accept.Flags().StringVar(&until, "until", "", "when the acceptance ends")
	var fpReason string
	fp := &cobra.Command{
		Use:   "false-positive ID --reason TEXT",
		Short: "Mark a finding as a false positive (lead or admin)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			id, err := parseID(a[0])
			if err != nil {
				return err
			}
			api, err := e.api()
			if err != nil {
				return err
			}
			x, err := api.MarkFalsePositive(e.ctx, id, service.AcceptanceInput{Reason: fpReason})
			if err != nil {
				return err
			}
			return e.emit(x, func(w io.Writer) { fmt.Fprintf(w, "finding %d: false positive\n", x.ID) })
		},
	}
	fp.Flags().StringVar(&fpReason, "reason", "", "why it is not a real finding")
	var rReason string
	reopen := &cobra.Command{
		Use:   "reopen ID --reason TEXT",
		Short: "End a risk acceptance or false-positive marking (lead or admin)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			id, err := parseID(a[0])
			if err != nil {
				return err
			}
			api, err := e.api()
			if err != nil {
				return err
			}
			x, err := api.ReopenFinding(e.ctx, id, rReason)
			if err != nil {
				return err
			}
			return e.emit(x, func(w io.Writer) { fmt.Fprintf(w, "finding %d: open\n", x.ID) })
		},
	}
	reopen.Flags().StringVar(&rReason, "reason", "", "why")
	cmd.AddCommand(list, show, accept, fp, reopen)
	return cmd
}

func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimPrefix(s, "#"), 10, 64)
	if err != nil || id <= 0 {
		return 0, usagef("%q is not an id", s)
	}
	return id, nil
}
