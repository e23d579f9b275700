// Package grype parses Grype JSON reports into importer records: one record
// per element of matches[]; ignoredMatches[] are counted in the Meta and not
// imported.
//
// Fields: the vulnerability id as VulnID, relatedVulnerabilities[].id as
// Aliases, artifact name, version, type (Ecosystem), purl and first location
// path; the fixed version is matchDetails[].fix.suggestedVersion, else the
// first of vulnerability.fix.versions, else (Grype before 0.10)
// fixedInVersion. CVSS is the highest v3 base score of vulnerability.cvss[]
// and the related vulnerabilities' cvss[] (else the highest v2; the old
// cvssV3/cvssV2 objects are read too); EPSS is the highest
// vulnerability.epss[].epss; KEV is set when vulnerability.knownExploited is
// present and not empty. Severity as written goes to SeverityRaw and through
// patchctl.ParseSeverity (Negligible is none; Unknown and anything
// unrecognised are unknown).
//
// Asset: source.type image gives an image named by target.userInput with
// the digest of target.repoDigests (else manifestDigest, else imageID);
// directory and file give a filesystem asset named by the target; sbom gives
// an sbom asset; anything else (Grype writes "unknown") a filesystem asset
// named by the target as written.
//
// Streaming: Grype writes matches before source, which names the asset of
// every record. The parser holds the records of matches until source has
// been read, within jsonstream.HoldBudget (64 MiB, some 100,000 records);
// beyond it, a seekable input is read again and the remaining matches are
// streamed in a second pass, so that memory stays bounded; a pipe keeps
// holding.
package grype

import (
	"context"
	"io"
	"slices"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/importer"
	"github.com/patchctl/patchctl/internal/importer/internal/imageref"
	"github.com/patchctl/patchctl/internal/importer/internal/jsonstream"
)

// Parser parses Grype JSON reports. The zero value is ready to use.
type Parser struct{}

// New returns a Grype parser.
func New() Parser { return Parser{} }

// Format implements importer.Parser.
func (Parser) Format() importer.Format { return importer.FormatGrype }

// Parse implements importer.Parser.
func (Parser) Parse(ctx context.Context, r io.Reader, emit importer.Emit) (*importer.Meta, error) {
	s, _, err := jsonstream.OpenFormat(ctx, r, "Grype report", importer.FormatGrype)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	p := &parser{
		s:    s,
		emit: emit,
		meta: &importer.Meta{Format: importer.FormatGrype, Tool: "grype", BySeverityRaw: map[string]int{}},
	}
	if err := p.run(); err != nil {
		return nil, err
	}
	return p.meta, nil
}

type parser struct {
	s    *jsonstream.Stream
	emit importer.Emit
	meta *importer.Meta

	source   *source
	deferred bool
	pending  []*importer.Record
	m        match  // reused for every match
	scratch  []byte // for member names with escapes
}

type source struct {
	Type   string       `json:"type"`
	Target sourceTarget `json:"target"`
}

// sourceTarget is a string (directory, file) or an object (image).
type sourceTarget struct {
	Name        string   `json:"-"`
	UserInput   string   `json:"userInput"`
	ImageID     string   `json:"imageID"`
	Manifest    string   `json:"manifestDigest"`
	Tags        []string `json:"tags"`
	RepoDigests []string `json:"repoDigests"`
}

// UnmarshalJSONFrom implements json.UnmarshalerFrom.
func (t *sourceTarget) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	*t = sourceTarget{}
	if dec.PeekKind() == '{' {
		type plain sourceTarget // without the method
		return json.UnmarshalDecode(dec, (*plain)(t))
	}
	var s jsonstream.Text
	err := s.UnmarshalJSONFrom(dec)
	t.Name = string(s)
	return err
}

type cvss struct {
	Version string
	Vector  string
	Metrics struct {
		BaseScore jsonstream.Number
	}
}

// legacyCVSS is the cvssV3/cvssV2 object of Grype before 0.10.
type legacyCVSS struct {
	BaseScore jsonstream.Number
	Vector    string
}

type epss struct {
	EPSS jsonstream.Number
}

type vulnerability struct {
	ID             string
	DataSource     string
	Severity       jsonstream.Text
	URLs           jsonstream.First
	Links          jsonstream.First
	CVSS           []cvss
	CVSSV3         *legacyCVSS
	CVSSV2         *legacyCVSS
	EPSS           []epss
	KnownExploited jsonstream.Present
	Fix            struct {
		Versions jsonstream.First
	}
	FixedInVersion string
}

type related struct {
	ID   string
	CVSS []cvss
	EPSS []epss
}

type match struct {
	Vulnerability vulnerability
	Related       []related
	MatchDetails  suggestedFix
	Artifact      struct {
		Name      string
		Version   string
		Type      string
		PURL      string
		Locations []location
	}
}

