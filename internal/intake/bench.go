package intake

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/importer"
	"github.com/patchctl/patchctl/internal/importer/formats"
	"github.com/patchctl/patchctl/internal/intake/reportgen"
	"github.com/patchctl/patchctl/internal/store"
	"github.com/patchctl/patchctl/internal/textutil"
)

// BenchOptions configure an import benchmark.
type BenchOptions struct {
	Assets    int
	Findings  int // per asset
	Templates []string
	Dir       string // where reports are written
	// Groups is how many services the assets are builds of (asset groups).
	Groups int
	Log    io.Writer
}

// BenchPhase is one measured phase.
type BenchPhase struct {
	Name      string  `json:"name"`
	Findings  int64   `json:"findings"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"findings_per_second"`
	// CPUSeconds is the process's user+system CPU time in the phase; on a
	// shared machine findings per CPU second moves less than wall time.
	CPUSeconds   float64 `json:"cpu_seconds"`
	PerCPUSecond float64 `json:"findings_per_cpu_second"`
	PeakRSSMiB   float64 `json:"peak_rss_mib"`
}

// cpuSeconds is the process's user+system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

// BenchResult is the outcome of a benchmark run.
type BenchResult struct {
	Engine  string       `json:"engine"`
	Files   int          `json:"files"`
	Bytes   int64        `json:"bytes"`
	Phases  []BenchPhase `json:"phases"`
	Patches int          `json:"patches_created"`
	// RewrittenOnReimport counts finding rows written by the identical
	// re-import (updated, closed or reopened).
	RewrittenOnReimport int `json:"rewritten_on_reimport"`
	// FloorFraction is the import's throughput as a fraction of the floor
	// (decode-only plus raw batched insert of the same rows, in sequence).
	FloorFraction      float64 `json:"import_fraction_of_floor"`
	FloorFractionCPU   float64 `json:"import_fraction_of_floor_cpu"`
	ReimportSpeedup    float64 `json:"reimport_speedup"`
	ReimportSpeedupCPU float64 `json:"reimport_speedup_cpu"`
	// ShortcutSpeedup compares the first import with a re-import recognised
	// by content hash.
	ShortcutSpeedup float64 `json:"reimport_shortcut_speedup"`
}

// GenerateReports writes opts.Assets Trivy reports built from the templates.
func GenerateReports(opts BenchOptions) ([]string, int64, error) {
	var tpl *reportgen.Template
	for _, p := range opts.Templates {
		f, err := os.Open(p)
		if err != nil {
			return nil, 0, err
		}
		t, err := reportgen.Load(f)
		f.Close()
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", p, err)
		}
		if tpl == nil {
			tpl = t
		} else {
			tpl.Merge(t)
		}
	}
	if tpl == nil {
		return nil, 0, fmt.Errorf("no template report")
	}
	groups := max(opts.Groups, 1)
	var files []string
	var total int64
	for i := range opts.Assets {
		asset := fmt.Sprintf("registry.acme.internal/svc-%03d:build-%05d", i%groups, i)
		p := filepath.Join(opts.Dir, fmt.Sprintf("report-%05d.json", i))
		f, err := os.Create(p)
		if err != nil {
			return nil, 0, err
		}
		// The seed depends on the service, not the build: builds of a
		// service share their vulnerable packages, as real ones do.
		if err := tpl.Write(f, asset, opts.Findings, uint64(i%groups)+1); err != nil {
			f.Close()
			return nil, 0, err
		}
		st, _ := f.Stat()
		total += st.Size()
		f.Close()
		files = append(files, p)
	}
	return files, total, nil
}

// peakRSS returns the process's peak resident set in MiB, and resets it
// (Linux: /proc/self/clear_refs accepts 5 to reset the high-water mark).
func peakRSS(reset bool) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	var kb float64
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ = strconv.ParseFloat(f[1], 64)
			}
		}
	}
	if reset {
		_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	}
	return kb / 1024
}

