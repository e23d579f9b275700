// Package formats is the single entry point to the importer's parsers: the
// registry of scanner parsers (Parser, including an auto-detecting one for
// importer.FormatAuto), format detection from the first bytes of an input
// (Detect, Sniff), and the enrichment feeds (ParseKEV, ParseEPSS,
// ParseOSVRecord), so that callers import only this package.
//
// Detection looks at the top-level keys of a JSON object (and a few of
// their values: bomFormat, $schema, version), at the header line of a CSV
// file, and at magic numbers; gzip-compressed input is recognised by its
// content, and every parser decompresses it. When the input is not a known
// format the error says what it looks like instead ("a JSON Schema
// document", "an SPDX JSON SBOM", "an unrecognised JSON object with
// top-level keys ...").
package formats

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/importer"
	"github.com/patchctl/patchctl/internal/importer/cyclonedx"
	"github.com/patchctl/patchctl/internal/importer/epss"
	"github.com/patchctl/patchctl/internal/importer/grype"
	"github.com/patchctl/patchctl/internal/importer/internal/jsonstream"
	"github.com/patchctl/patchctl/internal/importer/internal/sniff"
	"github.com/patchctl/patchctl/internal/importer/kev"
	"github.com/patchctl/patchctl/internal/importer/osv"
	"github.com/patchctl/patchctl/internal/importer/sarif"
	"github.com/patchctl/patchctl/internal/importer/trivy"
	"github.com/patchctl/patchctl/internal/textutil"
)

// HeadSize is how many leading bytes detection looks at.
const HeadSize = jsonstream.HeadSize

// Detection says what the head of an input looks like: the recognised
// format ("" when none), a description for messages, and the top-level keys
// of a JSON object.
type Detection = sniff.Detection

var parsers = map[importer.Format]importer.Parser{
	importer.FormatTrivy:     trivy.New(),
	importer.FormatGrype:     grype.New(),
	importer.FormatOSV:       osv.New(),
	importer.FormatSARIF:     sarif.New(),
	importer.FormatCycloneDX: cyclonedx.New(),
}

// feeds are the formats that are not scanner reports, with the function
// that reads them.
var feeds = map[importer.Format]string{
	importer.FormatKEV:       "ParseKEV",
	importer.FormatEPSS:      "ParseEPSS",
	importer.FormatOSVRecord: "ParseOSVRecord",
}

// Formats lists every format: the scanner formats (importer.ScannerFormats)
// and then the feeds KEV, EPSS and OSV advisory.
func Formats() []importer.Format {
	return append(slices.Clone(importer.ScannerFormats), importer.FormatKEV, importer.FormatEPSS, importer.FormatOSVRecord)
}

// Describe returns the human name of a format ("a Trivy JSON report").
func Describe(f importer.Format) string {
	if d, ok := sniff.Names[f]; ok {
		return d
	}
	if f == importer.FormatAuto {
		return "any scanner report (detected)"
	}
	return string(f)
}

// aliases are the other spellings ParseFormat accepts.
var aliases = map[string]importer.Format{
	"osv-scanner":  importer.FormatOSV,
	"cdx":          importer.FormatCycloneDX,
	"vex":          importer.FormatCycloneDX,
	"sbom":         importer.FormatCycloneDX,
	"osv-advisory": importer.FormatOSVRecord,
	"":             importer.FormatAuto,
}

// ParseFormat reads a format name as a user types it (case-insensitive;
// "osv-scanner", "cdx" and "osv-advisory" are accepted as aliases).
func ParseFormat(name string) (importer.Format, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if f, ok := aliases[n]; ok {
		return f, nil
	}
	f := importer.Format(n)
	if f == importer.FormatAuto || slices.Contains(Formats(), f) {
		return f, nil
	}
	return "", &patchctl.Error{Code: patchctl.CodeInvalid, Field: "format",
		Message: fmt.Sprintf("unknown format %q (known: auto, %s)", textutil.Clip(name, 40), joinFormats(Formats()))}
}