// suggestedFix keeps the first matchDetails[].fix.suggestedVersion. Grype
// before 0.10 wrote matchDetails as a single object.
type suggestedFix string

// decode reads matchDetails, an array of objects or (before Grype 0.10) a
// single object.
func (f *suggestedFix) decode(dec *jsontext.Decoder, scratch *[]byte) error {
	*f = ""
	detail := func() error {
		return jsonstream.Fields(dec, scratch, func(name []byte) error {
			if string(name) != "fix" || *f != "" {
				return dec.SkipValue()
			}
			return jsonstream.Fields(dec, scratch, func(name []byte) error {
				if string(name) != "suggestedVersion" {
					return dec.SkipValue()
				}
				v, err := jsonstream.ReadString(dec)
				*f = suggestedFix(v)
				return err
			})
		})
	}
	switch dec.PeekKind() {
	case '{':
		return detail()
	case '[':
		return jsonstream.Elements(dec, func() error {
			if dec.PeekKind() != '{' {
				return dec.SkipValue()
			}
			return detail()
		})
	}
	return dec.SkipValue()
}

type location struct {
	Path string
}

// severities are the spellings Grype writes, read without allocating.
var severities = []string{"Critical", "High", "Medium", "Low", "Negligible", "Unknown"}

// decode reads one match by hand (see jsonstream.Fields): it is the hot
// loop of the parser.
func (m *match) decode(dec *jsontext.Decoder, scratch *[]byte) error {
	return jsonstream.Fields(dec, scratch, func(name []byte) error {
		switch string(name) {
		case "vulnerability":
			return m.Vulnerability.decode(dec, scratch)
		case "relatedVulnerabilities":
			return jsonstream.Elements(dec, func() error {
				var r related
				err := jsonstream.Fields(dec, scratch, func(name []byte) (err error) {
					switch string(name) {
					case "id":
						r.ID, err = jsonstream.ReadString(dec)
					case "cvss":
						r.CVSS, err = decodeCVSS(dec, scratch, r.CVSS)
					case "epss":
						r.EPSS, err = decodeEPSS(dec, scratch, r.EPSS)
					default:
						err = dec.SkipValue()
					}
					return err
				})
				m.Related = append(m.Related, r)
				return err
			})
		case "matchDetails":
			return m.MatchDetails.decode(dec, scratch)
		case "artifact":
			a := &m.Artifact
			return jsonstream.Fields(dec, scratch, func(name []byte) (err error) {
				switch string(name) {
				case "name":
					a.Name, err = jsonstream.ReadString(dec)
				case "version":
					a.Version, err = jsonstream.ReadString(dec)
				case "type":
					a.Type, err = jsonstream.ReadString(dec)
				case "purl":
					a.PURL, err = jsonstream.ReadString(dec)
				case "locations":
					err = jsonstream.Elements(dec, func() error {
						var l location
						err := jsonstream.Fields(dec, scratch, func(name []byte) (err error) {
							if string(name) == "path" && len(a.Locations) == 0 {
								l.Path, err = jsonstream.ReadString(dec)
								return err
							}
							return dec.SkipValue()
						})
						if len(a.Locations) == 0 {
							a.Locations = append(a.Locations, l)
						}
						return err
					})
				default:
					err = dec.SkipValue()
				}
				return err
			})
		}
		return dec.SkipValue()
	})
}

func (v *vulnerability) decode(dec *jsontext.Decoder, scratch *[]byte) error {
	return jsonstream.Fields(dec, scratch, func(name []byte) (err error) {
		switch string(name) {
		case "id":
			v.ID, err = jsonstream.ReadString(dec)
		case "dataSource":
			v.DataSource, err = jsonstream.ReadString(dec)
		case "severity":
			var s string
			s, err = jsonstream.ReadInterned(dec, severities)
			v.Severity = jsonstream.Text(s)
		case "urls":
			err = v.URLs.UnmarshalJSONFrom(dec)
		case "links":
			err = v.Links.UnmarshalJSONFrom(dec)
		case "cvss":
			v.CVSS, err = decodeCVSS(dec, scratch, v.CVSS)
		case "cvssV3":
			v.CVSSV3, err = decodeLegacy(dec, scratch)
		case "cvssV2":
			v.CVSSV2, err = decodeLegacy(dec, scratch)
		case "epss":
			v.EPSS, err = decodeEPSS(dec, scratch, v.EPSS)
		case "knownExploited":
			err = v.KnownExploited.UnmarshalJSONFrom(dec)
		case "fix":
			err = jsonstream.Fields(dec, scratch, func(name []byte) error {
				if string(name) == "versions" {
					return v.Fix.Versions.UnmarshalJSONFrom(dec)
				}
				return dec.SkipValue()
			})
		case "fixedInVersion":
			v.FixedInVersion, err = jsonstream.ReadString(dec)
		default:
			err = dec.SkipValue()
		}
		return err
	})
}

