// Package sarif parses SARIF 2.1.0 logs of dependency scanners into
// importer records: one record per runs[].results[] element, suppressed
// results included (Record.Suppressed; Meta.Suppressed counts them). A result
// is suppressed when it has a suppression whose status is not "rejected" or
// "underReview" (SARIF 2.1.0 §3.34).
//
// Fields: VulnID is the result's ruleId (else rule.id, else the id of the
// rule at ruleIndex); Title and URL come from the rule's shortDescription and
// helpUri; Location is the first location's artifactLocation.uri. Package
// and version are parsed from message.text with the patterns of the tools
// that write them:
//
//	Trivy:        "Package: NAME\nInstalled Version: VERSION\n...Fixed Version: FIX"
//	Grype:        "... in TYPE package: NAME, version VERSION was found ..."
//	Grype (<0.x): "... reports NAME at version VERSION ..."
//	OSV-Scanner:  "Package 'NAME@VERSION' is vulnerable to 'ID' (also known as 'A', 'B')."
//
// and otherwise the package is the first location URI with an empty
// version. Grype rule ids are "VULNID-PACKAGE": the VULNID part is added to
// Aliases, as are OSV-Scanner's "also known as" ids.
//
// Severity: SeverityRaw is the SARIF level, resolved as result.level, else
// the rule's defaultConfiguration.level, else "warning" (the SARIF 2.1.0
// default). When the rule has a security-severity property (a CVSS-like
// score, as GitHub code scanning defines it) it becomes CVSS, and the
// normalised severity is its band (patchctl.SeverityFromCVSS); otherwise the
// level maps to error → high, warning → medium, note → low, none → none, and
// anything else to unknown.
//
// Assets: SARIF does not name what was scanned. A run's asset is an image
// when Trivy's run properties name one (imageName, repoTags, repoDigests,
// imageID), a repository when versionControlProvenance gives a
// repositoryUri, an image when a Grype message says "found in image NAME";
// otherwise it is a repository asset with an empty name, which the caller
// must name.
//
// Streaming: rules, run properties and results may come in any order within
// a run (Trivy writes its properties after the results, OSV-Scanner sorts
// keys), so each run's results are held in a compact form until the run
// ends, within jsonstream.HoldBudget. Beyond it, a seekable input is read
// again and the rest of that run's results streamed in a second pass; a
// pipe keeps holding.
package sarif

import (
	"context"
	"io"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/importer"
	"github.com/patchctl/patchctl/internal/importer/internal/imageref"
	"github.com/patchctl/patchctl/internal/importer/internal/jsonstream"
)

// Parser parses SARIF 2.1.0 logs. The zero value is ready to use.
type Parser struct{}

// New returns a SARIF parser.
func New() Parser { return Parser{} }

// Format implements importer.Parser.
func (Parser) Format() importer.Format { return importer.FormatSARIF }

// Parse implements importer.Parser.
func (Parser) Parse(ctx context.Context, r io.Reader, emit importer.Emit) (*importer.Meta, error) {
	s, _, err := jsonstream.OpenFormat(ctx, r, "SARIF log", importer.FormatSARIF)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	p := &parser{
		s:        s,
		emit:     emit,
		meta:     &importer.Meta{Format: importer.FormatSARIF, BySeverityRaw: map[string]int{}},
		seen:     map[importer.AssetRef]bool{},
		seekable: s.Seekable(),
	}
	if err := p.pass(p.firstRun); err != nil {
		return nil, err
	}
	if p.deferred {
		if _, err := s.Rewind(); err != nil {
			return nil, err
		}
		p.index = 0
		if err := p.pass(p.secondRun); err != nil {
			return nil, err
		}
	}
	return p.meta, nil
}

type parser struct {
	s        *jsonstream.Stream
	emit     importer.Emit
	meta     *importer.Meta
	seen     map[importer.AssetRef]bool
	seekable bool
	deferred bool          // some run's results are read in a second pass
	runs     []*runContext // from the first pass
	index    int           // current run
	res      result        // reused for every result
	scratch  []byte        // for member names with escapes
}

// runContext is what results need from their run.
type runContext struct {
	rules    []rule
	byID     map[string]int
	asset    importer.AssetRef
	hasAsset bool
	grype    bool // asset to be taken from Grype messages
	deferred bool // results too many to hold: the rest is read in the second pass
	held     int  // results held and emitted in the first pass
}