func joinFormats(fs []importer.Format) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = string(f)
	}
	return strings.Join(s, ", ")
}

// Parser returns the parser of a scanner format. importer.FormatAuto gives
// a parser that detects the format from the head of its input. The feeds
// (kev, epss, osv-record) have their own functions and are refused here.
func Parser(f importer.Format) (importer.Parser, error) {
	if f == importer.FormatAuto {
		return Auto{}, nil
	}
	if p, ok := parsers[f]; ok {
		return p, nil
	}
	if fn, ok := feeds[f]; ok {
		return nil, &patchctl.Error{Code: patchctl.CodeInvalid, Field: "format",
			Message: fmt.Sprintf("%s is a feed, not a scanner report: read it with formats.%s", f, fn)}
	}
	return nil, &patchctl.Error{Code: patchctl.CodeInvalid, Field: "format",
		Message: fmt.Sprintf("unknown scanner format %q (known: auto, %s)", textutil.Clip(string(f), 40), joinFormats(importer.ScannerFormats))}
}

// Sniff says what the head of an input (its first HeadSize bytes, or all of
// it when shorter) looks like.
func Sniff(head []byte) Detection { return sniff.Detect(head) }

// Detect returns the format of an input from its head, or an invalid error
// saying what the input looks like instead.
func Detect(head []byte) (importer.Format, error) {
	d := sniff.Detect(head)
	if d.Format == "" {
		return "", &patchctl.Error{Code: patchctl.CodeInvalid, Message: "unrecognised input: " + d.What}
	}
	return d.Format, nil
}

// Auto is the parser for importer.FormatAuto: it reads the head of its
// input, detects the scanner format and hands the whole input to that
// format's parser. A seekable input is rewound after the head is read, so
// that the chosen parser can still take a second pass.
type Auto struct{}

// Format implements importer.Parser.
func (Auto) Format() importer.Format { return importer.FormatAuto }

// Parse implements importer.Parser. The Meta's Format is the detected
// format.
func (Auto) Parse(ctx context.Context, r io.Reader, emit importer.Emit) (*importer.Meta, error) {
	var start int64 = -1
	seeker, seekable := r.(io.ReadSeeker)
	if seekable {
		pos, err := seeker.Seek(0, io.SeekCurrent)
		if err != nil {
			seekable = false
		}
		start = pos
	}
	head := make([]byte, HeadSize)
	n, err := io.ReadFull(r, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, fmt.Errorf("report: reading input: %w", err)
	}
	head = head[:n]
	d := sniff.Detect(head)
	p, ok := parsers[d.Format]
	if !ok {
		msg := "not a scanner report: input is " + d.What
		if _, feed := feeds[d.Format]; feed {
			msg = fmt.Sprintf("not a scanner report: input is %s, a feed: read it with formats.%s", d.What, feeds[d.Format])
		}
		return nil, &patchctl.Error{Code: patchctl.CodeInvalid, Message: msg}
	}
	if seekable {
		if _, err := seeker.Seek(start, io.SeekStart); err == nil {
			return p.Parse(ctx, r, emit)
		}
	}
	return p.Parse(ctx, io.MultiReader(bytes.NewReader(head), r), emit)
}

// ParseKEV reads a CISA KEV catalog (JSON or CSV).
func ParseKEV(ctx context.Context, r io.Reader, emit func(*importer.KEVEntry) error) (*importer.KEVCatalog, error) {
	return kev.Parse(ctx, r, emit)
}

// ParseEPSS reads a FIRST EPSS scores CSV file.
func ParseEPSS(ctx context.Context, r io.Reader, emit func(*importer.EPSSScore) error) (*importer.EPSSMeta, error) {
	return epss.Parse(ctx, r, emit)
}

// ParseOSVRecord reads a single OSV advisory.
func ParseOSVRecord(ctx context.Context, r io.Reader) (*importer.OSVRecord, error) {
	return osv.ParseRecord(ctx, r)
}
