// Package policy decides a patch's priority and due time from the configured
// policy: classification rules written in CEL over a trigger's attributes,
// SLA durations, and the maintenance windows that give routine patches their
// deadline ("next scheduled window" in SOP-005).
//
// A Policy is immutable once compiled and safe for concurrent use.
package policy

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/config"
)

// Policy is a compiled configuration.
type Policy struct {
	cfg     *config.Config
	version string
	rules   []rule
	def     patchctl.Priority
	windows []*Window
}

type rule struct {
	name     string
	priority patchctl.Priority
	when     string
	prg      cel.Program
}

// Input is what a classification rule sees. In CEL the fields are the
// variables cvss (double), cvss_vector (string), severity (string), kev
// (bool), epss (double), exploit (string), labels (list of string) and kind
// (string).
type Input struct {
	CVSS       float64
	CVSSVector string
	Severity   string
	KEV        bool
	EPSS       float64
	Exploit    string
	Labels     []string
	Kind       string
}

// Decision is the outcome of classification.
type Decision struct {
	Priority patchctl.Priority
	// Rule is the name of the rule that fired, or "default".
	Rule string
	// Reason says which trigger made the rule fire, for the priority history.
	Reason string
}

func newEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("cvss", cel.DoubleType),
		cel.Variable("cvss_vector", cel.StringType),
		cel.Variable("severity", cel.StringType),
		cel.Variable("kev", cel.BoolType),
		cel.Variable("epss", cel.DoubleType),
		cel.Variable("exploit", cel.StringType),
		cel.Variable("labels", cel.ListType(cel.StringType)),
		cel.Variable("kind", cel.StringType),
	)
}

// New compiles cfg. Problems name the field of each rule or window that does
// not compile; the config's Locate adds file and line.
func New(cfg *config.Config) (*Policy, config.Problems) {
	p := &Policy{cfg: cfg, version: cfg.EffectivePolicyVersion(), def: patchctl.Priority(cfg.Classification.Default)}
	var ps config.Problems
	env, err := newEnv()
	if err != nil {
		return nil, config.Problems{{Field: "classification", Message: "CEL environment: " + err.Error()}}
	}
	for i, r := range cfg.Classification.Rules {
		field := fmt.Sprintf("classification.rules[%d].when", i)
		ast, iss := env.Compile(r.When)
		if iss != nil && iss.Err() != nil {
			ps = append(ps, cfg.Locate(config.Problem{Field: field, Message: "does not compile: " + oneLine(iss.Err().Error())}))
			continue
		}
		if ast.OutputType() != cel.BoolType {
			ps = append(ps, cfg.Locate(config.Problem{Field: field, Message: fmt.Sprintf("must be a boolean expression, is %s", ast.OutputType())}))
			continue
		}
		prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize))
		if err != nil {
			ps = append(ps, cfg.Locate(config.Problem{Field: field, Message: err.Error()}))
			continue
		}
		p.rules = append(p.rules, rule{name: r.Name, priority: patchctl.Priority(r.Priority), when: r.When, prg: prg})
	}
	// Most urgent first; file order within a priority.
	sort.SliceStable(p.rules, func(i, j int) bool { return p.rules[i].priority.Rank() > p.rules[j].priority.Rank() })

	for i, w := range cfg.Windows {
		win, err := NewWindow(w)
		if err != nil {
			ps = append(ps, cfg.Locate(config.Problem{Field: fmt.Sprintf("windows[%d].rrule", i), Message: err.Error()}))
			continue
		}
		p.windows = append(p.windows, win)
	}
	if len(ps) > 0 {
		return nil, ps
	}
	return p, nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Version is the effective policy version recorded with every classification.
func (p *Policy) Version() string { return p.version }

// Config returns the configuration the policy was compiled from.
func (p *Policy) Config() *config.Config { return p.cfg }

// Classify evaluates the rules, most urgent first, against one input.
func (p *Policy) Classify(in Input) (Decision, error) {
	labels := in.Labels
	if labels == nil {
		labels = []string{}
	}
	vars := map[string]any{
		"cvss": in.CVSS, "cvss_vector": in.CVSSVector, "severity": in.Severity, "kev": in.KEV,
		"epss": in.EPSS, "exploit": in.Exploit, "labels": labels, "kind": in.Kind,
	}
	for _, r := range p.rules {
		out, _, err := r.prg.Eval(vars)
		if err != nil {
			return Decision{}, fmt.Errorf("rule %s: %w", r.name, err)
		}
		if out == types.True {
			return Decision{Priority: r.priority, Rule: r.name}, nil
		}
	}
	return Decision{Priority: p.def, Rule: "default"}, nil
}

