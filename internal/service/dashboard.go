package service

import (
	"context"
	"slices"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/lifecycle"
	"github.com/patchctl/patchctl/internal/store"
)

// Dashboard sizes: how many patches each list of the dashboard shows.
const (
	dashboardTop      = 5  // most urgent patches per priority
	dashboardList     = 8  // overdue, due soon, halted
	dashboardActivity = 12 // recent audit events
	// DueSoonWithin is the horizon of the dashboard's "due soon" list.
	DueSoonWithin = 24 * time.Hour
)

// Compliance periods, in days, shown on the dashboard.
var CompliancePeriods = []int{30, 90}

// Dashboard is the overview a team starts its day with.
type Dashboard struct {
	// Now is the server's time of this answer: SLA clocks are relative to it.
	Now        time.Time       `json:"now"`
	Priorities []PriorityQueue `json:"priorities"`
	// Overdue lists the open patches past their due time, longest overdue
	// first; OverdueCount counts them all.
	Overdue      []*patchctl.Patch `json:"overdue"`
	OverdueCount int               `json:"overdue_count"`
	// DueSoon lists the open patches due within DueSoonWithin.
	DueSoon      []*patchctl.Patch     `json:"due_soon"`
	DueSoonCount int                   `json:"due_soon_count"`
	Compliance   *Compliance           `json:"compliance"`
	Halted       []*patchctl.Patch     `json:"halted"`
	Activity     []patchctl.AuditEvent `json:"activity"`
	// Findings counts the open findings by severity and on KEV.
	Findings *FindingFigures `json:"findings"`
}

// FindingFigures counts findings for the dashboard: the open ones by
// severity, on the CISA KEV catalog and without a fix, and those set aside
// by a lead.
type FindingFigures struct {
	Open int `json:"open"`
	// BySeverity has every severity, most severe first.
	BySeverity    []SeverityFigure `json:"by_severity"`
	KEV           int              `json:"kev"`
	NoFix         int              `json:"no_fix"`
	RiskAccepted  int              `json:"risk_accepted"`
	FalsePositive int              `json:"false_positive"`
}

// SeverityFigure counts the open findings of one severity, and how many of
// them are on KEV.
type SeverityFigure struct {
	Severity patchctl.Severity `json:"severity"`
	Open     int               `json:"open"`
	KEV      int               `json:"kev"`
}

// findingFigures sums the stored finding counts.
func findingFigures(counts []store.FindingCount) *FindingFigures {
	f := &FindingFigures{}
	by := map[patchctl.Severity]*SeverityFigure{}
	for _, s := range patchctl.Severities {
		f.BySeverity = append(f.BySeverity, SeverityFigure{Severity: s})
	}
	for i := range f.BySeverity {
		by[f.BySeverity[i].Severity] = &f.BySeverity[i]
	}
	for _, c := range counts {
		switch c.State {
		case patchctl.FindingOpen:
			f.Open += c.N
			if sf := by[c.Severity]; sf != nil {
				sf.Open += c.N
				if c.KEV {
					sf.KEV += c.N
				}
			}
			if c.KEV {
				f.KEV += c.N
			}
			if c.NoFix {
				f.NoFix += c.N
			}
		case patchctl.FindingRiskAccepted:
			f.RiskAccepted += c.N
		case patchctl.FindingFalsePositive:
			f.FalsePositive += c.N
		}
	}
	return f
}

// PriorityQueue is the open work of one priority.
type PriorityQueue struct {
	store.PriorityCount
	// Top lists the patches of the priority due first.
	Top []*patchctl.Patch `json:"top"`
}

// Compliance is SLA compliance over the periods of CompliancePeriods and,
// for the chart, week by week over the longest.
//
// Definition: a patch's SLA is decided in a period when it was closed as
// done in the period (met if closed at or before its due time, late
// otherwise), or when it is still open and past its due time (overdue: it
// was overdue during the period). Compliance is met / (met + late +
// overdue). Cancelled and aborted patches are not counted. In the weekly
// figures an overdue patch counts in the week its due time passed.
type Compliance struct {
	Start   time.Time          `json:"start"`
	End     time.Time          `json:"end"`
	Periods []ComplianceFigure `json:"periods"`
	// Weeks counts back from End in 7-day steps, oldest first; the oldest
	// may be shorter.
	Weeks []ComplianceFigure `json:"weeks"`
}

