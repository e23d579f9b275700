// Package epss parses the FIRST EPSS scores CSV
// (https://epss.cyentia.com/epss_scores-current.csv.gz, usually
// gzip-compressed, which the parser handles) into an importer.EPSSMeta and a
// stream of importer.EPSSScore.
//
// The file starts with a comment line
// "#model_version:v2025.03.14,score_date:2026-11-25T12:55:00Z", then the
// header "cve,epss,percentile", then one row per CVE. The comment line is
// optional (early files lack it), as is the percentile column; columns are
// found by their header names. Scores and percentiles must be numbers
// between 0 and 1; a bad row is an invalid error naming its line and byte
// offset. EPSSMeta.Count is the number of rows.
package epss

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/importer"
	"github.com/patchctl/patchctl/internal/importer/internal/jsonstream"
	"github.com/patchctl/patchctl/internal/textutil"
)

// Emit receives each score; the score is owned by the callee. Returning an
// error stops the parse with that error.
type Emit func(*importer.EPSSScore) error

// maxLine bounds a line; EPSS lines are about 30 bytes.
const maxLine = 64 << 10

// Parse reads an EPSS CSV file (gzip-compressed or not).
func Parse(ctx context.Context, r io.Reader, emit Emit) (*importer.EPSSMeta, error) {
	s, _, err := jsonstream.OpenFormat(ctx, r, "EPSS file", importer.FormatEPSS)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	p := &parser{s: s, sc: bufio.NewScanner(s.Reader()), meta: &importer.EPSSMeta{}}
	p.sc.Buffer(make([]byte, 0, 4096), maxLine)
	p.sc.Split(splitLines)
	if err := p.run(emit); err != nil {
		return nil, err
	}
	return p.meta, nil
}

type parser struct {
	s    *jsonstream.Stream
	sc   *bufio.Scanner
	meta *importer.EPSSMeta
	line int
	off  int64 // offset of the current line
	next int64 // offset of the next line
}

func (p *parser) invalid(format string, args ...any) error {
	return &patchctl.Error{Code: patchctl.CodeInvalid,
		Message: fmt.Sprintf("EPSS file: line %d (offset %d): %s", p.line, p.off, fmt.Sprintf(format, args...))}
}

// scan reads the next line, without its line ending.
func (p *parser) scan() ([]byte, bool) {
	if !p.sc.Scan() {
		return nil, false
	}
	b := p.sc.Bytes()
	p.line++
	p.off = p.next
	p.next += int64(len(b)) + 1
	return bytes.TrimRight(b, "\r"), true
}

func (p *parser) scanErr() error {
	if err := p.sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			p.line++
			p.off = p.next
			return p.invalid("line longer than %d bytes", maxLine)
		}
		return p.s.Err(err)
	}
	return nil
}

func (p *parser) run(emit Emit) error {
	line, ok := p.scan()
	if !ok {
		if err := p.scanErr(); err != nil {
			return err
		}
		return p.invalid("empty file")
	}
	line = bytes.TrimPrefix(line, []byte("\ufeff"))
	if bytes.HasPrefix(line, []byte("#")) {
		if err := p.comment(string(line[1:])); err != nil {
			return err
		}
		if line, ok = p.scan(); !ok {
			if err := p.scanErr(); err != nil {
				return err
			}
			return p.invalid("no header after the comment line")
		}
	}
	cveCol, epssCol, pctCol := -1, -1, -1
	for i, h := range strings.Split(string(line), ",") {
		switch strings.ToLower(strings.TrimSpace(h)) {
		case "cve":
			cveCol = i
		case "epss":
			epssCol = i
		case "percentile":
			pctCol = i
		}
	}
	if cveCol < 0 || epssCol < 0 {
		return p.invalid("header %q lacks the cve and epss columns", textutil.Clip(string(line), 60))
	}
	var fields [8][]byte
	for {
		line, ok := p.scan()
		if !ok {
			return p.scanErr()
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := p.s.Tick(); err != nil {
			return err
		}
		f := split(line, fields[:0])
		if cveCol >= len(f) || epssCol >= len(f) || (pctCol >= 0 && pctCol >= len(f)) {
			return p.invalid("%d columns, the header has more", len(f))
		}
		sc := &importer.EPSSScore{CVE: string(unquote(f[cveCol]))}
		if sc.CVE == "" {
			return p.invalid("empty cve")
		}
		var err error
		if sc.EPSS, err = probability(f[epssCol]); err != nil {
			return p.invalid("epss %q: %v", textutil.Clip(string(f[epssCol]), 60), err)
		}
		if pctCol >= 0 {
			if sc.Percentile, err = probability(f[pctCol]); err != nil {
				return p.invalid("percentile %q: %v", textutil.Clip(string(f[pctCol]), 60), err)
			}
		}
		p.meta.Count++
		if err := emit(sc); err != nil {
			return err
		}
	}
}

// comment reads "model_version:v2025.03.14,score_date:2026-11-25T00:00:00+0000".
func (p *parser) comment(text string) error {
	for _, kv := range strings.Split(text, ",") {
		k, v, _ := strings.Cut(kv, ":")
		switch strings.TrimSpace(k) {
		case "model_version":
			p.meta.ModelVersion = strings.TrimSpace(v)
		case "score_date":
			p.meta.ScoreDate = jsonstream.ParseTime(v)
			if p.meta.ScoreDate.IsZero() {
				return p.invalid("score_date %q is not a date", textutil.Clip(v, 60))
			}
		}
	}
	return nil
}

// splitLines splits at "\n" only, keeping a "\r" in the line (trimmed by
// scan), so that byte offsets stay exact.
func splitLines(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

func split(line []byte, out [][]byte) [][]byte {
	for {
		i := bytes.IndexByte(line, ',')
		if i < 0 {
			return append(out, bytes.TrimSpace(line))
		}
		out = append(out, bytes.TrimSpace(line[:i]))
		line = line[i+1:]
	}
}

func unquote(b []byte) []byte {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		return b[1 : len(b)-1]
	}
	return b
}

func probability(b []byte) (float64, error) {
	f, err := strconv.ParseFloat(string(unquote(b)), 64)
	if err != nil {
		return 0, fmt.Errorf("not a number")
	}
	if f < 0 || f > 1 || f != f {
		return 0, fmt.Errorf("not between 0 and 1")
	}
	return f, nil
}
