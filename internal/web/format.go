package web

import (
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/textutil"
)

// funcs are the template functions.
func (u *UI) funcs() template.FuncMap {
	return template.FuncMap{
		"asset":        func(name string) string { return u.assets[name] },
		"sla":          SLA,
		"slaClass":     slaClass,
		"ago":          ago,
		"when":         when,
		"whenp":        whenPtr,
		"iso":          func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"label":        label,
		"target":       targetText,
		"event":        describe,
		"subject":      subjectLink,
		"pct":          pct,
		"dict":         dict,
		"join":         strings.Join,
		"has":          func(list []string, s string) bool { return slices.Contains(list, s) },
		"add":          func(a, b int) int { return a + b },
		"terminal":     func(s patchctl.State) bool { return s.Terminal() },
		"gateHelp":     gateHelpFor,
		"stamp":        func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") },
		"evParts":      evParts,
		"lastEvidence": lastEvidence,
		"errorFields":  errorFields,
		"short":        short,
		"refusing":     patchctl.Refusing,
		"agop":         func(t *time.Time, now time.Time) string { return ago(*t, now) },
		"epss":         epssText,
		"bytes":        bytesText,
		"dur":          textutil.Duration,
		"deref":        func(n *int) int { return *n },
		"importPct":    importPercent,
	}
}

// epssText shows an EPSS score (the probability of exploitation in the
// next 30 days) as a percentage, or a dash without one.
func epssText(f float64) string {
	switch {
	case f <= 0:
		return "—"
	case f < 0.001:
		return "<0.1%"
	}
	return strconv.FormatFloat(f*100, 'f', 1, 64) + "%"
}

// bytesText writes a size with a binary unit: 812 B, 20.1 KiB, 8 MiB.
func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	v, u := float64(n)/unit, 0
	for v >= unit && u < 3 {
		v /= unit
		u++
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	return s + " " + []string{"KiB", "MiB", "GiB", "TiB"}[u]
}

// lastEvidence returns the latest evidence of a kind, or nil.
func lastEvidence(ev []patchctl.Evidence, kind string) *patchctl.Evidence {
	for i := len(ev) - 1; i >= 0; i-- {
		if string(ev[i].Kind) == kind {
			return &ev[i]
		}
	}
	return nil
}

// errorFields lists the fields of a form that have an error, sorted.
func errorFields(f *form) []string {
	out := make([]string, 0, len(f.Errors))
	for name := range f.Errors {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// SLA renders a patch's due time as people read it, relative to now:
// "due in 3d 4h", "OVERDUE 2h", or the closed state.
func SLA(p *patchctl.Patch, now time.Time) string {
	if p.State.Terminal() {
		return label(string(p.State))
	}
	if p.DueAt == nil {
		return "no due time"
	}
	d := p.DueAt.Sub(now)
	switch {
	case d < 0:
		return "OVERDUE " + textutil.Duration(-d)
	case d < time.Minute:
		return "due now"
	}
	return "due in " + textutil.Duration(d)
}

// slaClass is the CSS class of an SLA: overdue, due within a day, later,
// or closed.
func slaClass(p *patchctl.Patch, now time.Time) string {
	switch {
	case p.State.Terminal() || p.DueAt == nil:
		return "sla sla-closed"
	case p.DueAt.Before(now):
		return "sla sla-overdue"
	case p.DueAt.Sub(now) <= service.DueSoonWithin:
		return "sla sla-soon"
	}
	return "sla sla-ok"
}

// ago says how long before (or after) now t is: "5m ago", "in 2h".
func ago(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d >= 0 && d < time.Minute:
		return "just now"
	case d >= 0:
		return textutil.Duration(d) + " ago"
	}
	return "in " + textutil.Duration(-d)
}

// when formats a time for people: all times are shown in UTC, the one zone
// a distributed team shares.
func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("Mon 2 Jan 2006 15:04 UTC")
}

func whenPtr(t *time.Time) string {
	if t == nil {
		return "—"
	}
	return when(*t)
}

// label turns an identifier (in_progress, pull_request) into words.
func label(s string) string { return strings.ReplaceAll(s, "_", " ") }

// targetText says what a patch changes in a few words.
func targetText(p *patchctl.Patch) string {
	t := p.Target
	switch p.Kind {
	case patchctl.KindApplication:
		return t.Application
	case patchctl.KindKubernetes:
		s := strings.Join(t.Clusters, ", ")
		if t.Version != "" {
			s += " → " + t.Version
		}
		return s
	}
	if t.Downtime {
		return t.System + " (downtime)"
	}
	return t.System
}

// pct renders a compliance figure's percentage, or a dash without data.
func pct(f service.ComplianceFigure) string {
	p, ok := f.Percent()
	if !ok {
		return "—"
	}
	return strconv.Itoa(int(math.Round(p))) + "%"
}