type rule struct {
	ID               string `json:"id"`
	ShortDescription struct {
		Text string `json:"text"`
	} `json:"shortDescription"`
	HelpURI              string `json:"helpUri"`
	DefaultConfiguration struct {
		Level jsonstream.Text `json:"level"`
	} `json:"defaultConfiguration"`
	Properties struct {
		SecuritySeverity jsonstream.Number `json:"security-severity"`
		CVSSv3Vector     jsonstream.Text   `json:"cvssv3_vector"`
		PURLs            jsonstream.First  `json:"purls"`
	} `json:"properties"`
}

type tool struct {
	Driver struct {
		Name            string `json:"name"`
		Version         string `json:"version"`
		SemanticVersion string `json:"semanticVersion"`
		Rules           []rule `json:"rules"`
	} `json:"driver"`
}

// runProperties are the run properties Trivy writes for an image.
type runProperties struct {
	ImageName   jsonstream.Text `json:"imageName"`
	ImageID     jsonstream.Text `json:"imageID"`
	RepoTags    []string        `json:"repoTags"`
	RepoDigests []string        `json:"repoDigests"`
}

// result is the compact form of a SARIF result.
type result struct {
	RuleID       string
	RuleIndex    optInt
	Rule         ruleRef
	Level        jsonstream.Text
	Message      message
	Locations    firstURI
	Suppressions suppressed
}

type ruleRef struct {
	ID    string
	Index optInt
}

type message struct {
	Text string
}

// optInt is an integer that records whether it was present (ruleIndex 0 is
// a valid index).
type optInt struct {
	Value int
	Valid bool
}

// UnmarshalJSONFrom implements json.UnmarshalerFrom.
func (o *optInt) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	var n jsonstream.Number
	err := n.UnmarshalJSONFrom(dec)
	*o = optInt{}
	if n.Valid && n.Value >= 0 && n.Value < 1<<31 && n.Value == float64(int(n.Value)) {
		*o = optInt{Value: int(n.Value), Valid: true}
	}
	return err
}

// firstURI keeps locations[0].physicalLocation.artifactLocation.uri.
type firstURI string

// decode reads locations, keeping the first artifact URI.
func (f *firstURI) decode(dec *jsontext.Decoder, scratch *[]byte) error {
	*f = ""
	if dec.PeekKind() != '[' {
		return dec.SkipValue()
	}
	first := true
	return jsonstream.Elements(dec, func() error {
		if !first || dec.PeekKind() != '{' {
			return dec.SkipValue()
		}
		first = false
		// locations[0].physicalLocation.artifactLocation.uri
		return jsonstream.Fields(dec, scratch, func(name []byte) error {
			if string(name) != "physicalLocation" {
				return dec.SkipValue()
			}
			return jsonstream.Fields(dec, scratch, func(name []byte) error {
				if string(name) != "artifactLocation" {
					return dec.SkipValue()
				}
				return jsonstream.Fields(dec, scratch, func(name []byte) error {
					if string(name) != "uri" {
						return dec.SkipValue()
					}
					uri, err := jsonstream.ReadString(dec)
					*f = firstURI(uri)
					return err
				})
			})
		})
	})
}

// suppressed is true when a suppression is in force: any element whose
// status is absent or "accepted".
type suppressed bool

// decode reads suppressions.
func (sup *suppressed) decode(dec *jsontext.Decoder, scratch *[]byte) error {
	*sup = false
	if dec.PeekKind() != '[' {
		return dec.SkipValue()
	}
	return jsonstream.Elements(dec, func() error {
		if dec.PeekKind() != '{' {
			return dec.SkipValue()
		}
		status := ""
		err := jsonstream.Fields(dec, scratch, func(name []byte) (err error) {
			if string(name) == "status" {
				var t jsonstream.Text
				err = t.UnmarshalJSONFrom(dec)
				status = string(t)
				return err
			}
			return dec.SkipValue()
		})
		if status != "rejected" && status != "underReview" {
			*sup = true
		}
		return err
	})
}

// levels are the SARIF levels, read without allocating.
var levels = []string{"error", "warning", "note", "none"}

