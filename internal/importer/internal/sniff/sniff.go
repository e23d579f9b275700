// Package sniff recognises a report format from the first bytes of the
// input: the top-level keys of a JSON object (and a few of their values), the
// header line of a CSV file, or a magic number. It is the detection behind
// formats.Detect and the check every parser makes that it was given the
// format it reads.
package sniff

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/patchctl/patchctl/internal/importer"
	"github.com/patchctl/patchctl/internal/textutil"
)

// Detection says what the head of an input looks like.
type Detection struct {
	// Format is the recognised format, or "" when none was recognised.
	Format importer.Format
	// What describes the input for messages: "a Trivy JSON report",
	// "a JSON Schema document", "an SPDX JSON SBOM (not supported)".
	What string
	// Complete is set when the head held the whole list of top-level keys,
	// so that an unrecognised object is certainly not a known format.
	Complete bool
	// Keys are the top-level keys of a JSON object, in order (at most 32).
	Keys []string
	// CSV is set for CSV input (KEV or EPSS CSV).
	CSV bool
	// Gzip is set when the head was gzip-compressed; the other fields
	// describe the decompressed content.
	Gzip bool
}

// Names describes each format for messages.
var Names = map[importer.Format]string{
	importer.FormatTrivy:     "a Trivy JSON report",
	importer.FormatGrype:     "a Grype JSON report",
	importer.FormatOSV:       "an OSV-Scanner JSON report",
	importer.FormatSARIF:     "a SARIF log",
	importer.FormatCycloneDX: "a CycloneDX JSON document",
	importer.FormatKEV:       "a CISA KEV catalog",
	importer.FormatEPSS:      "a FIRST EPSS CSV file",
	importer.FormatOSVRecord: "an OSV advisory",
}

const maxKeys = 32

// Detect inspects head, the first bytes of an input (any length; 64 KiB is
// plenty), and says what it is.
func Detect(head []byte) Detection {
	if len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b {
		inner := gunzipHead(head)
		d := Detect(inner)
		d.Gzip = true
		if d.Format == "" {
			d.What = "gzip-compressed data containing " + d.What
		} else {
			d.What = "gzip-compressed " + d.What
		}
		return d
	}
	b := bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")) // UTF-8 byte order mark
	b = bytes.TrimLeft(b, " \t\r\n")
	switch {
	case len(b) == 0:
		return Detection{What: "empty input", Complete: true}
	case b[0] == '{':
		return detectObject(b)
	case b[0] == '[':
		return Detection{What: "a JSON array (reports are JSON objects)", Complete: true}
	case b[0] == '<':
		lower := bytes.ToLower(b[:min(len(b), 4096)])
		if bytes.Contains(lower, []byte("cyclonedx")) {
			return Detection{What: "a CycloneDX XML document (only JSON is supported)", Complete: true}
		}
		return Detection{What: "an XML or HTML document", Complete: true}
	}
	return detectText(b)
}

// gunzipHead decompresses as much of a gzip prefix as possible.
func gunzipHead(head []byte) []byte {
	zr, err := gzip.NewReader(bytes.NewReader(head))
	if err != nil {
		return nil
	}
	out, _ := io.ReadAll(io.LimitReader(zr, 1<<20))
	return out
}

func detectText(b []byte) Detection {
	line := b
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimRight(line, "\r")
	l := strings.ToLower(string(line))
	switch {
	case strings.HasPrefix(l, "#model_version") || strings.HasPrefix(l, "cve,epss"):
		return Detection{Format: importer.FormatEPSS, What: Names[importer.FormatEPSS], Complete: true, CSV: true}
	case strings.HasPrefix(l, "cveid,vendorproject"):
		return Detection{Format: importer.FormatKEV, What: "a CISA KEV catalog (CSV)", Complete: true, CSV: true}
	case strings.HasPrefix(l, "%pdf"):
		return Detection{What: "a PDF document", Complete: true}
	case strings.HasPrefix(l, "pk\x03\x04"):
		return Detection{What: "a ZIP archive", Complete: true}
	case strings.HasPrefix(l, "---") || strings.HasPrefix(l, "apiversion:") || strings.HasPrefix(l, "kind:"):
		return Detection{What: "a YAML document", Complete: true}
	case strings.Contains(l, ",") && !strings.ContainsAny(l, "{}"):
		return Detection{What: fmt.Sprintf("a CSV file with header %q", textutil.Clip(string(line), 80)), Complete: true, CSV: true}
	}
	return Detection{What: fmt.Sprintf("neither JSON nor CSV (starts with %q)", textutil.Clip(string(line), 40)), Complete: true}
}

