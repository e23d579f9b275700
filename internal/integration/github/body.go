package github

import (
	"fmt"
	"strings"
	"time"
)

// PRInfo is what PRBody renders: a patch, what triggered it and how far it
// got. It is deliberately independent of the store's types.
type PRInfo struct {
	// Key is the patch key (PATCH-42); it appears in the body, so PatchKeys
	// links the pull request to the patch even if the branch is renamed.
	Key   string
	Title string
	// Priority, rule and due time as classified (optional).
	Priority string
	DueAt    time.Time
	// Branch is the dedicated branch.
	Branch string
	// URL links back to the patch in patchctl (optional).
	URL string
	// The triggers (SOP-005: every patch is linked to what triggered it).
	Vulnerabilities []string
	Findings        []FindingCount
	Issues          []string
	// Environments are the non-production and production environments in
	// rollout order; empty means staging, production.
	Environments []string
	// Progress ticks the checklist.
	Progress Progress
}

// FindingCount is the number of open findings a patch addresses in one
// asset.
type FindingCount struct {
	Asset string
	Count int
}

// Progress says which SOP-005 steps are done.
type Progress struct {
	Branch       bool // dedicated branch created
	Reviewed     bool // approved by someone other than the author
	Merged       bool
	Staged       bool // deployed to the first environment
	TestsPassed  bool // automated tests passed there
	SignedOff    bool // manual validation sign-off there
	InProduction bool // the same version deployed to production
}

// PRBody renders the body of a patch's pull request: the patch, its
// triggers and the SOP-005 checklist as GitHub task-list items. Single-line
// values are flattened so that no input can add checklist items or
// headings of its own.
func PRBody(p PRInfo) string {
	var b strings.Builder
	key := inline(p.Key)
	b.WriteString("<!-- patchctl:" + strings.ReplaceAll(key, "--", "") + " -->\n")
	head := "**" + key + "**"
	if t := inline(p.Title); t != "" {
		head += ": " + t
	}
	b.WriteString(head + "\n\n")
	var meta []string
	if pr := inline(p.Priority); pr != "" {
		meta = append(meta, "Priority: **"+pr+"**")
	}
	if !p.DueAt.IsZero() {
		meta = append(meta, "due "+p.DueAt.UTC().Format("2006-01-02 15:04 UTC"))
	}
	if u := inline(p.URL); u != "" {
		meta = append(meta, "[details in patchctl]("+u+")")
	}
	if len(meta) > 0 {
		b.WriteString(strings.Join(meta, " · ") + "\n\n")
	}

	b.WriteString("### Triggered by\n\n")
	n := 0
	if len(p.Vulnerabilities) > 0 {
		ids := make([]string, len(p.Vulnerabilities))
		for i, v := range p.Vulnerabilities {
			ids[i] = inline(v)
		}
		fmt.Fprintf(&b, "- Vulnerabilities: %s\n", strings.Join(ids, ", "))
		n++
	}
	if len(p.Findings) > 0 {
		total := 0
		parts := make([]string, len(p.Findings))
		for i, f := range p.Findings {
			total += f.Count
			parts[i] = fmt.Sprintf("%d in `%s`", f.Count, code(f.Asset))
		}
		fmt.Fprintf(&b, "- Findings: %d open (%s)\n", total, strings.Join(parts, ", "))
		n++
	}
	for _, u := range p.Issues {
		fmt.Fprintf(&b, "- Issue: %s\n", inline(u))
		n++
	}
	if n == 0 {
		b.WriteString("- (no trigger recorded)\n")
	}

	envs := p.Environments
	if len(envs) == 0 {
		envs = []string{"staging", "production"}
	}
	first, prod := inline(envs[0]), inline(envs[len(envs)-1])
	branchItem := "Patch released on a dedicated branch"
	if p.Branch != "" {
		branchItem = "Patch released on dedicated branch `" + code(p.Branch) + "`"
	}
	b.WriteString("\n### SOP-005 checklist\n\n")
	for _, item := range []struct {
		done bool
		text string
	}{
		{p.Progress.Branch, branchItem},
		{p.Progress.Reviewed, "Code review approved by someone other than the author"},
		{p.Progress.Merged, "Merged through this pull request"},
		{p.Progress.Staged, "Deployed to " + first + " first"},
		{p.Progress.TestsPassed, "Automated tests passed on " + first},
		{p.Progress.SignedOff, "Manual validation signed off on " + first},
		{p.Progress.InProduction, "Same version deployed to " + prod},
	} {
		box := " "
		if item.done {
			box = "x"
		}
		fmt.Fprintf(&b, "- [%s] %s\n", box, item.text)
	}
	b.WriteString("\n<sub>Managed by patchctl: the checklist follows GitHub and deployment events; ticking boxes by hand changes nothing.</sub>\n")
	return b.String()
}

// inline flattens s to one trimmed line.
func inline(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// code makes s safe inside a single-backtick code span.
func code(s string) string {
	return strings.ReplaceAll(inline(s), "`", "'")
}
