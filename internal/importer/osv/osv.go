// Package osv parses OSV-Scanner JSON reports into importer records, and
// single OSV advisories (the OSV schema, e.g. a Go vulnerability database
// entry) into importer.OSVRecord.
//
// Scanner reports: one record per element of
// results[].packages[].vulnerabilities[] — one per advisory per package;
// aliases are not merged (OSV-Scanner's alias groups,
// results[].packages[].groups[], are counted in Meta.Groups). VulnID is the
// advisory id and Aliases its aliases. The fixed version comes from the
// affected[] entry naming the package (same name, same base ecosystem):
// among its ranges' introduced/fixed events, the fix of the range that
// contains the installed version, else the lowest fix above it, else none.
// A package identified only by a commit (a git source) is named by the
// advisory's GIT range repository (else the source path), with the commit as
// its version and ecosystem "GIT".
//
// Severity: SeverityRaw is database_specific.severity upper-cased
// (GitHub's LOW, MODERATE, HIGH, CRITICAL), or UNKNOWN when absent. CVSS is
// the highest base score computed (package cvss, CVSS v3.1 formula) from the
// severity[] entries of type CVSS_V3, with its vector. The normalised
// severity is patchctl.ParseSeverity of the database severity; when that is
// absent or not a recognised spelling, the CVSS v3 band
// (patchctl.SeverityFromCVSS) when a vector could be scored, else unknown.
//
// Assets: one per result source: kind repository for a git source, else
// filesystem, named by source.path (a lockfile, SBOM or directory path), which
// is also the record's Location.
package osv

import (
	"context"
	"io"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/importer"
	"github.com/patchctl/patchctl/internal/importer/cvss"
	"github.com/patchctl/patchctl/internal/importer/internal/jsonstream"
)

// Parser parses OSV-Scanner JSON reports. The zero value is ready to use.
type Parser struct{}

// New returns an OSV-Scanner parser.
func New() Parser { return Parser{} }

// Format implements importer.Parser.
func (Parser) Format() importer.Format { return importer.FormatOSV }

// Parse implements importer.Parser.
func (Parser) Parse(ctx context.Context, r io.Reader, emit importer.Emit) (*importer.Meta, error) {
	s, _, err := jsonstream.OpenFormat(ctx, r, "OSV-Scanner report", importer.FormatOSV)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	p := &parser{
		s:    s,
		emit: emit,
		meta: &importer.Meta{Format: importer.FormatOSV, Tool: "osv-scanner", BySeverityRaw: map[string]int{}},
		seen: map[importer.AssetRef]bool{},
	}
	err = s.Object(func(name string) error {
		if name == "results" {
			return s.Array(p.result)
		}
		return s.Skip()
	})
	if err == nil {
		err = s.End()
	}
	if err != nil {
		return nil, err
	}
	return p.meta, nil
}

type parser struct {
	s       *jsonstream.Stream
	emit    importer.Emit
	meta    *importer.Meta
	seen    map[importer.AssetRef]bool
	adv     advisory // reused for every vulnerability
	scratch []byte   // for member names with escapes
}

type source struct {
	Path string `json:"path"`
	Type string `json:"type"`
}

type pkg struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	Ecosystem string `json:"ecosystem"`
	Commit    string `json:"commit"`
}

type advisory struct {
	ID               string
	Aliases          []string
	Summary          string
	Published        string
	Severity         []severity
	Affected         []affected
	References       []reference
	DatabaseSpecific databaseSeverity
}

type severity struct {
	Type  string
	Score string
}

type reference struct {
	Type string
	URL  string
}

type affected struct {
	Package struct {
		Ecosystem string
		Name      string
	}
	Ranges []osvRange
}

type osvRange struct {
	Type   string
	Repo   string
	Events []event
}

type event struct {
	Introduced, Fixed string
}

// decode reads one advisory by hand (see jsonstream.Fields): it is the hot
// loop of the parser.
func (a *advisory) decode(dec *jsontext.Decoder, scratch *[]byte) error {
	return jsonstream.Fields(dec, scratch, func(name []byte) (err error) {
		switch string(name) {
		case "id":
			a.ID, err = jsonstream.ReadString(dec)
		case "aliases":
			err = jsonstream.Elements(dec, func() error {
				alias, err := jsonstream.ReadString(dec)
				a.Aliases = append(a.Aliases, alias)
				return err
			})
		case "summary":
			a.Summary, err = jsonstream.ReadString(dec)
		case "published":
			a.Published, err = jsonstream.ReadString(dec)
		case "severity":
			err = jsonstream.Elements(dec, func() error {
				var sv severity
				err := jsonstream.Fields(dec, scratch, func(name []byte) (err error) {
					switch string(name) {
					case "type":
						sv.Type, err = jsonstream.ReadString(dec)
					case "score":
						sv.Score, err = jsonstream.ReadString(dec)
					default:
						err = dec.SkipValue()
					}
					return err
				})
				a.Severity = append(a.Severity, sv)
				return err
			})
		case "affected":
			err = jsonstream.Elements(dec, func() error {
				var af affected
				err := af.decode(dec, scratch)
				a.Affected = append(a.Affected, af)
				return err
			})
		case "references":
			err = jsonstream.Elements(dec, func() error {
				var ref reference
				err := jsonstream.Fields(dec, scratch, func(name []byte) (err error) {
					switch string(name) {
					case "type":
						ref.Type, err = jsonstream.ReadString(dec)
					case "url":
						ref.URL, err = jsonstream.ReadString(dec)
					default:
						err = dec.SkipValue()
					}
					return err
				})
				a.References = append(a.References, ref)
				return err
			})
		case "database_specific":
			err = a.DatabaseSpecific.decode(dec, scratch)
		default:
			err = dec.SkipValue()
		}
		return err
	})
}

