package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/intake"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
)

// summaryPatches is how many of an import's patches its page lists.
const summaryPatches = 100

// importData is an import's page: its progress while it runs, then its
// summary, or why it failed.
type importData struct {
	base
	R *intake.Result
	// Percent is how much of the report was read, 0 to 100.
	Percent int
	Elapsed time.Duration
	// BySeverity lists the findings of the report by severity, most severe
	// first, severities without findings left out.
	BySeverity []severityCount
	Patches    []*patchctl.Patch
	// MorePatches counts the patches the import touched beyond Patches.
	MorePatches int
}

// importPercent is how much of a running import's report was read, 0 to
// 100: live from the intake when the import runs in this process, else
// from its record (another replica runs it).
func importPercent(r *intake.Result) int {
	p := r.Progress
	if p == 0 && r.Import.BytesTotal > 0 {
		p = float64(r.Import.BytesRead) / float64(r.Import.BytesTotal)
	}
	return min(100, int(p*100))
}

type severityCount struct {
	Severity patchctl.Severity
	N        int
}

// importPage shows one import. While it runs the page shows its progress:
// with htmx the progress section asks ?fragment=progress every second and
// the whole page reloads when the import ends; without JavaScript the page
// refreshes itself every two seconds, and has a reload link. A finished
// import shows its summary: the format detected, the assets, the findings
// new, updated, unchanged, closed and reopened, by severity, the patches
// created or extended, and notes.
func (u *UI) importPage(w http.ResponseWriter, r *http.Request, s *service.WebSession) {
	id := pathID(r)
	if id == 0 {
		u.noSuch(w, r, "import")
		return
	}
	im, err := u.svc.Import(r.Context(), s.Actor, id)
	if err != nil {
		u.failed(w, r, err)
		return
	}
	d := importData{R: u.intake.Result(im)}
	now := u.svc.Now()
	if im.Status == store.ImportRunning {
		d.Percent = importPercent(d.R)
		d.Elapsed = now.Sub(im.StartedAt)
	}
	if r.URL.Query().Get("fragment") == "progress" {
		if im.Status != store.ImportRunning {
			// The import ended: the whole page shows its outcome.
			w.Header().Set("HX-Refresh", "true")
		}
		d.base = base{Now: now}
		u.renderTemplate(w, r, "import", "progress", http.StatusOK, d)
		return
	}
	if sum := d.R.Summary; sum != nil {
		for _, sev := range patchctl.Severities {
			if n := sum.BySeverity[string(sev)]; n > 0 {
				d.BySeverity = append(d.BySeverity, severityCount{sev, n})
			}
		}
		keys := sum.Patches
		if len(keys) > summaryPatches {
			d.MorePatches = len(keys) - summaryPatches
			keys = keys[:summaryPatches]
		}
		if len(keys) > 0 {
			if d.Patches, err = u.svc.PatchesByKey(r.Context(), s.Actor, keys); err != nil {
				u.failed(w, r, err)
				return
			}
		}
	}
	d.base = u.pageBase(w, r, s, "Import #"+strconv.FormatInt(id, 10), "imports")
	u.render(w, r, "import", http.StatusOK, d)
}