// decode reads one result by hand (see jsonstream.Fields): it is the hot
// loop of the parser.
func (r *result) decode(dec *jsontext.Decoder, scratch *[]byte) error {
	return jsonstream.Fields(dec, scratch, func(name []byte) (err error) {
		switch string(name) {
		case "ruleId":
			r.RuleID, err = jsonstream.ReadString(dec)
		case "ruleIndex":
			err = r.RuleIndex.UnmarshalJSONFrom(dec)
		case "rule":
			err = jsonstream.Fields(dec, scratch, func(name []byte) (err error) {
				switch string(name) {
				case "id":
					r.Rule.ID, err = jsonstream.ReadString(dec)
				case "index":
					err = r.Rule.Index.UnmarshalJSONFrom(dec)
				default:
					err = dec.SkipValue()
				}
				return err
			})
		case "level":
			var level string
			level, err = jsonstream.ReadInterned(dec, levels)
			r.Level = jsonstream.Text(level)
		case "message":
			err = jsonstream.Fields(dec, scratch, func(name []byte) (err error) {
				if string(name) == "text" {
					r.Message.Text, err = jsonstream.ReadString(dec)
					return err
				}
				return dec.SkipValue()
			})
		case "locations":
			err = r.Locations.decode(dec, scratch)
		case "suppressions":
			err = r.Suppressions.decode(dec, scratch)
		default:
			err = dec.SkipValue()
		}
		return err
	})
}

// pass walks the top level, calling run for each element of runs.
func (p *parser) pass(run func() error) error {
	s := p.s
	err := s.Object(func(name string) error {
		if name == "runs" {
			return s.Array(func() error {
				err := run()
				p.index++
				return err
			})
		}
		return s.Skip()
	})
	if err != nil {
		return err
	}
	return s.End()
}

// firstRun reads a run's context; results are skipped (seekable input) or
// held and emitted when the run ends.
func (p *parser) firstRun() error {
	s := p.s
	rc := &runContext{byID: map[string]int{}}
	var props *runProperties
	var repo string
	var held []result
	err := s.Object(func(name string) error {
		switch name {
		case "tool":
			var t tool
			if err := s.Decode(&t); err != nil {
				return err
			}
			rc.rules = t.Driver.Rules
			for i, r := range rc.rules {
				if _, dup := rc.byID[r.ID]; !dup {
					rc.byID[r.ID] = i
				}
			}
			if p.meta.Tool == "" {
				p.meta.Tool = t.Driver.Name
				p.meta.ToolVersion = t.Driver.Version
				if p.meta.ToolVersion == "" {
					p.meta.ToolVersion = t.Driver.SemanticVersion
				}
			}
			rc.grype = strings.EqualFold(t.Driver.Name, "grype")
			return nil
		case "properties":
			if s.Dec.PeekKind() != '{' {
				return s.Skip()
			}
			props = &runProperties{}
			return s.Decode(props)
		case "versionControlProvenance":
			return s.Array(func() error {
				var v struct {
					RepositoryURI string `json:"repositoryUri"`
				}
				if err := s.Decode(&v); err != nil {
					return err
				}
				if repo == "" {
					repo = v.RepositoryURI
				}
				return nil
			})
		case "results":
			size := 0
			return s.Array(func() error {
				if rc.deferred {
					return s.Skip()
				}
				var r result
				if err := s.Err(r.decode(s.Dec, &p.scratch)); err != nil {
					return err
				}
				held = append(held, r)
				size += 200 + len(r.RuleID) + len(r.Rule.ID) + len(r.Level) + len(r.Message.Text) + len(r.Locations)
				if size > jsonstream.HoldBudget && p.seekable {
					rc.deferred, p.deferred = true, true
				}
				return nil
			})
		}
		return s.Skip()
	})
	if err != nil {
		return err
	}
	rc.asset, rc.hasAsset = runAsset(props, repo)
	p.runs = append(p.runs, rc)
	if rc.hasAsset || !rc.grype {
		// A Grype run without run-level asset takes its asset from the
		// messages of its results.
		p.addAsset(rc.asset)
	}
	rc.held = len(held)
	for i := range held {
		if err := p.s.Tick(); err != nil {
			return err
		}
		if err := p.result(rc, &held[i]); err != nil {
			return err
		}
		held[i] = result{}
	}
	return nil
}

