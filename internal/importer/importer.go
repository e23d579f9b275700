// Package importer turns scanner reports and enrichment feeds into a stream
// of normalised records. It parses; it does not store. The import service
// (internal/intake) consumes the stream, deduplicates against the database
// and groups findings into patches.
//
// Every parser streams: it never holds a whole report in memory, so peak
// memory stays flat as reports grow. Errors name the byte offset and line of
// malformed input.
package importer

import (
	"context"
	"io"
	"time"

	"github.com/patchctl/patchctl"
)

// Format names a report format.
type Format string

// Report formats.
const (
	FormatAuto      Format = "auto"
	FormatTrivy     Format = "trivy"
	FormatGrype     Format = "grype"
	FormatOSV       Format = "osv"        // OSV-Scanner JSON output
	FormatSARIF     Format = "sarif"      // SARIF 2.1.0
	FormatCycloneDX Format = "cyclonedx"  // CycloneDX SBOM or VEX (JSON)
	FormatKEV       Format = "kev"        // CISA KEV catalog JSON
	FormatEPSS      Format = "epss"       // FIRST EPSS CSV
	FormatOSVRecord Format = "osv-record" // a single OSV advisory (id, aliases, affected)
)

// ScannerFormats are the formats that produce findings.
var ScannerFormats = []Format{FormatTrivy, FormatGrype, FormatOSV, FormatSARIF, FormatCycloneDX}

// AssetRef identifies the asset a record belongs to, as the report names it.
// Two records with equal Kind and Name belong to the same asset.
type AssetRef struct {
	Kind   patchctl.AssetKind
	Name   string
	Digest string
}

// Record is one vulnerability entry of a report: one vulnerability in one
// package version at one place in one asset.
type Record struct {
	Asset            AssetRef
	VulnID           string   // as reported: CVE-..., GHSA-..., GO-..., or a SARIF rule id
	Aliases          []string // other ids of the same vulnerability, from the report
	Package          string
	Ecosystem        string // Trivy Type, Grype artifact type, OSV ecosystem, purl type
	PURL             string
	InstalledVersion string
	FixedVersion     string // "" when the report knows no fix
	// Location is where in the asset the package was found (Trivy Target, a
	// lockfile path, a SARIF artifact URI).
	Location    string
	Severity    patchctl.Severity // normalised (see ParseSeverity and docs)
	SeverityRaw string            // as written in the report
	CVSS        float64           // highest CVSS v3 (else v2) base score the report carries
	CVSSVector  string
	EPSS        float64
	KEV         bool
	Title       string
	URL         string
	Published   time.Time
	// VEXState is a CycloneDX analysis state (not_affected, fixed,
	// under_investigation, affected, exploitable, resolved, false_positive,
	// in_triage, resolved_with_pedigree) and Justification its justification.
	VEXState      string
	Justification string
	// Suppressed is set for SARIF results with suppressions.
	Suppressed bool
}

// Meta describes a parsed report. It is complete only after Parse returns.
type Meta struct {
	Format      Format
	Tool        string // trivy, grype, osv-scanner, the SARIF driver name, ...
	ToolVersion string
	CreatedAt   time.Time
	// Assets lists every asset the report covers, including those for which it
	// lists no vulnerability (so that their open findings can be closed).
	Assets []AssetRef
	// FindingsInReport counts the vulnerability entries as the format defines
	// them (Trivy Results[].Vulnerabilities[] including nested Kubernetes
	// resources; Grype matches[]; OSV-Scanner results[].packages[].vulnerabilities[];
	// SARIF runs[].results[]; CycloneDX vulnerabilities[].affects[]).
	FindingsInReport int
	// BySeverityRaw counts records by severity as written in the report.
	BySeverityRaw map[string]int
	// Misconfigurations and Secrets are counted (Trivy) but not imported.
	Misconfigurations int
	Secrets           int
	IgnoredMatches    int // Grype ignoredMatches
	Suppressed        int // SARIF results with suppressions
	// Groups counts OSV-Scanner's alias groups
	// (results[].packages[].groups[]): findings once aliases are merged.
	Groups int
	// Components counts SBOM components (CycloneDX).
	Components int
	// IsVEX is set for CycloneDX documents whose vulnerabilities carry
	// analysis statements.
	IsVEX bool
}

// Emit receives each record. The record is owned by the callee after the
// call; returning an error stops the parse with that error.
type Emit func(*Record) error

// Parser parses one scanner format.
type Parser interface {
	Format() Format
	Parse(ctx context.Context, r io.Reader, emit Emit) (*Meta, error)
}

// KEVEntry is one CISA KEV catalog entry.
type KEVEntry struct {
	CVE                        string
	VendorProject              string
	Product                    string
	Name                       string
	DateAdded                  time.Time
	DueDate                    time.Time
	KnownRansomwareCampaignUse bool
	RequiredAction             string
}

// KEVCatalog is the header of a KEV catalog.
type KEVCatalog struct {
	Title          string
	CatalogVersion string
	DateReleased   time.Time
	Count          int
}

// EPSSScore is one row of the EPSS CSV.
type EPSSScore struct {
	CVE        string
	EPSS       float64
	Percentile float64
}

// EPSSMeta is the header comment of the EPSS CSV.
type EPSSMeta struct {
	ModelVersion string
	ScoreDate    time.Time
	Count        int
}

// OSVRecord is the part of an OSV advisory used to merge aliases.
type OSVRecord struct {
	ID        string
	Aliases   []string
	Summary   string
	Modified  time.Time
	Published time.Time
	// Withdrawn is set when the advisory was withdrawn; its aliases should
	// then not be merged.
	Withdrawn time.Time
	// Packages lists ecosystem/name pairs the advisory affects.
	Packages []string
}