func (af *affected) decode(dec *jsontext.Decoder, scratch *[]byte) error {
	return jsonstream.Fields(dec, scratch, func(name []byte) (err error) {
		switch string(name) {
		case "package":
			err = jsonstream.Fields(dec, scratch, func(name []byte) (err error) {
				switch string(name) {
				case "ecosystem":
					af.Package.Ecosystem, err = jsonstream.ReadString(dec)
				case "name":
					af.Package.Name, err = jsonstream.ReadString(dec)
				default:
					err = dec.SkipValue()
				}
				return err
			})
		case "ranges":
			err = jsonstream.Elements(dec, func() error {
				var r osvRange
				err := jsonstream.Fields(dec, scratch, func(name []byte) (err error) {
					switch string(name) {
					case "type":
						r.Type, err = jsonstream.ReadString(dec)
					case "repo":
						r.Repo, err = jsonstream.ReadString(dec)
					case "events":
						err = jsonstream.Elements(dec, func() error {
							var e event
							err := jsonstream.Fields(dec, scratch, func(name []byte) (err error) {
								switch string(name) {
								case "introduced":
									e.Introduced, err = jsonstream.ReadString(dec)
								case "fixed":
									e.Fixed, err = jsonstream.ReadString(dec)
								default:
									err = dec.SkipValue()
								}
								return err
							})
							r.Events = append(r.Events, e)
							return err
						})
					default:
						err = dec.SkipValue()
					}
					return err
				})
				af.Ranges = append(af.Ranges, r)
				return err
			})
		default:
			err = dec.SkipValue()
		}
		return err
	})
}

// decode reads database_specific.severity, whatever else the database puts
// in database_specific (and whatever its shape).
func (d *databaseSeverity) decode(dec *jsontext.Decoder, scratch *[]byte) error {
	*d = ""
	if dec.PeekKind() != '{' {
		return dec.SkipValue()
	}
	return jsonstream.Fields(dec, scratch, func(name []byte) error {
		if string(name) != "severity" {
			return dec.SkipValue()
		}
		var t jsonstream.Text
		err := t.UnmarshalJSONFrom(dec)
		*d = databaseSeverity(t)
		return err
	})
}

// databaseSeverity is database_specific.severity.
type databaseSeverity string

// result reads one element of results. Records stream once source is known
// (OSV-Scanner writes it first); otherwise they wait for the end of the
// result.
func (p *parser) result() error {
	s := p.s
	var src *source
	var local []*importer.Record
	err := s.Object(func(name string) error {
		switch name {
		case "source":
			src = &source{}
			return s.Decode(src)
		case "packages":
			return s.Array(func() error {
				return p.pkg(func(rec *importer.Record) error {
					if src != nil {
						setSource(rec, src)
						return p.emit(rec)
					}
					local = append(local, rec)
					return nil
				})
			})
		}
		return s.Skip()
	})
	if err != nil {
		return err
	}
	if src == nil {
		src = &source{}
	}
	p.addAsset(assetOf(src))
	for _, rec := range local {
		if err := p.s.Tick(); err != nil {
			return err
		}
		setSource(rec, src)
		if err := p.emit(rec); err != nil {
			return err
		}
	}
	return nil
}

func assetOf(src *source) importer.AssetRef {
	kind := patchctl.AssetFilesystem
	if src.Type == "git" {
		kind = patchctl.AssetRepository
	}
	return importer.AssetRef{Kind: kind, Name: src.Path}
}

func setSource(rec *importer.Record, src *source) {
	rec.Asset = assetOf(src)
	rec.Location = src.Path
	if rec.Package == "" {
		rec.Package = src.Path
	}
}

func (p *parser) addAsset(a importer.AssetRef) {
	if !p.seen[a] {
		p.seen[a] = true
		p.meta.Assets = append(p.meta.Assets, a)
	}
}

