package osv

import (
	"context"
	"io"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/importer"
	"github.com/patchctl/patchctl/internal/importer/internal/jsonstream"
)

// ParseRecord parses a single OSV advisory (one JSON object of the OSV
// schema, as served by osv.dev or vuln.go.dev) into the part used to merge
// aliases. Packages lists "ecosystem/name" for each affected package, once
// each, in order.
func ParseRecord(ctx context.Context, r io.Reader) (*importer.OSVRecord, error) {
	s, _, err := jsonstream.OpenFormat(ctx, r, "OSV advisory", importer.FormatOSVRecord)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var a struct {
		ID        string   `json:"id"`
		Aliases   []string `json:"aliases"`
		Summary   string   `json:"summary"`
		Modified  string   `json:"modified"`
		Published string   `json:"published"`
		Withdrawn string   `json:"withdrawn"`
		Affected  []struct {
			Package struct {
				Ecosystem string `json:"ecosystem"`
				Name      string `json:"name"`
			} `json:"package"`
		} `json:"affected"`
	}
	if s.Dec.PeekKind() != '{' {
		return nil, s.Invalidf("expected a JSON object")
	}
	if err := s.Decode(&a); err != nil {
		return nil, err
	}
	if err := s.End(); err != nil {
		return nil, err
	}
	if a.ID == "" {
		return nil, &patchctl.Error{Code: patchctl.CodeInvalid, Field: "id", Message: "OSV advisory has no id"}
	}
	rec := &importer.OSVRecord{
		ID:        a.ID,
		Aliases:   a.Aliases,
		Summary:   a.Summary,
		Modified:  jsonstream.ParseTime(a.Modified),
		Published: jsonstream.ParseTime(a.Published),
		Withdrawn: jsonstream.ParseTime(a.Withdrawn),
	}
	seen := map[string]bool{}
	for _, af := range a.Affected {
		if af.Package.Name == "" {
			continue
		}
		key := af.Package.Ecosystem + "/" + af.Package.Name
		if !seen[key] {
			seen[key] = true
			rec.Packages = append(rec.Packages, key)
		}
	}
	return rec, nil
}
