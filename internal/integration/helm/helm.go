// Package helm reads what the helm CLI prints about releases and charts:
// `helm history -o json|yaml`, `helm get metadata -o json|yaml`,
// `helm status -o json|yaml`, `helm list -o json|yaml` (including --short)
// and Chart.yaml. From a release history it finds the previous stable
// revision, the one a rollback redeploys.
//
// patchctl does not link the Helm SDK (see shared/DEPENDENCIES.md): the
// CLI's machine-readable output is a stable, documented interface and is
// what the people running patchctl already have.
//
// Parsers accept both encodings; a document starting with { or [ is read as
// JSON, anything else as YAML. Errors are *patchctl.Error with CodeInvalid
// naming the line (and byte offset for JSON) or the entry at fault, or
// CodeTooLarge above MaxInputBytes. The package does no I/O and imports
// neither the store nor any other integration.
package helm

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/patchctl/patchctl"
)

// Status is a release status as Helm names it.
type Status string

// Release statuses (helm.sh/helm/v3/pkg/release).
const (
	StatusUnknown         Status = "unknown"
	StatusDeployed        Status = "deployed"
	StatusUninstalled     Status = "uninstalled"
	StatusSuperseded      Status = "superseded"
	StatusFailed          Status = "failed"
	StatusUninstalling    Status = "uninstalling"
	StatusPendingInstall  Status = "pending-install"
	StatusPendingUpgrade  Status = "pending-upgrade"
	StatusPendingRollback Status = "pending-rollback"
)

// Stable reports whether a revision with this status ran to completion:
// deployed (the current one) or superseded (replaced by a later one).
func (s Status) Stable() bool { return s == StatusDeployed || s == StatusSuperseded }

// Pending reports whether an operation on the revision has not finished.
func (s Status) Pending() bool { return strings.HasPrefix(string(s), "pending-") }

// Revision is one entry of `helm history`.
type Revision struct {
	Revision int
	Updated  time.Time // UTC; zero if Helm printed none
	Status   Status
	// Chart is "name-version" as Helm prints it; ChartName and ChartVersion
	// are its parts (see SplitChart).
	Chart        string
	ChartName    string
	ChartVersion string
	AppVersion   string
	Description  string
	// RollbackOf is the revision that `helm rollback` redeployed to make
	// this one ("Rollback to N"), 0 for installs and upgrades. Recent Helm
	// prints it as rollback_revision; for older output it is read from the
	// description Helm writes ("Rollback to N").
	RollbackOf int
}

type wireRevision struct {
	Revision         *int `json:"revision" yaml:"revision"`
	Updated          text `json:"updated" yaml:"updated"`
	Status           text `json:"status" yaml:"status"`
	Chart            text `json:"chart" yaml:"chart"`
	AppVersion       text `json:"app_version" yaml:"app_version"`
	Description      text `json:"description" yaml:"description"`
	RollbackRevision *int `json:"rollback_revision" yaml:"rollback_revision"`
}

var rollbackDescription = regexp.MustCompile(`^Rollback to ([0-9]+)$`)

