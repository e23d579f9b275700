// Package cyclonedx parses CycloneDX JSON documents — SBOMs, SBOMs with
// vulnerabilities (as Trivy writes them) and VEX documents — into importer
// records, decoding components, metadata and vulnerabilities with the types
// of github.com/CycloneDX/cyclonedx-go, one element at a time.
//
// Records: one per vulnerabilities[].affects[] entry. An SBOM without
// vulnerabilities is valid and yields no record; Meta.Components counts its
// components (nested ones included). VulnID is the vulnerability id and
// Aliases the ids of its references[]. The affected package is the component
// whose bom-ref the affects entry names (also through a BOM-Link
// "urn:cdx:serial/version#bom-ref", or metadata.component): its name (with
// its group, "group:name" for Maven, "group/name" otherwise), version, purl
// and purl type as Ecosystem. A ref that names no component of the document
// is read as a purl when it is one, else used as the package name, and the
// version then comes from the first affects version with status "affected".
// CycloneDX has no fixed version; FixedVersion stays empty.
//
// VEX: analysis.state and analysis.justification go to VEXState and
// Justification; Meta.IsVEX is set when any vulnerability carries an
// analysis.
//
// Severity: SeverityRaw is the severity of the first rating that has one
// ("unknown" when none has); CVSS is the highest CVSSv3/CVSSv31 rating score
// (computed from its vector when the score is missing), else the highest
// CVSSv2 score. The normalised severity is patchctl.ParseSeverity of the raw
// severity, else the band of the CVSS score, else unknown.
//
// Asset: from metadata.component: an image for type "container" (its
// version appended as a tag, or as the digest when it is one), a repository
// when it has a "vcs" external reference (named by that URL), a filesystem
// for type "file", and an SBOM (named by group/name, without version)
// otherwise. A document without metadata.component is an SBOM asset named by
// its serialNumber (empty when it has none).
//
// Streaming: components are indexed (bom-ref → name, version, purl) as they
// are read; the rest is not kept. Producers write metadata and components
// before vulnerabilities; when a document has vulnerabilities first, the
// parser makes a second pass (seekable input) or holds the vulnerabilities
// until the end.
package cyclonedx

import (
	"context"
	"io"
	"net/url"
	"slices"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/importer"
	"github.com/patchctl/patchctl/internal/importer/cvss"
	"github.com/patchctl/patchctl/internal/importer/internal/jsonstream"
)

// Parser parses CycloneDX JSON documents. The zero value is ready to use.
type Parser struct{}

// New returns a CycloneDX parser.
func New() Parser { return Parser{} }

// Format implements importer.Parser.
func (Parser) Format() importer.Format { return importer.FormatCycloneDX }

