// Package trivy parses Trivy JSON reports into importer records.
//
// It reads image, filesystem, repository and SBOM reports
// (Results[].Vulnerabilities[]) and Kubernetes reports, both the current
// form (ClusterName, Resources[].Results[]; Findings[] in the consolidated
// variant) and the older one (ClusterName, Vulnerabilities[].Results[] and
// Misconfigurations[].Results[]). Misconfigurations and secrets are counted
// in the Meta, not imported.
//
// Assets: a report of an artifact has one asset: an image (kind image, named
// by ArtifactName, or by Metadata.Reference or RepoTags when ArtifactName is
// a local archive path; digest from Metadata.RepoDigests, else ImageID), a
// repository, a filesystem, an SBOM (kind sbom) or a VM (kind host). A
// Kubernetes report has one workload asset per resource, named
// "namespace/Kind/name" ("Kind/name" for cluster-scoped resources), and a
// cluster asset (named ClusterName) when the report carries a Cluster
// resource; records of a Cluster resource belong to the cluster asset.
//
// Streaming: records are emitted as each vulnerability is decoded. Trivy
// writes the artifact header before Results and Target/Type before
// Vulnerabilities; when a report is ordered otherwise, the parser either
// makes a second pass (seekable input) or holds the affected records until
// the header has been read.
//
// Severity: Severity as written goes to SeverityRaw and through
// patchctl.ParseSeverity; anything unrecognised is unknown. CVSS is the
// highest V3Score over the CVSS sources, else the highest V2Score.
package trivy

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

// Parser parses Trivy JSON reports. The zero value is ready to use.
type Parser struct{}

// New returns a Trivy parser.
func New() Parser { return Parser{} }

// Format implements importer.Parser.
func (Parser) Format() importer.Format { return importer.FormatTrivy }

// Parse implements importer.Parser.
func (Parser) Parse(ctx context.Context, r io.Reader, emit importer.Emit) (*importer.Meta, error) {
	s, _, err := jsonstream.OpenFormat(ctx, r, "Trivy report", importer.FormatTrivy)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	p := &parser{
		s:    s,
		emit: emit,
		meta: &importer.Meta{Format: importer.FormatTrivy, Tool: "trivy", BySeverityRaw: map[string]int{}},
		seen: map[importer.AssetRef]bool{},
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
	seen map[importer.AssetRef]bool

	artifactName, artifactType string
	haveName, haveType         bool
	metadata                   *imageMetadata
	clusterName                string
	sawResults                 bool
	deferred                   bool               // Results skipped, to be read in a second pass
	pending                    []*importer.Record // records waiting for the header

	v       vulnerability // reused for every vulnerability
	scratch []byte        // for member names with escapes
}

type imageMetadata struct {
	ImageID     string   `json:"ImageID"`
	RepoTags    []string `json:"RepoTags"`
	RepoDigests []string `json:"RepoDigests"`
	Reference   string   `json:"Reference"`
}

// vulnerability is what the parser keeps of a Vulnerabilities element.
type vulnerability struct {
	VulnerabilityID  string
	PkgName          string
	PkgPath          string
	PURL             string // PkgIdentifier.PURL
	InstalledVersion string
	FixedVersion     string
	Severity         string
	Title            string
	PrimaryURL       string
	PublishedDate    string
	CVSS             cvssMax
}

// cvssMax decodes Trivy's CVSS map (source -> scores) keeping only the
// highest v3 and v2 scores, without allocating the map.
type cvssMax struct {
	V3, V2       float64
	V3Vec, V2Vec string
	Has3, Has2   bool
}

// UnmarshalJSONFrom implements json.UnmarshalerFrom.
func (c *cvssMax) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	*c = cvssMax{}
	if dec.PeekKind() != '{' {
		return dec.SkipValue() // null, or a shape Trivy does not write
	}
	var scratch []byte
	return jsonstream.Fields(dec, &scratch, func([]byte) error { // one source
		var v2, v3 jsonstream.Number
		var v2Vec, v3Vec string
		err := jsonstream.Fields(dec, &scratch, func(name []byte) (err error) {
			switch string(name) {
			case "V2Score":
				err = v2.UnmarshalJSONFrom(dec)
			case "V3Score":
				err = v3.UnmarshalJSONFrom(dec)
			case "V2Vector":
				v2Vec, err = jsonstream.ReadString(dec)
			case "V3Vector":
				v3Vec, err = jsonstream.ReadString(dec)
			default:
				err = dec.SkipValue()
			}
			return err
		})
		if v3.Valid && (!c.Has3 || v3.Value > c.V3) {
			c.V3, c.V3Vec, c.Has3 = v3.Value, v3Vec, true
		}
		if v2.Valid && (!c.Has2 || v2.Value > c.V2) {
			c.V2, c.V2Vec, c.Has2 = v2.Value, v2Vec, true
		}
		return err
	})
}

// severities are the spellings Trivy writes, read without allocating.
var severities = []string{"CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"}