// pkg reads one element of packages. Records stream once the package is
// known (OSV-Scanner writes it first); otherwise they wait for the end of the
// element.
func (p *parser) pkg(sink func(*importer.Record) error) error {
	s := p.s
	var pk *pkg
	var local []held
	err := s.Object(func(name string) error {
		switch name {
		case "package":
			pk = &pkg{}
			return s.Decode(pk)
		case "vulnerabilities":
			return s.Array(func() error {
				rec, aff, err := p.vulnerability()
				if err != nil {
					return err
				}
				if pk != nil {
					setPackage(rec, pk, aff)
					return sink(rec)
				}
				local = append(local, held{rec, aff})
				return nil
			})
		case "groups":
			n, err := s.Count()
			p.meta.Groups += n
			return err
		}
		return s.Skip()
	})
	if err != nil {
		return err
	}
	if pk == nil {
		pk = &pkg{}
	}
	for _, h := range local {
		if err := p.s.Tick(); err != nil {
			return err
		}
		setPackage(h.rec, pk, h.affected)
		if err := sink(h.rec); err != nil {
			return err
		}
	}
	return nil
}

// held is a record waiting for its package, with the advisory's affected
// list needed to find the fixed version.
type held struct {
	rec      *importer.Record
	affected []affected
}

// vulnerability decodes one advisory of a package into a record, and
// returns the advisory's affected list for setPackage.
func (p *parser) vulnerability() (*importer.Record, []affected, error) {
	a := &p.adv
	*a = advisory{} // fresh slices: the record keeps Aliases
	if err := p.s.Err(a.decode(p.s.Dec, &p.scratch)); err != nil {
		return nil, nil, err
	}
	raw := strings.ToUpper(strings.TrimSpace(string(a.DatabaseSpecific)))
	if raw == "" {
		raw = "UNKNOWN"
	}
	p.meta.FindingsInReport++
	p.meta.BySeverityRaw[raw]++
	rec := &importer.Record{
		VulnID:      a.ID,
		Aliases:     a.Aliases,
		SeverityRaw: raw,
		Title:       a.Summary,
		Published:   jsonstream.ParseTime(a.Published),
	}
	rec.CVSS, rec.CVSSVector = highestV3(a.Severity)
	sev, ok := patchctl.ParseSeverity(string(a.DatabaseSpecific))
	switch {
	case ok && a.DatabaseSpecific != "":
		rec.Severity = sev
	case rec.CVSSVector != "":
		rec.Severity = patchctl.SeverityFromCVSS(rec.CVSS)
	default:
		rec.Severity = patchctl.SeverityUnknown
	}
	for _, ref := range a.References {
		if ref.Type == "ADVISORY" {
			rec.URL = ref.URL
			break
		}
	}
	if rec.URL == "" && len(a.References) > 0 {
		rec.URL = a.References[0].URL
	}
	return rec, a.Affected, nil
}

// setPackage fills in the package fields of a record and its fixed version.
func setPackage(rec *importer.Record, pk *pkg, aff []affected) {
	rec.Package = pk.Name
	rec.Ecosystem = pk.Ecosystem
	rec.InstalledVersion = pk.Version
	if pk.Version == "" && pk.Commit != "" {
		rec.InstalledVersion = pk.Commit
		if rec.Ecosystem == "" {
			rec.Ecosystem = "GIT"
		}
	}
	var ranges []fixRange
	commit := pk.Version == "" && pk.Commit != ""
	for _, a := range aff {
		if !commit && !samePackage(a, pk) {
			continue
		}
		for _, r := range a.Ranges {
			if (r.Type == "GIT") != commit {
				continue
			}
			if commit && rec.Package == "" && r.Repo != "" {
				rec.Package = r.Repo
			}
			introduced := ""
			for _, e := range r.Events {
				if e.Introduced != "" {
					introduced = e.Introduced
				}
				if e.Fixed != "" {
					ranges = append(ranges, fixRange{introduced: introduced, fixed: e.Fixed})
				}
			}
		}
	}
	installed := pk.Version
	if commit {
		installed = ""
	}
	rec.FixedVersion = pickFix(ranges, installed)
}

// samePackage reports whether an affected entry names the package: same
// name, and same ecosystem up to the release suffix ("Debian:10").
func samePackage(a affected, pk *pkg) bool {
	if !strings.EqualFold(a.Package.Name, pk.Name) {
		return false
	}
	if a.Package.Ecosystem == "" || pk.Ecosystem == "" {
		return true
	}
	ea, _, _ := strings.Cut(a.Package.Ecosystem, ":")
	ep, _, _ := strings.Cut(pk.Ecosystem, ":")
	return strings.EqualFold(ea, ep)
}

// highestV3 returns the highest base score among CVSS_V3 entries that
// parse, with its vector.
func highestV3(list []severity) (float64, string) {
	best, vec := 0.0, ""
	for _, s := range list {
		if s.Type != "CVSS_V3" {
			continue
		}
		score, err := cvss.BaseScore(strings.TrimSpace(s.Score))
		if err != nil {
			continue
		}
		if vec == "" || score > best {
			best, vec = score, strings.TrimSpace(s.Score)
		}
	}
	return best, vec
}
