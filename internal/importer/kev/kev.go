// Package kev parses the CISA Known Exploited Vulnerabilities catalog, in
// its JSON form (known_exploited_vulnerabilities.json: title,
// catalogVersion, dateReleased, count, vulnerabilities[]) or its CSV form
// (known_exploited_vulnerabilities.csv, one row per entry, columns found by
// their header names), into an importer.KEVCatalog and a stream of
// importer.KEVEntry.
//
// Entries are emitted as they are read. Dates are read as UTC dates;
// knownRansomwareCampaignUse "Known" sets KnownRansomwareCampaignUse. An
// entry without a cveID is invalid. KEVCatalog.Count is the number of
// entries read (the JSON count field is informational); the CSV form has no
// title, version or release date.
package kev

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/importer"
	"github.com/patchctl/patchctl/internal/importer/internal/jsonstream"
)

// Emit receives each entry; the entry is owned by the callee. Returning an
// error stops the parse with that error.
type Emit func(*importer.KEVEntry) error

// Parse reads a KEV catalog, JSON or CSV (gzip-compressed or not).
func Parse(ctx context.Context, r io.Reader, emit Emit) (*importer.KEVCatalog, error) {
	s, d, err := jsonstream.OpenFormat(ctx, r, "KEV catalog", importer.FormatKEV)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if d.CSV {
		return parseCSV(s, emit)
	}
	return parseJSON(s, emit)
}

type entry struct {
	CVEID                      string          `json:"cveID"`
	VendorProject              string          `json:"vendorProject"`
	Product                    string          `json:"product"`
	VulnerabilityName          string          `json:"vulnerabilityName"`
	DateAdded                  string          `json:"dateAdded"`
	RequiredAction             string          `json:"requiredAction"`
	DueDate                    string          `json:"dueDate"`
	KnownRansomwareCampaignUse jsonstream.Text `json:"knownRansomwareCampaignUse"`
}

func (e *entry) toEntry() *importer.KEVEntry {
	return &importer.KEVEntry{
		CVE:                        strings.TrimSpace(e.CVEID),
		VendorProject:              e.VendorProject,
		Product:                    e.Product,
		Name:                       e.VulnerabilityName,
		DateAdded:                  jsonstream.ParseTime(e.DateAdded),
		DueDate:                    jsonstream.ParseTime(e.DueDate),
		KnownRansomwareCampaignUse: strings.EqualFold(strings.TrimSpace(string(e.KnownRansomwareCampaignUse)), "known"),
		RequiredAction:             e.RequiredAction,
	}
}

func parseJSON(s *jsonstream.Stream, emit Emit) (*importer.KEVCatalog, error) {
	cat := &importer.KEVCatalog{}
	var e entry
	err := s.Object(func(name string) error {
		switch name {
		case "title":
			v, err := s.String()
			cat.Title = v
			return err
		case "catalogVersion":
			v, err := s.String()
			cat.CatalogVersion = v
			return err
		case "dateReleased":
			v, err := s.String()
			cat.DateReleased = jsonstream.ParseTime(v)
			return err
		case "vulnerabilities":
			return s.Array(func() error {
				e = entry{}
				if err := s.Decode(&e); err != nil {
					return err
				}
				if strings.TrimSpace(e.CVEID) == "" {
					return s.Invalidf("entry %d has no cveID", cat.Count)
				}
				cat.Count++
				return emit(e.toEntry())
			})
		}
		return s.Skip()
	})
	if err == nil {
		err = s.End()
	}
	if err != nil {
		return nil, err
	}
	return cat, nil
}

func parseCSV(s *jsonstream.Stream, emit Emit) (*importer.KEVCatalog, error) {
	cr := csv.NewReader(s.Reader())
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	invalid := func(line int, off int64, format string, args ...any) error {
		return &patchctl.Error{Code: patchctl.CodeInvalid,
			Message: fmt.Sprintf("KEV catalog: line %d (offset %d): %s", line, off, fmt.Sprintf(format, args...))}
	}
	csvErr := func(err error, off int64) error {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return &patchctl.Error{Code: patchctl.CodeInvalid,
				Message: fmt.Sprintf("KEV catalog: invalid CSV at line %d, column %d (record starting at line %d, offset %d): %v", pe.Line, pe.Column, pe.StartLine, off, pe.Err), Err: err}
		}
		return s.Err(err)
	}
	header, err := cr.Read()
	if err != nil {
		return nil, csvErr(err, 0)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimPrefix(strings.TrimSpace(h), "\ufeff")] = i
	}
	if _, ok := col["cveID"]; !ok {
		return nil, invalid(1, 0, "no cveID column in header %q", strings.Join(header, ","))
	}
	field := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return rec[i]
		}
		return ""
	}
	cat := &importer.KEVCatalog{}
	for {
		off := cr.InputOffset()
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvErr(err, off)
		}
		if err := s.Tick(); err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		e := entry{
			CVEID:                      field(rec, "cveID"),
			VendorProject:              field(rec, "vendorProject"),
			Product:                    field(rec, "product"),
			VulnerabilityName:          field(rec, "vulnerabilityName"),
			DateAdded:                  field(rec, "dateAdded"),
			RequiredAction:             field(rec, "requiredAction"),
			DueDate:                    field(rec, "dueDate"),
			KnownRansomwareCampaignUse: jsonstream.Text(field(rec, "knownRansomwareCampaignUse")),
		}
		if strings.TrimSpace(e.CVEID) == "" {
			return nil, invalid(line, off, "entry has no cveID")
		}
		cat.Count++
		if err := emit(e.toEntry()); err != nil {
			return nil, err
		}
	}
	return cat, nil
}