// decode reads one vulnerability object by hand (see jsonstream.Fields):
// it is the hot loop of the parser.
func (v *vulnerability) decode(dec *jsontext.Decoder, scratch *[]byte) error {
	return jsonstream.Fields(dec, scratch, func(name []byte) (err error) {
		switch string(name) {
		case "VulnerabilityID":
			v.VulnerabilityID, err = jsonstream.ReadString(dec)
		case "PkgName":
			v.PkgName, err = jsonstream.ReadString(dec)
		case "PkgPath":
			v.PkgPath, err = jsonstream.ReadString(dec)
		case "PkgIdentifier":
			err = jsonstream.Fields(dec, scratch, func(name []byte) (err error) {
				if string(name) == "PURL" {
					v.PURL, err = jsonstream.ReadString(dec)
					return err
				}
				return dec.SkipValue()
			})
		case "InstalledVersion":
			v.InstalledVersion, err = jsonstream.ReadString(dec)
		case "FixedVersion":
			v.FixedVersion, err = jsonstream.ReadString(dec)
		case "Severity":
			v.Severity, err = jsonstream.ReadInterned(dec, severities)
		case "Title":
			v.Title, err = jsonstream.ReadString(dec)
		case "PrimaryURL":
			v.PrimaryURL, err = jsonstream.ReadString(dec)
		case "PublishedDate":
			v.PublishedDate, err = jsonstream.ReadString(dec)
		case "CVSS":
			err = v.CVSS.UnmarshalJSONFrom(dec)
		default:
			err = dec.SkipValue()
		}
		return err
	})
}

func (p *parser) run() error {
	s := p.s
	err := s.Object(func(name string) error {
		switch name {
		case "Trivy":
			var t struct {
				Version string `json:"Version"`
			}
			if err := s.Decode(&t); err != nil {
				return err
			}
			p.meta.ToolVersion = t.Version
			return nil
		case "CreatedAt":
			v, err := s.String()
			p.meta.CreatedAt = jsonstream.ParseTime(v)
			return err
		case "ArtifactName":
			v, err := s.String()
			p.artifactName, p.haveName = v, true
			return err
		case "ArtifactType":
			v, err := s.String()
			p.artifactType, p.haveType = v, true
			return err
		case "Metadata":
			p.metadata = &imageMetadata{}
			return s.Decode(p.metadata)
		case "Results":
			p.sawResults = true
			if p.headerReady() {
				asset := p.artifactAsset()
				return p.results(func(rec *importer.Record) error {
					rec.Asset = asset
					return p.emit(rec)
				})
			}
			if s.Seekable() {
				p.deferred = true
				return s.Skip()
			}
			return p.results(func(rec *importer.Record) error {
				p.pending = append(p.pending, rec)
				return nil
			})
		case "ClusterName":
			v, err := s.String()
			p.clusterName = v
			return err
		case "Resources", "Findings", "Vulnerabilities", "Misconfigurations":
			// Kubernetes reports: Resources (Findings when consolidated);
			// the old form splits resources into Vulnerabilities and
			// Misconfigurations.
			return s.Array(p.resource)
		}
		return s.Skip()
	})
	if err != nil {
		return err
	}
	if err := s.End(); err != nil {
		return err
	}
	if p.sawResults {
		asset := p.artifactAsset()
		p.addAsset(asset)
		if p.deferred {
			if err := p.secondPass(asset); err != nil {
				return err
			}
		}
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
	}
	return nil
}

// secondPass rereads the input and streams Results, now that the header is
// known.
func (p *parser) secondPass(asset importer.AssetRef) error {
	if _, err := p.s.Rewind(); err != nil {
		return err
	}
	s := p.s
	if err := s.Object(func(name string) error {
		if name != "Results" {
			return s.Skip()
		}
		return p.results(func(rec *importer.Record) error {
			rec.Asset = asset
			return p.emit(rec)
		})
	}); err != nil {
		return err
	}
	return s.End()
}

// headerReady reports whether the artifact header has been read: Trivy
// writes ArtifactName, ArtifactType and, for images, Metadata first.
func (p *parser) headerReady() bool {
	return p.haveName && p.haveType && (p.metadata != nil || p.artifactType != "container_image")
}

func (p *parser) addAsset(a importer.AssetRef) {
	if !p.seen[a] {
		p.seen[a] = true
		p.meta.Assets = append(p.meta.Assets, a)
	}
}

// artifactAsset names the asset of an artifact report.
func (p *parser) artifactAsset() importer.AssetRef {
	name := p.artifactName
	switch p.artifactType {
	case "container_image":
		a := importer.AssetRef{Kind: patchctl.AssetImage, Name: name}
		if md := p.metadata; md != nil {
			if imageref.IsArchivePath(name) {
				switch {
				case md.Reference != "":
					a.Name = md.Reference
				case len(md.RepoTags) > 0:
					a.Name = md.RepoTags[0]
				}
			}
			a.Digest = imageref.Digest(md.RepoDigests)
			if a.Digest == "" {
				a.Digest = md.ImageID
			}
		}
		return a
	case "repository":
		return importer.AssetRef{Kind: patchctl.AssetRepository, Name: name}
	case "cyclonedx", "spdx":
		return importer.AssetRef{Kind: patchctl.AssetSBOM, Name: name}
	case "vm":
		return importer.AssetRef{Kind: patchctl.AssetHost, Name: name}
	}
	return importer.AssetRef{Kind: patchctl.AssetFilesystem, Name: name}
}