// Parse implements importer.Parser.
func (Parser) Parse(ctx context.Context, r io.Reader, emit importer.Emit) (*importer.Meta, error) {
	s, _, err := jsonstream.OpenFormat(ctx, r, "CycloneDX document", importer.FormatCycloneDX)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	p := &parser{
		s:     s,
		emit:  emit,
		meta:  &importer.Meta{Format: importer.FormatCycloneDX, BySeverityRaw: map[string]int{}},
		index: map[string]component{},
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

	serial        string
	metaComponent *cdx.Component
	sawMetadata   bool
	sawComponents bool
	index         map[string]component // bom-ref -> component
	asset         importer.AssetRef
	deferred      bool
	held          []cdx.Vulnerability
}

// component is what a record needs of a component.
type component struct {
	name, version, purl, ecosystem string
}

func (p *parser) run() error {
	s := p.s
	err := s.Object(func(name string) error {
		switch name {
		case "serialNumber":
			v, err := s.String()
			p.serial = v
			return err
		case "metadata":
			p.sawMetadata = true
			var md cdx.Metadata
			if err := s.Decode(&md); err != nil {
				return err
			}
			p.meta.CreatedAt = jsonstream.ParseTime(md.Timestamp)
			p.tool(&md)
			if md.Component != nil {
				p.metaComponent = md.Component
				p.indexComponent(md.Component, false)
			}
			return nil
		case "components":
			p.sawComponents = true
			return s.Array(func() error {
				var c cdx.Component
				if err := s.Decode(&c); err != nil {
					return err
				}
				p.indexComponent(&c, true)
				return nil
			})
		case "vulnerabilities":
			if p.sawMetadata && p.sawComponents {
				p.asset = p.docAsset()
				return s.Array(p.vulnerability)
			}
			if s.Seekable() {
				p.deferred = true
				return s.Skip()
			}
			return s.Array(func() error {
				var v cdx.Vulnerability
				if err := s.Decode(&v); err != nil {
					return err
				}
				p.held = append(p.held, v)
				return nil
			})
		}
		return s.Skip()
	})
	if err != nil {
		return err
	}
	if err := s.End(); err != nil {
		return err
	}
	p.asset = p.docAsset()
	p.meta.Assets = []importer.AssetRef{p.asset}
	if p.deferred {
		if _, err := s.Rewind(); err != nil {
			return err
		}
		if err := s.Object(func(name string) error {
			if name != "vulnerabilities" {
				return s.Skip()
			}
			return s.Array(p.vulnerability)
		}); err != nil {
			return err
		}
	}
	for i := range p.held {
		if err := p.s.Tick(); err != nil {
			return err
		}
		if err := p.records(&p.held[i]); err != nil {
			return err
		}
		p.held[i] = cdx.Vulnerability{}
	}
	return nil
}

// tool records the first tool of the metadata, in either shape.
func (p *parser) tool(md *cdx.Metadata) {
	if md.Tools == nil {
		return
	}
	if md.Tools.Components != nil && len(*md.Tools.Components) > 0 {
		c := (*md.Tools.Components)[0]
		p.meta.Tool, p.meta.ToolVersion = c.Name, c.Version
		return
	}
	if md.Tools.Tools != nil && len(*md.Tools.Tools) > 0 {
		t := (*md.Tools.Tools)[0]
		p.meta.Tool, p.meta.ToolVersion = t.Name, t.Version
	}
}

// indexComponent adds a component and its nested components to the index.
func (p *parser) indexComponent(c *cdx.Component, count bool) {
	if count {
		p.meta.Components++
	}
	if c.BOMRef != "" {
		if _, dup := p.index[c.BOMRef]; !dup {
			p.index[c.BOMRef] = describe(c)
		}
	}
	if c.Components != nil {
		for i := range *c.Components {
			p.indexComponent(&(*c.Components)[i], count)
		}
	}
}

func describe(c *cdx.Component) component {
	d := component{name: c.Name, version: c.Version, purl: c.PackageURL}
	typ := ""
	if c.PackageURL != "" {
		typ, _, _ = parsePURL(c.PackageURL)
	}
	d.ecosystem = typ
	if c.Group != "" {
		sep := "/"
		if typ == "maven" {
			sep = ":"
		}
		d.name = c.Group + sep + c.Name
	}
	return d
}

// docAsset names the document's asset from metadata.component.
func (p *parser) docAsset() importer.AssetRef {
	c := p.metaComponent
	if c == nil {
		return importer.AssetRef{Kind: patchctl.AssetSBOM, Name: p.serial}
	}
	name := describe(c).name
	switch {
	case c.Type == cdx.ComponentTypeContainer:
		a := importer.AssetRef{Kind: patchctl.AssetImage, Name: name}
		switch {
		case strings.HasPrefix(c.Version, "sha256:"):
			a.Digest = c.Version
		case c.Version != "" && !strings.Contains(name[strings.LastIndex(name, "/")+1:], ":"):
			a.Name = name + ":" + c.Version
		}
		return a
	case vcsURL(c) != "":
		return importer.AssetRef{Kind: patchctl.AssetRepository, Name: vcsURL(c)}
	case c.Type == cdx.ComponentTypeFile:
		return importer.AssetRef{Kind: patchctl.AssetFilesystem, Name: name}
	}
	return importer.AssetRef{Kind: patchctl.AssetSBOM, Name: name}
}

func vcsURL(c *cdx.Component) string {
	if c.ExternalReferences == nil {
		return ""
	}
	for _, r := range *c.ExternalReferences {
		if r.Type == cdx.ERTypeVCS && r.URL != "" {
			return r.URL
		}
	}
	return ""
}

// vulnerability decodes one vulnerability and emits its records.
func (p *parser) vulnerability() error {
	var v cdx.Vulnerability
	if err := p.s.Decode(&v); err != nil {
		return err
	}
	return p.records(&v)
}

// records emits one record per affects entry of v.
func (p *parser) records(v *cdx.Vulnerability) error {
	if v.Analysis != nil {
		p.meta.IsVEX = true
	}
	if v.Affects == nil {
		return nil
	}
	raw, sev, score, vector := rate(v)
	var aliases []string
	if v.References != nil {
		for _, r := range *v.References {
			if r.ID != "" && r.ID != v.ID && !slices.Contains(aliases, r.ID) {
				aliases = append(aliases, r.ID)
			}
		}
	}
	url := ""
	if v.Source != nil {
		url = v.Source.URL
	}
	if url == "" && v.Advisories != nil && len(*v.Advisories) > 0 {
		url = (*v.Advisories)[0].URL
	}
	for _, a := range *v.Affects {
		p.meta.FindingsInReport++
		p.meta.BySeverityRaw[raw]++
		rec := &importer.Record{
			Asset:       p.asset,
			VulnID:      v.ID,
			Severity:    sev,
			SeverityRaw: raw,
			CVSS:        score,
			CVSSVector:  vector,
			URL:         url,
			Published:   jsonstream.ParseTime(v.Published),
		}
		if len(aliases) > 0 {
			rec.Aliases = append([]string(nil), aliases...)
		}
		if v.Analysis != nil {
			rec.VEXState = string(v.Analysis.State)
			rec.Justification = string(v.Analysis.Justification)
		}
		c := p.resolve(a.Ref)
		rec.Package, rec.InstalledVersion, rec.PURL, rec.Ecosystem = c.name, c.version, c.purl, c.ecosystem
		if rec.InstalledVersion == "" && a.Range != nil {
			for _, r := range *a.Range {
				if r.Status == cdx.VulnerabilityStatusAffected && r.Version != "" {
					rec.InstalledVersion = r.Version
					break
				}
			}
		}
		if err := p.emit(rec); err != nil {
			return err
		}
	}
	return nil
}

// resolve finds the component an affects ref names: a bom-ref of the
// document, the bom-ref inside a BOM-Link, or a purl.
func (p *parser) resolve(ref string) component {
	if c, ok := p.index[ref]; ok {
		return c
	}
	if rest, ok := strings.CutPrefix(ref, "urn:cdx:"); ok {
		if _, frag, ok := strings.Cut(rest, "#"); ok {
			if f, err := url.PathUnescape(frag); err == nil {
				frag = f
			}
			if c, ok := p.index[frag]; ok {
				return c
			}
			ref = frag
		}
	}
	if strings.HasPrefix(ref, "pkg:") {
		typ, name, version := parsePURL(ref)
		if name != "" {
			return component{name: name, version: version, purl: ref, ecosystem: typ}
		}
	}
	return component{name: ref}
}

// parsePURL splits a package URL into its type, a package name in the
// spelling scanners use (namespace joined with ":" for Maven and "/"
// otherwise, except for distributions' packages, named alone), and version.
func parsePURL(purl string) (typ, name, version string) {
	rest, ok := strings.CutPrefix(purl, "pkg:")
	if !ok {
		return "", "", ""
	}
	rest = strings.TrimLeft(rest, "/")
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		rest = rest[:i]
	}
	typ, rest, _ = strings.Cut(rest, "/")
	if i := strings.LastIndexByte(rest, '@'); i >= 0 && i > strings.LastIndexByte(rest, '/') {
		rest, version = rest[:i], rest[i+1:]
	}
	ns, n := "", rest
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		ns, n = rest[:i], rest[i+1:]
	}
	unescape := func(s string) string {
		if u, err := url.PathUnescape(s); err == nil {
			return u
		}
		return s
	}
	ns, n, version = unescape(ns), unescape(n), unescape(version)
	typ = strings.ToLower(typ)
	switch {
	case ns == "":
		name = n
	case typ == "maven":
		name = ns + ":" + n
	case typ == "deb", typ == "rpm", typ == "apk", typ == "alpm", typ == "qpkg":
		name = n // the namespace is the distribution
	default:
		name = ns + "/" + n
	}
	return typ, name, version
}

