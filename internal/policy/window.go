package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/teambition/rrule-go"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/config"
)

// Window is a compiled recurring maintenance window. Occurrences are computed
// in the window's time zone, so a 22:00 window stays at 22:00 local time
// across daylight-saving changes (RFC 5545 semantics).
type Window struct {
	name     string
	rule     *rrule.RRule
	duration time.Duration
	scope    config.WindowScope
}

// defaultStart anchors recurrences that give no start.
var defaultStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// NewWindow compiles a configured window.
func NewWindow(w config.Window) (*Window, error) {
	loc := time.UTC
	if w.Timezone != "" {
		l, err := time.LoadLocation(w.Timezone)
		if err != nil {
			return nil, fmt.Errorf("time zone %q: %w", w.Timezone, err)
		}
		loc = l
	}
	start := time.Date(defaultStart.Year(), defaultStart.Month(), defaultStart.Day(), 0, 0, 0, 0, loc)
	if w.Start != "" {
		t, err := config.ParseLocalTime(w.Start, loc)
		if err != nil {
			return nil, err
		}
		start = t
	}
	text := strings.TrimPrefix(strings.TrimSpace(w.RRule), "RRULE:")
	if strings.Contains(strings.ToUpper(text), "DTSTART") {
		return nil, fmt.Errorf("give the start in windows[].start, not DTSTART in the rule")
	}
	opt, err := rrule.StrToROptionInLocation(text, loc)
	if err != nil {
		return nil, fmt.Errorf("%q is not a recurrence rule: %v", w.RRule, err)
	}
	opt.Dtstart = start
	r, err := rrule.NewRRule(*opt)
	if err != nil {
		return nil, fmt.Errorf("%q is not a recurrence rule: %v", w.RRule, err)
	}
	if w.Duration <= 0 {
		return nil, fmt.Errorf("duration must be positive")
	}
	return &Window{name: w.Name, rule: r, duration: w.Duration.D(), scope: w.Scope}, nil
}

// Name returns the window's name.
func (w *Window) Name() string { return w.name }

// Next returns the first occurrence starting at or after from.
func (w *Window) Next(from time.Time) (Occurrence, bool) {
	// rrule works at second precision; round up so "at or after" holds.
	t := from.Truncate(time.Second)
	if t.Before(from) {
		t = t.Add(time.Second)
	}
	s := w.rule.After(t, true)
	if s.IsZero() {
		return Occurrence{}, false
	}
	return Occurrence{Window: w.name, Start: s.UTC(), End: s.Add(w.duration).UTC()}, true
}

// Between lists occurrences overlapping [from, to).
func (w *Window) Between(from, to time.Time) []Occurrence {
	var out []Occurrence
	for _, s := range w.rule.Between(from.Add(-w.duration), to, true) {
		e := s.Add(w.duration)
		if e.After(from) && s.Before(to) {
			out = append(out, Occurrence{Window: w.name, Start: s.UTC(), End: e.UTC()})
		}
	}
	return out
}

// Covers reports whether the window's scope includes the target.
func (w *Window) Covers(kind patchctl.Kind, t patchctl.Target) bool {
	sc := w.scope
	if len(sc.Kinds) > 0 && !slices.Contains(sc.Kinds, string(kind)) {
		return false
	}
	if len(sc.Applications) > 0 && (t.Application == "" || !slices.Contains(sc.Applications, t.Application)) {
		return false
	}
	if len(sc.Systems) > 0 && (t.System == "" || !slices.Contains(sc.Systems, t.System)) {
		return false
	}
	if len(sc.Clusters) > 0 {
		if len(t.Clusters) == 0 {
			return false
		}
		for _, c := range t.Clusters {
			if !slices.Contains(sc.Clusters, c) {
				return false
			}
		}
	}
	return true
}
