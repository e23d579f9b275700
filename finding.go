package patchctl

import (
	"strings"
	"time"
)

// Severity is a normalised vulnerability severity. Scanners write their own
// spellings; importers map them here (see docs/ARCHITECTURE.md, "Severity").
type Severity string

// Severities, most severe first.
const (
	SeverityCritical Severity = "critical"
	SeverityHigh     Severity = "high"
	SeverityMedium   Severity = "medium"
	SeverityLow      Severity = "low"
	SeverityNone     Severity = "none" // informational, negligible
	SeverityUnknown  Severity = "unknown"
)

// Severities lists every severity, most severe first.
var Severities = []Severity{SeverityCritical, SeverityHigh, SeverityMedium, SeverityLow, SeverityNone, SeverityUnknown}

// Valid reports whether s is a known severity.
func (s Severity) Valid() bool { return s.Rank() >= 0 }

// Rank orders severities: critical 5 ... unknown 0; -1 for anything else.
func (s Severity) Rank() int {
	switch s {
	case SeverityCritical:
		return 5
	case SeverityHigh:
		return 4
	case SeverityMedium:
		return 3
	case SeverityLow:
		return 2
	case SeverityNone:
		return 1
	case SeverityUnknown:
		return 0
	}
	return -1
}

// ParseSeverity maps the severity words scanners and advisories use to a
// Severity, ignoring case and surrounding space: critical; high and
// important; medium and moderate; low; negligible, none, info and
// informational. "unknown" and the empty string are unknown with ok true;
// anything else is unknown with ok false. SARIF levels (error, warning,
// note) are not severities: the SARIF importer maps them itself.
func ParseSeverity(s string) (sev Severity, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "critical":
		return SeverityCritical, true
	case "high", "important":
		return SeverityHigh, true
	case "medium", "moderate":
		return SeverityMedium, true
	case "low":
		return SeverityLow, true
	case "negligible", "none", "info", "informational":
		return SeverityNone, true
	case "unknown", "":
		return SeverityUnknown, true
	}
	return SeverityUnknown, false
}

// SeverityFromCVSS bands a CVSS base score as CVSS v3 does.
func SeverityFromCVSS(score float64) Severity {
	switch {
	case score >= 9.0:
		return SeverityCritical
	case score >= 7.0:
		return SeverityHigh
	case score >= 4.0:
		return SeverityMedium
	case score > 0:
		return SeverityLow
	}
	return SeverityNone
}

// AssetKind says what kind of thing a finding lives in.
type AssetKind string

// Asset kinds.
const (
	AssetImage      AssetKind = "image"
	AssetRepository AssetKind = "repository"
	AssetFilesystem AssetKind = "filesystem"
	AssetHost       AssetKind = "host"
	AssetWorkload   AssetKind = "workload" // a Kubernetes workload
	AssetCluster    AssetKind = "cluster"
	AssetSBOM       AssetKind = "sbom"
)

// Asset is the thing a finding lives in.
type Asset struct {
	ID     int64     `json:"id"`
	Kind   AssetKind `json:"kind"`
	Name   string    `json:"name"`             // image reference, repo URL, host name, namespace/kind/name
	Digest string    `json:"digest,omitempty"` // image digest when known
	// Group names the asset group used for grouping findings into patches
	// (an application, a team); empty means the asset itself.
	Group         string     `json:"group,omitempty"`
	LastImportID  int64      `json:"last_import_id,omitempty"`
	LastScannedAt *time.Time `json:"last_scanned_at,omitempty"`
}

// FindingState is the state of a finding.
type FindingState string

// Finding states.
const (
	FindingOpen          FindingState = "open"
	FindingClosed        FindingState = "closed"         // no longer reported by a re-import
	FindingRiskAccepted  FindingState = "risk_accepted"  // accepted by a lead until an expiry
	FindingFalsePositive FindingState = "false_positive" // marked by a lead with a reason
	FindingNotAffected   FindingState = "not_affected"   // VEX: not_affected with a justification
	FindingFixed         FindingState = "fixed"          // VEX: fixed
)

// Finding is one vulnerability in one package version of one asset.
type Finding struct {
	ID               int64        `json:"id"`
	AssetID          int64        `json:"asset_id"`
	Asset            string       `json:"asset"`
	VulnID           string       `json:"vuln_id"`
	Aliases          []string     `json:"aliases,omitempty"`
	Package          string       `json:"package"`
	Ecosystem        string       `json:"ecosystem,omitempty"`
	PURL             string       `json:"purl,omitempty"`
	InstalledVersion string       `json:"installed_version"`
	FixedVersion     string       `json:"fixed_version,omitempty"`
	Location         string       `json:"location,omitempty"`
	Severity         Severity     `json:"severity"`
	CVSS             float64      `json:"cvss,omitempty"`
	CVSSVector       string       `json:"cvss_vector,omitempty"`
	EPSS             float64      `json:"epss,omitempty"`
	KEV              bool         `json:"kev"`
	Title            string       `json:"title,omitempty"`
	URL              string       `json:"url,omitempty"`
	State            FindingState `json:"state"`
	// VEXState and Justification carry a VEX statement's analysis.
	VEXState      string `json:"vex_state,omitempty"`
	Justification string `json:"justification,omitempty"`
	// FirstSeenAt is the first detection: the SLA clock of the patch that
	// fixes it starts here, and survives closing and reopening.
	FirstSeenAt time.Time  `json:"first_seen_at"`
	LastSeenAt  time.Time  `json:"last_seen_at"`
	ClosedAt    *time.Time `json:"closed_at,omitempty"`
	// ClosedByImport is the import that stopped reporting it.
	ClosedByImport int64  `json:"closed_by_import,omitempty"`
	PatchKey       string `json:"patch,omitempty"`
	// Acceptance is set while the risk is accepted or the finding is marked a
	// false positive.
	Acceptance *Acceptance `json:"acceptance,omitempty"`
}

// Acceptance records a risk acceptance or a false-positive marking.
type Acceptance struct {
	Reason    string     `json:"reason"`
	Actor     string     `json:"actor"`
	At        time.Time  `json:"at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}