// results reads a Results array, passing each record to sink.
func (p *parser) results(sink func(*importer.Record) error) error {
	return p.s.Array(func() error { return p.result(sink) })
}

// result reads one Result. Records are sunk as they are decoded once Target
// and Type are known (Trivy writes them first); otherwise they wait for the
// end of the Result.
func (p *parser) result(sink func(*importer.Record) error) error {
	s := p.s
	var target, typ string
	var haveTarget, haveType bool
	var local []*importer.Record
	err := s.Object(func(name string) error {
		switch name {
		case "Target":
			v, err := s.String()
			target, haveTarget = v, true
			return err
		case "Type":
			v, err := s.String()
			typ, haveType = v, true
			return err
		case "Vulnerabilities":
			return s.Array(func() error {
				rec, err := p.vulnerability()
				if err != nil {
					return err
				}
				if haveTarget && haveType {
					setPlace(rec, target, typ)
					return sink(rec)
				}
				local = append(local, rec)
				return nil
			})
		case "Misconfigurations":
			n, err := s.Count()
			p.meta.Misconfigurations += n
			return err
		case "Secrets":
			n, err := s.Count()
			p.meta.Secrets += n
			return err
		}
		return s.Skip()
	})
	if err != nil {
		return err
	}
	for _, rec := range local {
		if err := p.s.Tick(); err != nil {
			return err
		}
		setPlace(rec, target, typ)
		if err := sink(rec); err != nil {
			return err
		}
	}
	return nil
}

func setPlace(rec *importer.Record, target, typ string) {
	rec.Ecosystem = typ
	if rec.Location == "" {
		rec.Location = target
	}
}

// vulnerability decodes one entry of Vulnerabilities into a record.
func (p *parser) vulnerability() (*importer.Record, error) {
	v := &p.v
	*v = vulnerability{}
	if err := p.s.Err(v.decode(p.s.Dec, &p.scratch)); err != nil {
		return nil, err
	}
	raw := v.Severity
	p.meta.FindingsInReport++
	p.meta.BySeverityRaw[raw]++
	sev, _ := patchctl.ParseSeverity(raw)
	rec := &importer.Record{
		VulnID:           v.VulnerabilityID,
		Package:          v.PkgName,
		PURL:             v.PURL,
		InstalledVersion: v.InstalledVersion,
		FixedVersion:     v.FixedVersion,
		Location:         v.PkgPath,
		Severity:         sev,
		SeverityRaw:      raw,
		Title:            v.Title,
		URL:              v.PrimaryURL,
		Published:        jsonstream.ParseTime(v.PublishedDate),
	}
	switch {
	case v.CVSS.Has3:
		rec.CVSS, rec.CVSSVector = v.CVSS.V3, v.CVSS.V3Vec
	case v.CVSS.Has2:
		rec.CVSS, rec.CVSSVector = v.CVSS.V2, v.CVSS.V2Vec
	}
	return rec, nil
}

// resource reads one Kubernetes resource. Its records belong to a workload
// asset (or the cluster asset for a Cluster resource); Trivy writes
// Namespace, Kind and Name before Results, so records stream once Kind and
// Name are known and otherwise wait for the end of the resource.
func (p *parser) resource() error {
	s := p.s
	var ns, kind, name string
	var haveKind, haveName bool
	var local []*importer.Record
	err := s.Object(func(key string) error {
		switch key {
		case "Namespace":
			v, err := s.String()
			ns = v
			return err
		case "Kind":
			v, err := s.String()
			kind, haveKind = v, true
			return err
		case "Name":
			v, err := s.String()
			name, haveName = v, true
			return err
		case "Results":
			var asset importer.AssetRef
			return p.results(func(rec *importer.Record) error {
				if haveKind && haveName {
					if asset.Kind == "" {
						asset = p.resourceAsset(ns, kind, name)
					}
					rec.Asset = asset
					return p.emit(rec)
				}
				local = append(local, rec)
				return nil
			})
		}
		return s.Skip()
	})
	if err != nil {
		return err
	}
	asset := p.resourceAsset(ns, kind, name)
	p.addAsset(asset)
	for _, rec := range local {
		if err := p.s.Tick(); err != nil {
			return err
		}
		rec.Asset = asset
		if err := p.emit(rec); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) resourceAsset(ns, kind, name string) importer.AssetRef {
	if strings.EqualFold(kind, "Cluster") {
		cluster := p.clusterName
		if cluster == "" {
			cluster = name
		}
		return importer.AssetRef{Kind: patchctl.AssetCluster, Name: cluster}
	}
	full := kind + "/" + name
	if ns != "" {
		full = ns + "/" + full
	}
	return importer.AssetRef{Kind: patchctl.AssetWorkload, Name: full}
}