// rate picks the raw severity, normalised severity, CVSS score and vector
// of a vulnerability from its ratings.
func rate(v *cdx.Vulnerability) (raw string, sev patchctl.Severity, score float64, vector string) {
	var v3, v2 float64
	var v3vec, v2vec string
	var has3, has2 bool
	if v.Ratings != nil {
		for _, r := range *v.Ratings {
			if raw == "" && r.Severity != "" {
				raw = string(r.Severity)
			}
			s, ok := 0.0, r.Score != nil
			if ok {
				s = *r.Score
			}
			switch r.Method {
			case cdx.ScoringMethodCVSSv3, cdx.ScoringMethodCVSSv31:
				if !ok {
					vec := r.Vector
					if !strings.HasPrefix(vec, "CVSS:") {
						vec = "CVSS:3.1/" + vec
					}
					computed, err := cvss.BaseScore(vec)
					if err != nil {
						continue
					}
					s = computed
				}
				if !has3 || s > v3 {
					v3, v3vec, has3 = s, r.Vector, true
				}
			case cdx.ScoringMethodCVSSv2:
				if ok && (!has2 || s > v2) {
					v2, v2vec, has2 = s, r.Vector, true
				}
			}
		}
	}
	switch {
	case has3:
		score, vector = v3, v3vec
	case has2:
		score, vector = v2, v2vec
	}
	if raw == "" {
		raw = "unknown"
	}
	sev, ok := patchctl.ParseSeverity(raw)
	if (!ok || sev == patchctl.SeverityUnknown) && (has3 || has2) {
		sev = patchctl.SeverityFromCVSS(score)
	}
	return raw, sev, score, vector
}
