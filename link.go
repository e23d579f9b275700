package patchctl

import (
	"net/url"
	"regexp"
	"strings"
	"time"
)

// LinkType says what a trigger link points at.
type LinkType string

// Link types.
const (
	LinkVulnerability LinkType = "vulnerability" // CVE, GHSA, GO, OSV ids
	LinkFinding       LinkType = "finding"       // a finding imported from a scanner
	LinkIssue         LinkType = "issue"         // an issue or incident URL
)

// Link ties a patch to what triggered it. A patch with no link cannot leave
// draft (SOP-005: all patches are linked to the issue or vulnerability that
// triggered them).
type Link struct {
	ID      int64    `json:"id"`
	Type    LinkType `json:"type"`
	Ref     string   `json:"ref"`
	Aliases []string `json:"aliases,omitempty"`
	// Attributes are the classification inputs this trigger brings.
	Attributes Attributes `json:"attributes"`
	// DetectedAt is when the trigger was first detected: the SLA clock starts
	// at the earliest DetectedAt of a patch's links.
	DetectedAt time.Time `json:"detected_at"`
	AddedBy    string    `json:"added_by"`
	AddedAt    time.Time `json:"added_at"`
}

// Attributes are what classification rules see of a trigger.
type Attributes struct {
	CVSS       float64  `json:"cvss,omitempty"`
	CVSSVector string   `json:"cvss_vector,omitempty"`
	Severity   Severity `json:"severity,omitempty"`
	KEV        bool     `json:"kev,omitempty"`
	EPSS       float64  `json:"epss,omitempty"`
	// Exploit is the exploit maturity: "", "none", "poc", "active".
	Exploit string   `json:"exploit,omitempty"`
	Labels  []string `json:"labels,omitempty"`
}

// Exploit maturities.
var ExploitMaturities = []string{"", "none", "poc", "active"}

// Validate checks attribute ranges; field is the prefix for error fields.
func (a Attributes) Validate(field string) error {
	if a.CVSS < 0 || a.CVSS > 10 {
		return FieldError(field+".cvss", "%v is outside 0..10", a.CVSS)
	}
	if a.EPSS < 0 || a.EPSS > 1 {
		return FieldError(field+".epss", "%v is outside 0..1", a.EPSS)
	}
	if a.Severity != "" && !a.Severity.Valid() {
		return FieldError(field+".severity", "%q is not a severity", a.Severity)
	}
	ok := false
	for _, m := range ExploitMaturities {
		ok = ok || a.Exploit == m
	}
	if !ok {
		return FieldError(field+".exploit", "%q is not an exploit maturity (want none, poc or active)", a.Exploit)
	}
	for _, l := range a.Labels {
		if !validLabel(l) {
			return FieldError(field+".labels", "%q is not a label", l)
		}
	}
	return nil
}

// Vulnerability id formats. OSV ids are PREFIX-rest where PREFIX is one of the
// databases the OSV schema lists; the rest is checked loosely because every
// database has its own scheme.
var (
	reCVE  = regexp.MustCompile(`^CVE-\d{4}-\d{4,}$`)
	reGHSA = regexp.MustCompile(`^GHSA(-[23456789cfghjmpqrvwx]{4}){3}$`)
	reGO   = regexp.MustCompile(`^GO-\d{4}-\d{4,}$`)
	reOSV  = regexp.MustCompile(`^(PYSEC|RUSTSEC|OSV|GSD|UVI|MAL|BIT|CURL|DSA|DLA|DTSA|USN|ALSA|ALBA|ALEA|RHSA|RHBA|RHEA|RLSA|SUSE-SU|openSUSE-SU|CGA|HSEC|PSF|LBSEC|MGASA|RSEC|ELSA|ASB|PUB|A-|V8|OESA|openEuler-SA|TEMP)-[A-Za-z0-9:._-]+$`)
)

// NormalizeVulnID upper-cases the well-known prefixes and validates the id. It
// accepts CVE-YYYY-NNNN, GHSA-xxxx-xxxx-xxxx, GO-YYYY-NNNN and the OSV
// database prefixes.
func NormalizeVulnID(s string) (string, error) {
	id := strings.TrimSpace(s)
	up := strings.ToUpper(id)
	switch {
	case strings.HasPrefix(up, "CVE-"):
		if reCVE.MatchString(up) {
			return up, nil
		}
	case strings.HasPrefix(up, "GHSA-"):
		g := "GHSA-" + strings.ToLower(id[5:])
		if reGHSA.MatchString(g) {
			return g, nil
		}
	case strings.HasPrefix(up, "GO-"):
		if reGO.MatchString(up) {
			return up, nil
		}
	default:
		if reOSV.MatchString(id) {
			return id, nil
		}
	}
	return "", FieldError("ref", "%q is not a vulnerability id (want CVE-YYYY-NNNN, GHSA-xxxx-xxxx-xxxx, GO-YYYY-NNNN or an OSV id)", s)
}

// ValidateIssueURL accepts absolute http(s) URLs with a host.
func ValidateIssueURL(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return "", FieldError("ref", "%q is not an issue URL (want an absolute http or https URL)", s)
	}
	return u.String(), nil
}

// NormalizeLink validates and canonicalises l.Ref according to l.Type.
func NormalizeLink(l *Link) error {
	switch l.Type {
	case LinkVulnerability:
		id, err := NormalizeVulnID(l.Ref)
		if err != nil {
			return err
		}
		l.Ref = id
		for i, a := range l.Aliases {
			if l.Aliases[i], err = NormalizeVulnID(a); err != nil {
				return FieldError("aliases", "%q is not a vulnerability id", a)
			}
		}
	case LinkIssue:
		u, err := ValidateIssueURL(l.Ref)
		if err != nil {
			return err
		}
		l.Ref = u
	case LinkFinding:
		if strings.TrimSpace(l.Ref) == "" {
			return FieldError("ref", "is required")
		}
	default:
		return FieldError("type", "%q is not a link type (want vulnerability, finding or issue)", l.Type)
	}
	return l.Attributes.Validate("attributes")
}