// object is what detectObject learns from the top-level members.
type object struct {
	keys     []string
	values   map[string]string // string values of interesting keys
	complete bool
}

// interesting are the keys whose string values detection looks at.
var interesting = []string{"bomFormat", "$schema", "version", "title", "spdxVersion", "id"}

func readObject(b []byte) object {
	o := object{values: map[string]string{}}
	dec := jsontext.NewDecoder(bytes.NewReader(b), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	if _, err := dec.ReadToken(); err != nil { // '{'
		return o
	}
	for {
		tok, err := dec.ReadToken()
		if err != nil {
			return o
		}
		if tok.Kind() == '}' {
			o.complete = true
			return o
		}
		name := tok.String()
		if len(o.keys) < maxKeys {
			o.keys = append(o.keys, name)
		}
		if slices.Contains(interesting, name) && dec.PeekKind() == '"' {
			v, err := dec.ReadToken()
			if err != nil {
				return o
			}
			o.values[name] = v.String()
			continue
		}
		if err := dec.SkipValue(); err != nil {
			return o
		}
	}
}

func (o object) has(keys ...string) bool {
	for _, k := range keys {
		if slices.Contains(o.keys, k) {
			return true
		}
	}
	return false
}

func detectObject(b []byte) Detection {
	o := readObject(b)
	d := Detection{Keys: o.keys, Complete: o.complete}
	found := func(f importer.Format) Detection {
		d.Format = f
		d.What = Names[f]
		return d
	}
	schema := strings.ToLower(o.values["$schema"])
	switch {
	case strings.EqualFold(o.values["bomFormat"], "CycloneDX"),
		!o.has("bomFormat") && o.has("specVersion") && o.has("components", "vulnerabilities", "dependencies"):
		return found(importer.FormatCycloneDX)
	case o.has("runs") && (strings.Contains(schema, "sarif") || strings.HasPrefix(o.values["version"], "2.") || !o.has("$schema")):
		return found(importer.FormatSARIF)
	case o.has("matches", "ignoredMatches"):
		return found(importer.FormatGrype)
	case o.has("SchemaVersion", "ArtifactName", "Results"),
		o.has("ClusterName") && o.has("Resources", "Findings", "Vulnerabilities", "Misconfigurations"):
		return found(importer.FormatTrivy)
	case o.has("catalogVersion"), o.has("dateReleased") && o.has("vulnerabilities"):
		return found(importer.FormatKEV)
	case o.has("spdxVersion"):
		d.What = "an SPDX JSON SBOM (not supported; use CycloneDX)"
		return d
	case strings.Contains(schema, "json-schema.org"):
		d.What = "a JSON Schema document"
		if t := o.values["title"]; t != "" {
			d.What += fmt.Sprintf(" (%q), not data", textutil.Clip(t, 80))
		}
		return d
	case o.has("results") && !o.has("id"):
		return found(importer.FormatOSV)
	case o.has("id") && o.has("affected", "aliases", "schema_version", "modified", "withdrawn"):
		return found(importer.FormatOSVRecord)
	}
	switch {
	case len(o.keys) == 0 && o.complete:
		d.What = "an empty JSON object"
	case len(o.keys) == 0:
		d.What = "a JSON object that could not be read"
	default:
		d.What = "an unrecognised JSON object with top-level keys " + keyList(o.keys)
	}
	return d
}

func keyList(keys []string) string {
	var sb strings.Builder
	for i, k := range keys {
		if i > 0 {
			sb.WriteString(", ")
		}
		if i == 10 {
			fmt.Fprintf(&sb, "and %d more", len(keys)-i)
			break
		}
		sb.WriteString(textutil.Clip(k, 40))
	}
	return sb.String()
}

// Check returns nil when head plausibly holds want, and otherwise a message
// naming what the head holds instead. An unrecognised JSON object whose keys
// were not all in the head is given the benefit of the doubt.
func Check(head []byte, want importer.Format) (Detection, string) {
	d := Detect(head)
	switch {
	case d.Format == want:
		return d, ""
	case d.Format != "":
		return d, fmt.Sprintf("input is %s, not %s", d.What, Names[want])
	case !d.Complete && len(d.Keys) > 0:
		return d, ""
	}
	return d, fmt.Sprintf("not %s: input is %s", Names[want], d.What)
}