// ComplianceFigure is what happened to SLAs in [Start, End).
type ComplianceFigure struct {
	Days    int       `json:"days"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Met     int       `json:"met"`
	Late    int       `json:"late"`
	Overdue int       `json:"overdue"`
}

// Decided counts the patches whose SLA was decided in the period.
func (f ComplianceFigure) Decided() int { return f.Met + f.Late + f.Overdue }

// Percent is the share of decided SLAs that were met, 0 to 100; ok is false
// when none was decided.
func (f ComplianceFigure) Percent() (pct float64, ok bool) {
	if f.Decided() == 0 {
		return 0, false
	}
	return 100 * float64(f.Met) / float64(f.Decided()), true
}

// Dashboard returns the overview: open patches by priority, overdue and due
// soon, SLA compliance, halted rollouts, recent activity and open findings.
func (s *Service) Dashboard(ctx context.Context, a patchctl.Actor) (*Dashboard, error) {
	if err := authorize(a, patchctl.PermRead, "reading the dashboard"); err != nil {
		return nil, err
	}
	now := s.Now()
	r := s.db.Read()
	d := &Dashboard{Now: now}
	counts, err := r.OpenByPriority(ctx, now)
	if err != nil {
		return nil, err
	}
	for _, c := range counts {
		q := PriorityQueue{PriorityCount: c}
		if c.Open > 0 {
			if q.Top, err = r.MostUrgent(ctx, c.Priority, dashboardTop); err != nil {
				return nil, err
			}
		}
		d.Priorities = append(d.Priorities, q)
	}
	for _, c := range counts {
		d.OverdueCount += c.Overdue
	}
	if d.Overdue, err = r.Overdue(ctx, now, dashboardList); err != nil {
		return nil, err
	}
	if d.DueSoon, d.DueSoonCount, err = r.DueBetween(ctx, now, now.Add(DueSoonWithin), dashboardList); err != nil {
		return nil, err
	}
	if d.Compliance, err = s.compliance(ctx, r, now, d.OverdueCount); err != nil {
		return nil, err
	}
	if d.Halted, err = r.Halted(ctx, dashboardList); err != nil {
		return nil, err
	}
	if d.Activity, err = r.AuditEvents(ctx, store.AuditFilter{Desc: true, Limit: dashboardActivity}); err != nil {
		return nil, err
	}
	if d.Activity == nil {
		d.Activity = []patchctl.AuditEvent{}
	}
	// Counted by triggers as findings change (migration 0005): counting a
	// million rows here would take longer than the rest of the dashboard.
	fc, err := s.db.FindingCounts(ctx)
	if err != nil {
		return nil, err
	}
	d.Findings = findingFigures(fc)
	return d, nil
}

// compliance computes the figures of CompliancePeriods ending at now and
// the weeks of the longest. The store counts each interval between the
// boundaries of the weeks and the periods once; figures are sums of those.
func (s *Service) compliance(ctx context.Context, r *store.Reader, now time.Time, overdue int) (*Compliance, error) {
	const day = 24 * time.Hour
	longest := 0
	for _, p := range CompliancePeriods {
		longest = max(longest, p)
	}
	start := now.Add(-time.Duration(longest) * day)
	bounds := []time.Time{start, now}
	for _, p := range CompliancePeriods {
		bounds = append(bounds, now.Add(-time.Duration(p)*day))
	}
	for end := now.Add(-7 * day); end.After(start); end = end.Add(-7 * day) {
		bounds = append(bounds, end)
	}
	slices.SortFunc(bounds, func(a, b time.Time) int { return a.Compare(b) })
	bounds = slices.CompactFunc(bounds, func(a, b time.Time) bool { return a.Equal(b) })
	counts, err := r.ComplianceCounts(ctx, bounds)
	if err != nil {
		return nil, err
	}
	sum := func(from, to time.Time) ComplianceFigure {
		f := ComplianceFigure{Days: int((to.Sub(from) + day - 1) / day), Start: from, End: to}
		for i, c := range counts {
			if !bounds[i].Before(from) && !bounds[i+1].After(to) {
				f.Met += c.Met
				f.Late += c.Late
				f.Overdue += c.Overdue
			}
		}
		return f
	}
	c := &Compliance{Start: start, End: now}
	for _, p := range CompliancePeriods {
		f := sum(now.Add(-time.Duration(p)*day), now)
		// Every open overdue patch was overdue in every period that ends
		// now, whenever its due time passed.
		f.Overdue = overdue
		c.Periods = append(c.Periods, f)
	}
	for end := now; end.After(start); end = end.Add(-7 * day) {
		from := end.Add(-7 * day)
		if from.Before(start) {
			from = start
		}
		c.Weeks = append([]ComplianceFigure{sum(from, end)}, c.Weeks...)
	}
	return c, nil
}

// Board is one kind's patches by lifecycle state.
type Board struct {
	Kind patchctl.Kind `json:"kind"`
	// Downtime selects, for infrastructure, the patches with downtime (and
	// their lifecycle) or those without.
	Downtime bool          `json:"downtime"`
	Columns  []BoardColumn `json:"columns"`
	Now      time.Time     `json:"now"`
}

// BoardColumn is the patches in one state: the first few (due first; latest
// first for closed states) and how many in all.
type BoardColumn struct {
	State   patchctl.State    `json:"state"`
	Count   int               `json:"count"`
	Patches []*patchctl.Patch `json:"patches"`
}

// Board returns a column per lifecycle state of kind (with or without
// downtime for infrastructure), each with up to perColumn patches.
func (s *Service) Board(ctx context.Context, a patchctl.Actor, kind patchctl.Kind, downtime bool, perColumn int) (*Board, error) {
	if err := authorize(a, patchctl.PermRead, "reading patches"); err != nil {
		return nil, err
	}
	if !kind.Valid() {
		return nil, patchctl.FieldError("kind", "%q is not a kind (want application, kubernetes or infrastructure)", kind)
	}
	if perColumn <= 0 || perColumn > 100 {
		perColumn = 20
	}
	f := store.BoardFilter{Kind: kind}
	if kind == patchctl.KindInfrastructure {
		f.Downtime = &downtime
	} else {
		downtime = false
	}
	b := &Board{Kind: kind, Downtime: downtime, Now: s.Now()}
	r := s.db.Read()
	for _, st := range lifecycle.States(kind, downtime) {
		col := BoardColumn{State: st}
		var err error
		if col.Count, err = r.BoardCount(ctx, f, st); err != nil {
			return nil, err
		}
		if col.Count > 0 {
			if col.Patches, err = r.BoardColumn(ctx, f, st, perColumn); err != nil {
				return nil, err
			}
		}
		b.Columns = append(b.Columns, col)
	}
	return b, nil
}

// AuditHead returns the sequence number and hash of the latest audit event.
func (s *Service) AuditHead(ctx context.Context, a patchctl.Actor) (int64, string, error) {
	if err := authorize(a, patchctl.PermRead, "reading the audit log"); err != nil {
		return 0, "", err
	}
	return s.db.Read().AuditHead(ctx)
}