func decodeCVSS(dec *jsontext.Decoder, scratch *[]byte, list []cvss) ([]cvss, error) {
	err := jsonstream.Elements(dec, func() error {
		var c cvss
		err := jsonstream.Fields(dec, scratch, func(name []byte) (err error) {
			switch string(name) {
			case "version":
				c.Version, err = jsonstream.ReadString(dec)
			case "vector":
				c.Vector, err = jsonstream.ReadString(dec)
			case "metrics":
				err = jsonstream.Fields(dec, scratch, func(name []byte) error {
					if string(name) == "baseScore" {
						return c.Metrics.BaseScore.UnmarshalJSONFrom(dec)
					}
					return dec.SkipValue()
				})
			default:
				err = dec.SkipValue()
			}
			return err
		})
		list = append(list, c)
		return err
	})
	return list, err
}

func decodeLegacy(dec *jsontext.Decoder, scratch *[]byte) (*legacyCVSS, error) {
	if dec.PeekKind() == 'n' {
		return nil, dec.SkipValue()
	}
	c := &legacyCVSS{}
	err := jsonstream.Fields(dec, scratch, func(name []byte) (err error) {
		switch string(name) {
		case "baseScore":
			err = c.BaseScore.UnmarshalJSONFrom(dec)
		case "vector":
			c.Vector, err = jsonstream.ReadString(dec)
		default:
			err = dec.SkipValue()
		}
		return err
	})
	return c, err
}

func decodeEPSS(dec *jsontext.Decoder, scratch *[]byte, list []epss) ([]epss, error) {
	err := jsonstream.Elements(dec, func() error {
		var e epss
		err := jsonstream.Fields(dec, scratch, func(name []byte) error {
			if string(name) == "epss" {
				return e.EPSS.UnmarshalJSONFrom(dec)
			}
			return dec.SkipValue()
		})
		list = append(list, e)
		return err
	})
	return list, err
}

func (p *parser) run() error {
	s := p.s
	err := s.Object(func(name string) error {
		switch name {
		case "matches":
			if p.source != nil {
				asset := p.asset()
				return p.matches(func(rec *importer.Record) error {
					rec.Asset = asset
					return p.emit(rec)
				})
			}
			// Hold the records until source is read; past the budget, a
			// seekable input is read again for the rest.
			held := 0
			return s.Array(func() error {
				if p.deferred {
					return s.Skip()
				}
				rec, err := p.match()
				if err != nil {
					return err
				}
				p.pending = append(p.pending, rec)
				held += jsonstream.RecordSize(rec)
				p.deferred = held > jsonstream.HoldBudget && s.Seekable()
				return nil
			})
		case "ignoredMatches":
			n, err := s.Count()
			p.meta.IgnoredMatches += n
			return err
		case "source":
			p.source = &source{}
			return s.Decode(p.source)
		case "descriptor":
			var d struct {
				Name      string `json:"name"`
				Version   string `json:"version"`
				Timestamp string `json:"timestamp"`
			}
			if err := s.Decode(&d); err != nil {
				return err
			}
			if d.Name != "" {
				p.meta.Tool = d.Name
			}
			p.meta.ToolVersion = d.Version
			p.meta.CreatedAt = jsonstream.ParseTime(d.Timestamp)
			return nil
		}
		return s.Skip()
	})
	if err != nil {
		return err
	}
	if err := s.End(); err != nil {
		return err
	}
	asset := p.asset()
	p.meta.Assets = []importer.AssetRef{asset}
	held := len(p.pending)
	for i, rec := range p.pending {
		if err := p.s.Tick(); err != nil {
			return err
		}
		rec.Asset = asset
		if err := p.emit(rec); err != nil {
			return err
		}
		p.pending[i] = nil
	}
	if !p.deferred {
		return nil
	}
	// Second pass: the matches after those held.
	if _, err := s.Rewind(); err != nil {
		return err
	}
	return s.Object(func(name string) error {
		if name != "matches" {
			return s.Skip()
		}
		i := 0
		return s.Array(func() error {
			if i++; i <= held {
				return s.Skip()
			}
			rec, err := p.match()
			if err != nil {
				return err
			}
			rec.Asset = asset
			return p.emit(rec)
		})
	})
}

