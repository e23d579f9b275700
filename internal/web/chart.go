package web

import (
	"fmt"
	"math"
	"strings"

	"github.com/patchctl/patchctl/internal/service"
)

// complianceChart is the geometry of the SLA compliance chart: one column
// per week, split into met, late and overdue shares of the SLAs decided that
// week, with the week's compliance above it. The template draws it as SVG;
// all numbers are computed here so that the template only places shapes.
type complianceChart struct {
	Width, Height int
	// Top and Bottom of the plot area; Left is where the first column goes.
	Top, Bottom, Left int
	Columns           []chartColumn
	Grid              []chartGrid
	// Marker is the x of the line that starts the 30-day period (0: none).
	Marker      float64
	MarkerLabel string
	Summary     string
}

type chartColumn struct {
	X, W          float64
	Middle        float64 // the column's centre, for its labels
	Segments      []chartSegment
	Label         string // the week's start date, shown under some columns
	Value         string // compliance, above the column
	ValueY        float64
	Empty         bool
	Title         string // a tooltip with the week's numbers
	Met, Late, Od int
}

type chartSegment struct {
	X, Y, W, H float64
	Class      string
}

type chartGrid struct {
	Y     float64
	Label string
}

// newComplianceChart lays out the weeks of c.
func newComplianceChart(c *service.Compliance) complianceChart {
	ch := complianceChart{Width: 720, Height: 256, Top: 40, Bottom: 212, Left: 58}
	plot := float64(ch.Bottom - ch.Top)
	for _, p := range []int{0, 50, 100} {
		ch.Grid = append(ch.Grid, chartGrid{Y: float64(ch.Bottom) - plot*float64(p)/100, Label: fmt.Sprintf("%d%%", p)})
	}
	n := len(c.Weeks)
	if n == 0 {
		return ch
	}
	step := float64(ch.Width-ch.Left-8) / float64(n)
	w := math.Min(step*0.7, 40)
	for i, wk := range c.Weeks {
		x := float64(ch.Left) + step*float64(i) + (step-w)/2
		col := chartColumn{X: x, W: w, Middle: x + w/2, Met: wk.Met, Late: wk.Late, Od: wk.Overdue}
		if (n-1-i)%2 == 0 || n <= 6 {
			col.Label = wk.Start.Format("2 Jan")
		}
		total := wk.Decided()
		col.Title = fmt.Sprintf("Week from %s: %d met, %d closed late, %d still overdue", wk.Start.Format("2 Jan"), wk.Met, wk.Late, wk.Overdue)
		if total == 0 {
			col.Empty = true
			col.Value = "—"
			col.ValueY = float64(ch.Bottom) - 8
			ch.Columns = append(ch.Columns, col)
			continue
		}
		y := float64(ch.Bottom)
		for _, s := range []struct {
			n     int
			class string
		}{{wk.Met, "met"}, {wk.Late, "late"}, {wk.Overdue, "overdue"}} {
			if s.n == 0 {
				continue
			}
			h := plot * float64(s.n) / float64(total)
			y -= h
			col.Segments = append(col.Segments, chartSegment{X: col.X, Y: y, W: w, H: h, Class: s.class})
		}
		// Every decided week fills the plot (the bar is 100% stacked), so
		// its compliance goes above it.
		col.Value = pct(wk)
		col.ValueY = float64(ch.Top) - 6
		ch.Columns = append(ch.Columns, col)
	}
	// The 30-day period starts inside the week that holds its first day.
	for _, p := range c.Periods {
		if p.Days >= 90 || p.Start.Before(c.Start) {
			continue
		}
		for i, wk := range c.Weeks {
			if !p.Start.Before(wk.Start) && p.Start.Before(wk.End) {
				frac := p.Start.Sub(wk.Start).Seconds() / wk.End.Sub(wk.Start).Seconds()
				ch.Marker = float64(ch.Left) + step*(float64(i)+frac)
				ch.MarkerLabel = fmt.Sprintf("last %d days", p.Days)
			}
		}
	}
	var parts []string
	for _, p := range c.Periods {
		parts = append(parts, fmt.Sprintf("last %d days %s", p.Days, pct(p)))
	}
	ch.Summary = "SLA compliance by week over the last 90 days; " + strings.Join(parts, ", ") + "."
	return ch
}