// ParseHistory reads `helm history RELEASE -o json` or `-o yaml`. The
// result is sorted by revision.
func ParseHistory(data []byte) ([]Revision, error) {
	var wire []wireRevision
	if err := decode(data, "helm history", &wire); err != nil {
		return nil, err
	}
	out := make([]Revision, 0, len(wire))
	seen := map[int]bool{}
	for i, w := range wire {
		field := func(name string) string { return fmt.Sprintf("[%d].%s", i, name) }
		if w.Revision == nil {
			return nil, patchctl.FieldError(field("revision"), "missing")
		}
		if *w.Revision < 1 {
			return nil, patchctl.FieldError(field("revision"), "must be 1 or more, found %d", *w.Revision)
		}
		if seen[*w.Revision] {
			return nil, patchctl.FieldError(field("revision"), "revision %d appears twice", *w.Revision)
		}
		seen[*w.Revision] = true
		if w.Status == "" {
			return nil, patchctl.FieldError(field("status"), "missing")
		}
		updated, err := ParseTime(string(w.Updated))
		if err != nil {
			return nil, patchctl.FieldError(field("updated"), "%s", err.Error())
		}
		r := Revision{
			Revision:    *w.Revision,
			Updated:     updated,
			Status:      Status(w.Status),
			Chart:       string(w.Chart),
			AppVersion:  string(w.AppVersion),
			Description: string(w.Description),
		}
		r.ChartName, r.ChartVersion = SplitChart(r.Chart)
		switch {
		case w.RollbackRevision != nil:
			if *w.RollbackRevision < 0 {
				return nil, patchctl.FieldError(field("rollback_revision"), "must not be negative, found %d", *w.RollbackRevision)
			}
			r.RollbackOf = *w.RollbackRevision
		default:
			if m := rollbackDescription.FindStringSubmatch(r.Description); m != nil {
				r.RollbackOf, _ = strconv.Atoi(m[1])
			}
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Revision < out[j].Revision })
	return out, nil
}

// PreviousStable returns the revision a rollback from current redeploys:
// the latest revision before current whose status is deployed or
// superseded. Failed, pending and uninstalled revisions are skipped.
// current need not appear in history (helm history --max may have cut the
// list). A revision that was itself a rollback counts like any other: what
// it deployed ran to completion.
func PreviousStable(history []Revision, current int) (Revision, error) {
	if current < 1 {
		return Revision{}, patchctl.FieldError("revision", "must be 1 or more, found %d", current)
	}
	var best *Revision
	for i := range history {
		r := &history[i]
		if r.Revision >= current || !r.Status.Stable() {
			continue
		}
		if best == nil || r.Revision > best.Revision {
			best = r
		}
	}
	if best == nil {
		return Revision{}, patchctl.Errorf(patchctl.CodeNotFound,
			"no deployed or superseded helm revision before revision %d", current)
	}
	return *best, nil
}

// Current returns the deployed revision: the latest one with status
// deployed.
func Current(history []Revision) (Revision, error) {
	var best *Revision
	for i := range history {
		r := &history[i]
		if r.Status == StatusDeployed && (best == nil || r.Revision > best.Revision) {
			best = r
		}
	}
	if best == nil {
		return Revision{}, patchctl.Errorf(patchctl.CodeNotFound, "no deployed helm revision in the history")
	}
	return *best, nil
}

// semverRE is Semantic Versioning 2.0.0 with an optional leading v, the
// form Helm 3 requires of chart versions.
var semverRE = regexp.MustCompile(`^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)` +
	`(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$`)

// IsSemver reports whether v is a Semantic Versioning 2.0.0 version,
// optionally prefixed with v.
func IsSemver(v string) bool { return semverRE.MatchString(v) }

// maxChartLabel bounds the labels SplitChart examines: chart names are at
// most 63 characters and versions short, and the scan is quadratic.
const maxChartLabel = 512

// SplitChart splits Helm's "name-version" chart label. Chart names and
// versions may both contain dashes (argo-cd-10.1.1, foo-0.1.0-beta.1): the
// split is at the first dash followed by a SemVer version. Labels without
// one split at the last dash followed by a digit; a label without that is
// all name.
func SplitChart(chart string) (name, version string) {
	if len(chart) > maxChartLabel {
		return chart, ""
	}
	for i := 0; i < len(chart); i++ {
		if chart[i] == '-' && i > 0 && IsSemver(chart[i+1:]) {
			return chart[:i], chart[i+1:]
		}
	}
	for i := len(chart) - 2; i > 0; i-- {
		if chart[i] == '-' && chart[i+1] >= '0' && chart[i+1] <= '9' {
			return chart[:i], chart[i+1:]
		}
	}
	return chart, ""
}