// ClassifyPatch classifies each trigger of a patch (with the patch's own
// labels added to each) and keeps the most urgent result; a patch with no
// trigger is classified on its labels alone.
func (p *Policy) ClassifyPatch(patch *patchctl.Patch, links []patchctl.Link) (Decision, error) {
	best := Decision{}
	consider := func(d Decision, why string) {
		if d.Priority.Rank() > best.Priority.Rank() {
			best = d
			best.Reason = why
		}
	}
	base := Input{Kind: string(patch.Kind), Labels: patch.Labels}
	if len(links) == 0 {
		d, err := p.Classify(base)
		if err != nil {
			return Decision{}, err
		}
		consider(d, "no trigger: classified on the patch's labels")
	}
	for _, l := range links {
		in := base
		a := l.Attributes
		in.CVSS, in.CVSSVector, in.Severity, in.KEV, in.EPSS, in.Exploit = a.CVSS, a.CVSSVector, string(a.Severity), a.KEV, a.EPSS, a.Exploit
		if len(a.Labels) > 0 {
			in.Labels = append(append([]string{}, patch.Labels...), a.Labels...)
		}
		d, err := p.Classify(in)
		if err != nil {
			return Decision{}, err
		}
		consider(d, describe(l))
	}
	return best, nil
}

func describe(l patchctl.Link) string {
	a := l.Attributes
	var parts []string
	if a.KEV {
		parts = append(parts, "kev")
	}
	if a.Exploit != "" {
		parts = append(parts, "exploit="+a.Exploit)
	}
	if a.CVSS > 0 {
		parts = append(parts, fmt.Sprintf("cvss=%.1f", a.CVSS))
	}
	if a.Severity != "" {
		parts = append(parts, "severity="+string(a.Severity))
	}
	if a.EPSS > 0 {
		parts = append(parts, fmt.Sprintf("epss=%.3f", a.EPSS))
	}
	if len(a.Labels) > 0 {
		parts = append(parts, "labels="+strings.Join(a.Labels, ","))
	}
	s := string(l.Type) + " " + l.Ref
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s
}

// Due returns the due time for a priority and target, with an explanation.
// Emergency and high are the detection time plus their SLA; routine is the
// end of the first maintenance window covering the target that starts at or
// after detection, or detection plus the routine fallback when no window
// covers the target within a year.
func (p *Policy) Due(priority patchctl.Priority, kind patchctl.Kind, target patchctl.Target, detected time.Time) (time.Time, string) {
	sla := p.cfg.SLA
	switch priority {
	case patchctl.PriorityEmergency:
		return detected.Add(sla.Emergency.D()), "emergency: detection + " + config.FormatDuration(sla.Emergency.D())
	case patchctl.PriorityHigh:
		return detected.Add(sla.High.D()), "high: detection + " + config.FormatDuration(sla.High.D())
	}
	if occ, ok := p.NextWindow(kind, target, detected); ok {
		return occ.End, "routine: end of maintenance window " + occ.Window + " starting " + occ.Start.Format(time.RFC3339)
	}
	return detected.Add(sla.RoutineFallback.D()), "routine: no maintenance window covers the target; detection + " + config.FormatDuration(sla.RoutineFallback.D())
}

// Occurrence is one maintenance window occurrence.
type Occurrence struct {
	Window string    `json:"window"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
}

// NextWindow returns the earliest occurrence, starting at or after from, of
// the windows covering the target.
func (p *Policy) NextWindow(kind patchctl.Kind, target patchctl.Target, from time.Time) (Occurrence, bool) {
	var best Occurrence
	found := false
	for _, w := range p.windows {
		if !w.Covers(kind, target) {
			continue
		}
		if occ, ok := w.Next(from); ok && (!found || occ.Start.Before(best.Start)) {
			best, found = occ, true
		}
	}
	return best, found
}

// Occurrences lists the window occurrences overlapping [from, to), in start
// order, for the calendar.
func (p *Policy) Occurrences(from, to time.Time) []Occurrence {
	var out []Occurrence
	for _, w := range p.windows {
		out = append(out, w.Between(from, to)...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// InWindow reports the occurrence covering t for the target, if any.
func (p *Policy) InWindow(kind patchctl.Kind, target patchctl.Target, t time.Time) (Occurrence, bool) {
	for _, w := range p.windows {
		if !w.Covers(kind, target) {
			continue
		}
		if occ, ok := w.Next(t.Add(-w.duration)); ok && !t.Before(occ.Start) && t.Before(occ.End) {
			return occ, true
		}
	}
	return Occurrence{}, false
}
