// Package lifecycle holds the lifecycle of every patch kind as data: the
// states, the transitions between them, and the gates that guard each
// transition. Gates are pure functions of Facts (the patch, its triggers,
// evidence and waves, the policy, and the current time); they never read a
// database or a clock themselves. The same functions serve people (CLI, API,
// UI) and automation (webhooks, the scheduler), so no path skips a gate.
package lifecycle

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/config"
)

// Actions name the kind of a transition.
const (
	ActionAdvance  = "advance"  // forward along the SOP path
	ActionRollback = "rollback" // redeploy the previous stable version
	ActionCancel   = "cancel"   // stop working on the patch
	ActionRework   = "rework"   // back to work after a rollback
	ActionAbort    = "abort"    // stop a halted kubernetes rollout for good
	ActionRebook   = "rebook"   // a new window invalidates announcement and backup
)

// Facts is everything gates look at.
type Facts struct {
	Patch    *patchctl.Patch
	Links    []patchctl.Link
	Evidence []patchctl.Evidence
	Waves    []patchctl.Wave
	Config   *config.Config
	Now      time.Time
	// EnteredAt is when the patch last entered each state.
	EnteredAt map[patchctl.State]time.Time
	// PreviousStable maps an environment to the version a rollback there
	// would return to (the last version validated there before this patch).
	PreviousStable map[string]string

	currentWave patchctl.Wave
}

// Gate guards a transition.
type Gate struct {
	Name string
	// Rule quotes the SOP-005 rule behind the gate.
	Rule  string
	check func(f *Facts) (ok bool, missing, detail string)
}

// Check evaluates the gate.
func (g Gate) Check(f *Facts) patchctl.GateResult {
	ok, missing, detail := g.check(f)
	r := patchctl.GateResult{Gate: g.Name, Rule: g.Rule, OK: ok, Detail: detail}
	if !ok {
		r.Missing = missing
	}
	return r
}

// Edge is one allowed transition.
type Edge struct {
	From   patchctl.State
	To     patchctl.State
	Action string
	Gates  []Gate
}

// Path returns the main path of states of a kind, in order, for boards and
// progress bars. Downtime selects the infrastructure-with-downtime path.
func Path(kind patchctl.Kind, downtime bool) []patchctl.State {
	var out []patchctl.State
	for _, e := range graph(kind, downtime) {
		if e.Action != ActionAdvance {
			continue
		}
		if len(out) == 0 {
			out = append(out, e.From)
		}
		out = append(out, e.To)
	}
	return out
}

// States returns every state a patch of the kind may be in: the main path,
// then the side states.
func States(kind patchctl.Kind, downtime bool) []patchctl.State {
	out := Path(kind, downtime)
	for _, e := range graph(kind, downtime) {
		if !slices.Contains(out, e.To) {
			out = append(out, e.To)
		}
	}
	return out
}

// Edges returns the transitions leaving the patch's current state.
func Edges(p *patchctl.Patch) []Edge {
	var out []Edge
	for _, e := range graph(p.Kind, p.Target.Downtime) {
		if e.From == p.State {
			out = append(out, e)
		}
	}
	return out
}

// Find returns the edge from the patch's state to `to`, or an error naming
// the transitions that are allowed.
func Find(p *patchctl.Patch, to patchctl.State) (Edge, error) {
	var allowed []string
	for _, e := range Edges(p) {
		if e.To == to {
			return e, nil
		}
		allowed = append(allowed, string(e.To))
	}
	if p.State.Terminal() {
		return Edge{}, patchctl.Errorf(patchctl.CodeConflict, "%s is %s: no transition leaves that state", p.Key, p.State)
	}
	return Edge{}, patchctl.Errorf(patchctl.CodeConflict,
		"%s patch %s cannot go from %s to %s (allowed: %s)", p.Kind, p.Key, p.State, to, strings.Join(allowed, ", "))
}

// Next returns the forward transition from the patch's state, if any: the
// next step on the SOP path, or back to work after a rollback.
func Next(p *patchctl.Patch) (Edge, bool) {
	for _, action := range []string{ActionAdvance, ActionRework} {
		for _, e := range Edges(p) {
			if e.Action == action {
				return e, true
			}
		}
	}
	return Edge{}, false
}

// Evaluate runs the gates of an edge.
func Evaluate(e Edge, f *Facts) []patchctl.GateResult {
	out := make([]patchctl.GateResult, 0, len(e.Gates))
	for _, g := range e.Gates {
		out = append(out, g.Check(f))
	}
	return out
}

// GateRefusal builds the error returned when gates refuse a transition.
func GateRefusal(p *patchctl.Patch, to patchctl.State, refusing []patchctl.GateResult) error {
	return refusal(fmt.Sprintf("%s cannot go from %s to %s", p.Key, p.State, to), refusing)
}

// WaveRefusal builds the error returned when gates refuse a wave operation.
func WaveRefusal(p *patchctl.Patch, seq int, op string, refusing []patchctl.GateResult) error {
	return refusal(fmt.Sprintf("wave %d of %s cannot %s", seq, p.Key, op), refusing)
}

// refusal is a CodeGate error: what cannot happen, and each refusing gate
// with what it misses.
func refusal(what string, refusing []patchctl.GateResult) error {
	names := make([]string, len(refusing))
	for i, r := range refusing {
		names[i] = r.Gate + " (" + r.Missing + ")"
	}
	return &patchctl.Error{
		Code:    patchctl.CodeGate,
		Message: what + ": refused by gate " + strings.Join(names, "; "),
		Gates:   refusing,
	}
}

// AllGates lists every gate of every lifecycle once, for documentation.
func AllGates() []Gate {
	seen := map[string]bool{}
	var out []Gate
	for _, k := range patchctl.Kinds {
		for _, downtime := range []bool{false, true} {
			for _, e := range graph(k, downtime) {
				for _, g := range e.Gates {
					if !seen[g.Name] {
						seen[g.Name] = true
						out = append(out, g)
					}
				}
			}
		}
	}
	out = append(out, waveStartGates...)
	out = append(out, waveCompleteGates...)
	return out
}