// RunBenchmark measures, on the same files in one run: decode-only, a raw
// batched insert of the same rows into floorDB, the first import and an
// identical re-import into db.
func (in *Intake) RunBenchmark(ctx context.Context, floorDB *store.DB, files []string, bytes int64, log io.Writer) (*BenchResult, error) {
	res := &BenchResult{Engine: string(in.db.Engine()), Files: len(files), Bytes: bytes}
	say := func(format string, args ...any) {
		if log != nil {
			fmt.Fprintf(log, format+"\n", args...)
		}
	}
	phase := func(name string, fn func() (int64, error)) (*BenchPhase, error) {
		peakRSS(true)
		start, cpu := time.Now(), cpuSeconds()
		n, err := fn()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		p := BenchPhase{Name: name, Findings: n, Seconds: time.Since(start).Seconds(), CPUSeconds: cpuSeconds() - cpu, PeakRSSMiB: peakRSS(false)}
		p.PerSecond, p.PerCPUSecond = float64(n)/p.Seconds, float64(n)/p.CPUSeconds
		res.Phases = append(res.Phases, p)
		say("%-22s %9d findings %8.2fs %10.0f findings/s  %8.2f CPU s %10.0f findings/CPU s  peak RSS %6.1f MiB",
			name, n, p.Seconds, p.PerSecond, p.CPUSeconds, p.PerCPUSecond, p.PeakRSSMiB)
		return &p, nil
	}
	parser, err := formats.Parser(importer.FormatTrivy)
	if err != nil {
		return nil, err
	}
	decode, err := phase("decode-only", func() (int64, error) {
		var n int64
		for _, p := range files {
			f, err := os.Open(p)
			if err != nil {
				return 0, err
			}
			_, err = parser.Parse(ctx, f, func(*importer.Record) error { n++; return nil })
			f.Close()
			if err != nil {
				return 0, err
			}
		}
		return n, nil
	})
	if err != nil {
		return nil, err
	}
	// Raw insert floor: the same rows, decoded beforehand (not timed), then
	// inserted in the same batches, one transaction per file, no dedupe.
	var insertSecs, insertCPU float64
	var inserted int64
	now := in.svc.Now()
	for i, p := range files {
		var rows []store.NewFinding
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		var asset patchctl.Asset
		_, err = parser.Parse(ctx, f, func(r *importer.Record) error {
			asset.Kind, asset.Name = r.Asset.Kind, r.Asset.Name
			rows = append(rows, store.NewFinding{VulnID: r.VulnID, Package: r.Package, InstalledVersion: r.InstalledVersion,
				FixedVersion: r.FixedVersion, Ecosystem: r.Ecosystem, PURL: r.PURL, Location: r.Location, Severity: r.Severity,
				CVSS: r.CVSS, CVSSVector: r.CVSSVector, Title: textutil.Prefix(r.Title, 300), URL: r.URL, Aliases: "[]", State: patchctl.FindingOpen})
			return nil
		})
		f.Close()
		if err != nil {
			return nil, err
		}
		start, cpu := time.Now(), cpuSeconds()
		err = floorDB.InTx(ctx, func(tx *store.Tx) error {
			if err := tx.EnsureAsset(ctx, &asset, now); err != nil {
				return err
			}
			for j := range rows {
				rows[j].AssetID = asset.ID
			}
			return tx.InsertFindings(ctx, rows, int64(i+1), now)
		})
		insertSecs += time.Since(start).Seconds()
		insertCPU += cpuSeconds() - cpu
		if err != nil {
			return nil, fmt.Errorf("raw insert: %w", err)
		}
		inserted += int64(len(rows))
	}
	res.Phases = append(res.Phases, BenchPhase{Name: "raw batched insert", Findings: inserted, Seconds: insertSecs, PerSecond: float64(inserted) / insertSecs,
		CPUSeconds: insertCPU, PerCPUSecond: float64(inserted) / insertCPU})
	say("%-22s %9d findings %8.2fs %10.0f findings/s  %8.2f CPU s %10.0f findings/CPU s", "raw batched insert", inserted, insertSecs,
		float64(inserted)/insertSecs, insertCPU, float64(inserted)/insertCPU)
	if in.profile != nil {
		if err := in.profile(true); err != nil {
			return nil, err
		}
		defer in.profile(false)
	}

	actor := patchctl.Actor{Name: "bench", Role: patchctl.RoleEngineer}
	importAll := func(shortcut bool, count func(*Summary)) (int64, error) {
		var n int64
		for _, p := range files {
			f, err := os.Open(p)
			if err != nil {
				return 0, err
			}
			s, err := in.Import(ctx, actor, f, Options{Format: importer.FormatTrivy, Source: filepath.Base(p), NoShortcut: !shortcut})
			f.Close()
			if err != nil {
				return 0, err
			}
			n += int64(s.FindingsInReport)
			count(s)
		}
		return n, nil
	}
	first, err := phase("first import", func() (int64, error) {
		return importAll(false, func(s *Summary) { res.Patches += s.PatchesCreated })
	})
	if err != nil {
		return nil, err
	}
	// The identical re-import parses every report again (no content-hash
	// short-cut): the figure the target is about.
	re, err := phase("identical re-import", func() (int64, error) {
		return importAll(false, func(s *Summary) {
			res.RewrittenOnReimport += s.FindingsUpdated + s.FindingsClosed + s.FindingsReopened + s.FindingsNew
		})
	})
	if err != nil {
		return nil, err
	}
	// Files are seekable: a third pass recognises byte-identical reports
	// by their SHA-256 without parsing them.
	hashed, err := phase("re-import, hash short-cut", func() (int64, error) {
		return importAll(true, func(s *Summary) {
			res.RewrittenOnReimport += s.FindingsUpdated + s.FindingsClosed + s.FindingsReopened + s.FindingsNew
		})
	})
	if err != nil {
		return nil, err
	}
	res.ShortcutSpeedup = first.Seconds / hashed.Seconds
	floor := decode.Seconds + insertSecs
	res.FloorFraction = floor / first.Seconds
	res.ReimportSpeedup = first.Seconds / re.Seconds
	floorCPU := decode.CPUSeconds + insertCPU
	res.FloorFractionCPU = floorCPU / first.CPUSeconds
	res.ReimportSpeedupCPU = first.CPUSeconds / re.CPUSeconds
	say("floor (decode + raw insert) %.2fs / %.2f CPU s: first import at %.0f%% of the floor (%.0f%% by CPU time); re-import %.1fx faster (%.1fx by CPU time), %.1fx with the hash short-cut; %d rows rewritten by the re-imports; %d patches created",
		floor, floorCPU, 100*res.FloorFraction, 100*res.FloorFractionCPU, res.ReimportSpeedup, res.ReimportSpeedupCPU, res.ShortcutSpeedup, res.RewrittenOnReimport, res.Patches)
	return res, nil
}

// SetProfiler installs a function called with true before the import phases
// and false after them (the CLI starts and stops a CPU profile with it).
func (in *Intake) SetProfiler(f func(start bool) error) { in.profile = f }