// secondRun streams the results of a deferred run that were not held in
// the first pass, with the context of the first pass.
func (p *parser) secondRun() error {
	s := p.s
	if p.index >= len(p.runs) {
		return s.Invalidf("the input changed between passes")
	}
	rc := p.runs[p.index]
	if !rc.deferred {
		return s.Skip()
	}
	return s.Object(func(name string) error {
		if name != "results" {
			return s.Skip()
		}
		i := 0
		return s.Array(func() error {
			if i++; i <= rc.held {
				return s.Skip()
			}
			r := &p.res
			*r = result{}
			if err := s.Err(r.decode(s.Dec, &p.scratch)); err != nil {
				return err
			}
			return p.result(rc, r)
		})
	})
}

func (p *parser) addAsset(a importer.AssetRef) {
	if !p.seen[a] {
		p.seen[a] = true
		p.meta.Assets = append(p.meta.Assets, a)
	}
}

// runAsset names a run's asset from Trivy's run properties or the version
// control provenance.
func runAsset(props *runProperties, repo string) (importer.AssetRef, bool) {
	if props != nil && (props.ImageName != "" || len(props.RepoTags) > 0) {
		a := importer.AssetRef{Kind: patchctl.AssetImage, Name: string(props.ImageName)}
		if (a.Name == "" || imageref.IsArchivePath(a.Name)) && len(props.RepoTags) > 0 {
			a.Name = props.RepoTags[0]
		}
		a.Digest = imageref.Digest(props.RepoDigests)
		if a.Digest == "" {
			a.Digest = string(props.ImageID)
		}
		return a, true
	}
	if repo != "" {
		return importer.AssetRef{Kind: patchctl.AssetRepository, Name: repo}, true
	}
	return importer.AssetRef{Kind: patchctl.AssetRepository}, false
}

// result turns a compact result into a record and emits it.
func (p *parser) result(rc *runContext, r *result) error {
	var ru *rule
	switch {
	case r.RuleIndex.Valid && r.RuleIndex.Value < len(rc.rules):
		ru = &rc.rules[r.RuleIndex.Value]
	case r.Rule.Index.Valid && r.Rule.Index.Value < len(rc.rules):
		ru = &rc.rules[r.Rule.Index.Value]
	default:
		id := r.RuleID
		if id == "" {
			id = r.Rule.ID
		}
		if i, ok := rc.byID[id]; ok {
			ru = &rc.rules[i]
		}
	}
	level := string(r.Level)
	if level == "" && ru != nil {
		level = string(ru.DefaultConfiguration.Level)
	}
	if level == "" {
		level = "warning"
	}
	p.meta.FindingsInReport++
	p.meta.BySeverityRaw[level]++
	rec := &importer.Record{
		VulnID:      r.RuleID,
		SeverityRaw: level,
		Location:    string(r.Locations),
		Suppressed:  bool(r.Suppressions),
		Asset:       rc.asset,
	}
	if rec.Suppressed {
		p.meta.Suppressed++
	}
	if rec.VulnID == "" {
		rec.VulnID = r.Rule.ID
	}
	if rec.VulnID == "" && ru != nil {
		rec.VulnID = ru.ID
	}
	if ru != nil {
		rec.Title = ru.ShortDescription.Text
		rec.URL = ru.HelpURI
		rec.PURL = string(ru.Properties.PURLs)
		rec.CVSSVector = string(ru.Properties.CVSSv3Vector)
	}
	if ru != nil && ru.Properties.SecuritySeverity.Valid {
		rec.CVSS = ru.Properties.SecuritySeverity.Value
		rec.Severity = patchctl.SeverityFromCVSS(rec.CVSS)
	} else {
		rec.Severity = levelSeverity(level)
	}
	image := parseMessage(rec, r.Message.Text)
	if rec.Package == "" {
		rec.Package = rec.Location
	}
	if !rc.hasAsset && rc.grype && image != "" {
		rec.Asset = importer.AssetRef{Kind: patchctl.AssetImage, Name: image}
	}
	p.addAsset(rec.Asset)
	return p.emit(rec)
}