// dict builds a map for passing several values to a template.
func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("dict: odd number of arguments")
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
		}
		m[k] = kv[i+1]
	}
	return m, nil
}

// short cuts s to n runes with an ellipsis.
func short(n int, s string) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// step is one state of the patch page's lifecycle bar.
type step struct {
	State patchctl.State
	// Status is done (reached before), current, or todo.
	Status string
	// Off marks a state off the main path (rolled back, cancelled, aborted).
	Off bool
}

// steps places the states of a lifecycle path relative to the patch: the
// states it has been in are done, its state is current. A patch off the
// main path (rolled back, cancelled) shows its state after the path.
func steps(path []patchctl.State, current patchctl.State, history []patchctl.Transition) []step {
	reached := map[patchctl.State]bool{}
	for _, t := range history {
		reached[t.To] = true
	}
	ci := slices.Index(path, current)
	out := make([]step, 0, len(path)+1)
	for i, s := range path {
		st := step{State: s, Status: "todo"}
		switch {
		case s == current:
			st.Status = "current"
		case ci >= 0 && i < ci, ci < 0 && reached[s]:
			st.Status = "done"
		}
		out = append(out, st)
	}
	if ci < 0 {
		out = append(out, step{State: current, Status: "current", Off: true})
	}
	return out
}

// evPart is one fact of a piece of evidence, for the evidence table.
type evPart struct {
	Label string
	Value string
	Code  bool
}

// evParts lists what a piece of evidence says, in reading order.
func evParts(e patchctl.Evidence) []evPart {
	var out []evPart
	if e.Ref != "" {
		out = append(out, evPart{Value: short(90, e.Ref)})
	}
	if e.Environment != "" {
		out = append(out, evPart{Label: "in", Value: e.Environment})
	}
	if e.Version != "" {
		out = append(out, evPart{Label: "version", Value: e.Version, Code: true})
	}
	if e.Subject != "" {
		l := "by"
		switch e.Kind {
		case patchctl.EvidencePullRequest:
			l = "author"
		case patchctl.EvidenceReview:
			l = "reviewer"
		case patchctl.EvidenceWaveUpgrade:
			l = "on"
		case patchctl.EvidenceAnnouncement:
			l = "to"
		}
		out = append(out, evPart{Label: l, Value: e.Subject})
	}
	if b := e.Details["branch"]; b != "" && b != e.Ref {
		out = append(out, evPart{Label: "branch", Value: b, Code: true})
	}
	return out
}

// subjectLink returns the page of an audit event's subject, if it has one:
// a patch, a finding (finding:ID) or an import (import:ID).
func subjectLink(subject string) string {
	if strings.HasPrefix(subject, "PATCH-") {
		if _, err := patchctl.ParsePatchKey(subject); err == nil {
			return "/patches/" + subject
		}
	}
	for prefix, page := range map[string]string{"finding:": "/findings/", "import:": "/imports/"} {
		if id, ok := strings.CutPrefix(subject, prefix); ok {
			if n, err := strconv.ParseInt(id, 10, 64); err == nil && n > 0 {
				return page + id
			}
		}
	}
	return ""
}

// eventText is an audit event in words.
type eventText struct {
	Summary string
	Detail  string
	// Override marks a transition that went past refusing gates.
	Override bool
}