// asset names the scanned source.
func (p *parser) asset() importer.AssetRef {
	if p.source == nil {
		return importer.AssetRef{Kind: patchctl.AssetFilesystem}
	}
	t := p.source.Target
	switch p.source.Type {
	case "image":
		a := importer.AssetRef{Kind: patchctl.AssetImage, Name: t.UserInput}
		if a.Name == "" && len(t.Tags) > 0 {
			a.Name = t.Tags[0]
		}
		if a.Name == "" {
			a.Name = t.ImageID
		}
		a.Digest = imageref.Digest(t.RepoDigests)
		if a.Digest == "" {
			a.Digest = t.Manifest
		}
		if a.Digest == "" {
			a.Digest = t.ImageID
		}
		return a
	case "sbom":
		return importer.AssetRef{Kind: patchctl.AssetSBOM, Name: targetName(t)}
	}
	return importer.AssetRef{Kind: patchctl.AssetFilesystem, Name: targetName(t)}
}

func targetName(t sourceTarget) string {
	name := t.Name
	if name == "" {
		name = t.UserInput
	}
	// Some Grype versions quote the directory they were given: "\".\"".
	if len(name) >= 2 && name[0] == '"' && name[len(name)-1] == '"' {
		name = name[1 : len(name)-1]
	}
	return name
}

func (p *parser) matches(sink func(*importer.Record) error) error {
	return p.s.Array(func() error {
		rec, err := p.match()
		if err != nil {
			return err
		}
		return sink(rec)
	})
}

// match decodes one element of matches into a record.
func (p *parser) match() (*importer.Record, error) {
	m := &p.m
	*m = match{}
	if err := p.s.Err(m.decode(p.s.Dec, &p.scratch)); err != nil {
		return nil, err
	}
	v := &m.Vulnerability
	raw := string(v.Severity)
	p.meta.FindingsInReport++
	p.meta.BySeverityRaw[raw]++
	sev, _ := patchctl.ParseSeverity(raw)
	rec := &importer.Record{
		VulnID:           v.ID,
		Package:          m.Artifact.Name,
		Ecosystem:        m.Artifact.Type,
		PURL:             m.Artifact.PURL,
		InstalledVersion: m.Artifact.Version,
		Severity:         sev,
		SeverityRaw:      raw,
		KEV:              bool(v.KnownExploited),
		URL:              v.DataSource,
	}
	if len(m.Artifact.Locations) > 0 {
		rec.Location = m.Artifact.Locations[0].Path
	}
	if rec.URL == "" {
		rec.URL = string(v.URLs)
	}
	if rec.URL == "" {
		rec.URL = string(v.Links)
	}
	rec.FixedVersion = string(m.MatchDetails)
	if rec.FixedVersion == "" {
		rec.FixedVersion = string(v.Fix.Versions)
	}
	if rec.FixedVersion == "" {
		rec.FixedVersion = v.FixedInVersion
	}
	var best scores
	best.addAll(v.CVSS)
	best.addLegacy(v.CVSSV3, true)
	best.addLegacy(v.CVSSV2, false)
	for _, e := range v.EPSS {
		if e.EPSS.Valid && e.EPSS.Value > rec.EPSS {
			rec.EPSS = e.EPSS.Value
		}
	}
	for _, r := range m.Related {
		best.addAll(r.CVSS)
		for _, e := range r.EPSS {
			if e.EPSS.Valid && e.EPSS.Value > rec.EPSS {
				rec.EPSS = e.EPSS.Value
			}
		}
		if r.ID != "" && r.ID != v.ID && !slices.Contains(rec.Aliases, r.ID) {
			rec.Aliases = append(rec.Aliases, r.ID)
		}
	}
	rec.CVSS, rec.CVSSVector = best.pick()
	return rec, nil
}

// scores keeps the highest v3 and v2 base scores seen.
type scores struct {
	v3, v2       float64
	v3Vec, v2Vec string
	has3, has2   bool
}

func (b *scores) add(score float64, vector string, v3 bool) {
	switch {
	case v3 && (!b.has3 || score > b.v3):
		b.v3, b.v3Vec, b.has3 = score, vector, true
	case !v3 && (!b.has2 || score > b.v2):
		b.v2, b.v2Vec, b.has2 = score, vector, true
	}
}

func (b *scores) addAll(list []cvss) {
	for _, c := range list {
		if !c.Metrics.BaseScore.Valid {
			continue
		}
		v3 := strings.HasPrefix(c.Version, "3") || strings.HasPrefix(c.Vector, "CVSS:3")
		v2 := strings.HasPrefix(c.Version, "2") || (c.Version == "" && !v3 && c.Vector != "" && !strings.HasPrefix(c.Vector, "CVSS:"))
		if v3 || v2 {
			b.add(c.Metrics.BaseScore.Value, c.Vector, v3)
		}
	}
}

func (b *scores) addLegacy(c *legacyCVSS, v3 bool) {
	if c != nil && c.BaseScore.Valid {
		b.add(c.BaseScore.Value, c.Vector, v3)
	}
}

func (b *scores) pick() (float64, string) {
	switch {
	case b.has3:
		return b.v3, b.v3Vec
	case b.has2:
		return b.v2, b.v2Vec
	}
	return 0, ""
}