// levelSeverity maps a SARIF level to a severity. patchctl.ParseSeverity is
// asked first; the SARIF levels it does not know are mapped here.
func levelSeverity(level string) patchctl.Severity {
	if sev, ok := patchctl.ParseSeverity(level); ok && level != "" {
		return sev
	}
	switch strings.ToLower(strings.TrimSpace(level)) {
	case "error":
		return patchctl.SeverityHigh
	case "warning":
		return patchctl.SeverityMedium
	case "note":
		return patchctl.SeverityLow
	}
	return patchctl.SeverityUnknown
}

// parseMessage fills package, version, ecosystem, fixed version and aliases
// from a result message, and returns the image a Grype message names. It
// uses plain string searches: regular expressions took half of the parse.
func parseMessage(rec *importer.Record, text string) (image string) {
	// Trivy: "Package: NAME\nInstalled Version: VERSION\n...Fixed Version: FIX".
	if name, ok := lineValue(text, "Package: "); ok {
		rec.Package = name
		rec.InstalledVersion, _ = lineValue(text, "Installed Version: ")
		rec.FixedVersion, _ = lineValue(text, "Fixed Version: ")
		return ""
	}
	// Grype: "A low vulnerability in rpm package: NAME, version VERSION was
	// found in image IMAGE at: PATH".
	if i := strings.Index(text, "package: "); i >= 0 {
		rest := text[i+len("package: "):]
		if j := strings.Index(rest, ", version "); j > 0 {
			version, after, ok := strings.Cut(rest[j+len(", version "):], " was found")
			if ok && version != "" && !strings.ContainsAny(version, " \n") {
				rec.Package, rec.InstalledVersion = rest[:j], version
				if before := strings.TrimSuffix(text[:i], " "); strings.Contains(before, " in ") {
					rec.Ecosystem = before[strings.LastIndex(before, " in ")+len(" in "):]
					if strings.Contains(rec.Ecosystem, " ") {
						rec.Ecosystem = ""
					}
				}
				if img, ok := strings.CutPrefix(after, " in image "); ok {
					image, _, _ = strings.Cut(img, " ")
				}
				grypeAlias(rec)
				return image
			}
		}
	}
	// Grype before 0.x: "The path PATH reports NAME at version VERSION ...".
	if i := strings.Index(text, "reports "); i >= 0 {
		rest := text[i+len("reports "):]
		if name, after, ok := strings.Cut(rest, " at version "); ok && name != "" && !strings.Contains(name, " ") {
			version := after
			if k := strings.IndexAny(after, " \n"); k >= 0 {
				version = after[:k]
			}
			if version != "" {
				rec.Package, rec.InstalledVersion = name, version
				grypeAlias(rec)
				return ""
			}
		}
	}
	// OSV-Scanner: "Package 'NAME@VERSION' is vulnerable to 'ID' (also known
	// as 'A', 'B')."
	if i := strings.Index(text, "Package '"); i >= 0 {
		rest := text[i+len("Package '"):]
		if spec, after, ok := strings.Cut(rest, "' is vulnerable"); ok {
			if at := strings.LastIndexByte(spec, '@'); at > 0 {
				rec.Package, rec.InstalledVersion = spec[:at], spec[at+1:]
				if _, aka, ok := strings.Cut(after, "also known as "); ok {
					if end := strings.IndexByte(aka, ')'); end >= 0 {
						aka = aka[:end]
					}
					for _, q := range strings.Split(aka, ",") {
						id := strings.Trim(strings.TrimSpace(q), "'")
						if id != "" && id != rec.VulnID {
							rec.Aliases = append(rec.Aliases, id)
						}
					}
				}
			}
		}
	}
	return ""
}

// lineValue returns the rest of the line that starts with prefix.
func lineValue(text, prefix string) (string, bool) {
	for off := 0; ; {
		i := strings.Index(text[off:], prefix)
		if i < 0 {
			return "", false
		}
		i += off
		if i == 0 || text[i-1] == '\n' {
			v := text[i+len(prefix):]
			if j := strings.IndexByte(v, '\n'); j >= 0 {
				v = v[:j]
			}
			return strings.TrimRight(v, "\r"), true
		}
		off = i + len(prefix)
	}
}

// grypeAlias adds the vulnerability id of a Grype rule id "VULNID-PACKAGE".
func grypeAlias(rec *importer.Record) {
	if id, ok := strings.CutSuffix(rec.VulnID, "-"+rec.Package); ok && id != "" {
		rec.Aliases = append(rec.Aliases, id)
	}
}