// describe puts an audit event in words from its action and data.
func describe(e patchctl.AuditEvent) eventText {
	var d map[string]any
	_ = json.Unmarshal(e.Data, &d)
	str := func(k string) string {
		switch v := d[k].(type) {
		case string:
			return v
		case float64:
			return strconv.FormatFloat(v, 'f', -1, 64)
		case bool:
			return strconv.FormatBool(v)
		case nil:
			return ""
		}
		b, _ := json.Marshal(d[k])
		return string(b)
	}
	t := func(k string) string {
		if s := str(k); s != "" {
			if ts, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return when(ts)
			}
			return s
		}
		return ""
	}
	var out eventText
	switch e.Action {
	case "patch.create":
		out.Summary = "created the patch"
		out.Detail = "priority " + str("priority")
		if due := t("due_at"); due != "" {
			out.Detail += ", due " + due
		}
		if title := str("title"); title != "" {
			out.Detail = "“" + title + "”, " + out.Detail
		}
	case "patch.transition":
		out.Summary = "moved it from " + label(str("from")) + " to " + label(str("to"))
		if str("action") != "" && str("action") != "advance" {
			out.Summary += " (" + label(str("action")) + ")"
		}
		out.Detail = str("note")
		if o, ok := d["override"].(map[string]any); ok {
			out.Override = true
			var gates []string
			if gs, ok := o["gates"].([]any); ok {
				for _, g := range gs {
					gates = append(gates, fmt.Sprint(g))
				}
			}
			out.Detail = strings.TrimSpace(out.Detail + " Override of " + strings.Join(gates, ", ") + ": " + fmt.Sprint(o["justification"]))
		}
	case "patch.evidence":
		kind := str("kind")
		out.Summary = "recorded " + label(kind) + " evidence"
		var parts []string
		for _, k := range []string{"ref", "environment", "version", "subject", "result"} {
			if v := str(k); v != "" {
				parts = append(parts, k+" "+v)
			}
		}
		if det, ok := d["details"].(map[string]any); ok {
			keys := make([]string, 0, len(det))
			for k := range det {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if kind == string(patchctl.EvidenceRollback) && k != "reason" && k != "severity" && k != "to_version" {
					continue
				}
				parts = append(parts, label(k)+" "+fmt.Sprint(det[k]))
			}
		}
		out.Detail = strings.Join(parts, " · ")
	case "patch.link":
		out.Summary = "linked " + str("type") + " " + str("ref")
	case "patch.unlink":
		out.Summary = "unlinked " + str("type") + " " + str("ref")
	case "patch.priority":
		out.Summary = "priority " + str("from") + " → " + str("to")
		out.Detail = str("reason")
		if rule := str("rule"); rule != "" {
			out.Detail = strings.TrimSpace(out.Detail + " (rule " + rule + ")")
		}
	case "patch.edit":
		var parts []string
		keys := make([]string, 0, len(d))
		for k := range d {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			parts = append(parts, label(k)+" "+str(k))
		}
		out.Summary = "edited the patch"
		out.Detail = strings.Join(parts, " · ")
	case "patch.wave":
		out.Summary = "wave " + str("wave") + " " + str("subject") + ": " + str("op")
		out.Detail = str("reason")
	case "patch.halt":
		out.Summary = "the rollout halted"
		out.Detail = str("reason")
	case "patch.resume", "patch.retry", "patch.abort":
		out.Summary = "decided to " + str("decision") + " the halted rollout"
		out.Detail = str("reason")
	case "patch.window":
		out.Summary = "booked the maintenance window " + t("start") + " to " + t("end")
	case "sla.approaching":
		out.Summary = "SLA approaching: due " + t("due_at")
	case "sla.breached":
		out.Summary = "SLA breached: was due " + t("due_at")
	case "session.sign_in":
		out.Summary = "signed in to the web UI"
	case "session.sign_out":
		out.Summary = "signed out of the web UI"
	case "release.record":
		out.Summary = "recorded " + str("version") + " as the stable version of " + str("subject") + " in " + str("environment")
		out.Detail = str("source")
	case "token.create":
		out.Summary = "created the API token " + str("name") + " (" + str("role") + ")"
	case "token.revoke":
		out.Summary = "revoked the API token " + str("name")
	case "finding.accept_risk":
		out.Summary = "accepted the risk until " + t("expires_at")
		out.Detail = str("reason")
	case "finding.false_positive":
		out.Summary = "marked it as a false positive"
		out.Detail = str("reason")
	case "finding.reopen":
		out.Summary = "reopened it (it was " + label(str("from")) + ")"
		out.Detail = str("reason")
	case "finding.acceptance_expired":
		out.Summary = "the risk acceptance by " + str("accepted_by") + " expired: the finding is open again"
		out.Detail = str("reason")
	default:
		if format, ok := strings.CutPrefix(e.Action, "import."); ok && strings.HasPrefix(e.Subject, "feed:") {
			out.Summary = "imported the " + strings.ToUpper(format) + " feed"
			if v := str("version"); v != "" {
				out.Summary += " " + v
			}
			out.Detail = fmt.Sprintf("%s entries, %s new; %s findings and %s patches updated", str("entries"), str("new"),
				str("findings_affected"), str("patches_updated"))
			if esc, ok := d["escalated"].([]any); ok && len(esc) > 0 {
				keys := make([]string, len(esc))
				for i, k := range esc {
					keys[i] = fmt.Sprint(k)
				}
				out.Detail += "; escalated " + strings.Join(keys, ", ")
			}
			break
		}
		if format, ok := strings.CutPrefix(e.Action, "import."); ok && strings.HasPrefix(e.Subject, "import:") {
			out.Summary = "imported a " + format + " report"
			if src := str("source"); src != "" {
				out.Summary += " (" + src + ")"
			}
			out.Detail = fmt.Sprintf("%s findings: %s new, %s closed, %s reopened; patches: %s created, %s updated",
				str("findings_in_report"), str("findings_new"), str("findings_closed"), str("findings_reopened"),
				str("patches_created"), str("patches_updated"))
			break
		}
		out.Summary = label(strings.ReplaceAll(e.Action, ".", " "))
		if len(e.Data) > 2 && string(e.Data) != "null" {
			out.Detail = short(200, string(e.Data))
		}
	}
	return out
}
