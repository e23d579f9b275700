package jsonstream

import (
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

// Text is a string field that tolerates the other scalar kinds scanners
// sometimes write in its place: numbers and booleans read as their JSON
// text, null as "", and objects or arrays are skipped and read as "".
type Text string

// UnmarshalJSONFrom implements json.UnmarshalerFrom.
func (t *Text) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	switch dec.PeekKind() {
	case '{', '[':
		*t = ""
		return dec.SkipValue()
	}
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	if tok.Kind() == 'n' {
		*t = ""
		return nil
	}
	*t = Text(tok.String())
	return nil
}

// Number is a numeric field that also accepts a numeric string ("7.5", as
// SARIF's security-severity is usually written). Valid is false for null,
// non-numeric strings and other kinds, which are skipped.
type Number struct {
	Value float64
	Valid bool
}

// UnmarshalJSONFrom implements json.UnmarshalerFrom.
func (n *Number) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	*n = Number{}
	switch dec.PeekKind() {
	case '{', '[':
		return dec.SkipValue()
	}
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	switch tok.Kind() {
	case '0':
		n.Value, n.Valid = tok.Float(), true
	case '"':
		if f, err := strconv.ParseFloat(strings.TrimSpace(tok.String()), 64); err == nil {
			n.Value, n.Valid = f, true
		}
	}
	return nil
}

// Present records whether a field holds something: true, a non-empty
// string, a number, a non-empty array or an object. Grype writes
// knownExploited as an array of KEV entries; older tools wrote a boolean.
type Present bool

// UnmarshalJSONFrom implements json.UnmarshalerFrom.
func (p *Present) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	switch dec.PeekKind() {
	case '[':
		if _, err := dec.ReadToken(); err != nil {
			return err
		}
		n := 0
		for dec.PeekKind() != ']' {
			if err := dec.SkipValue(); err != nil {
				return err
			}
			n++
		}
		if _, err := dec.ReadToken(); err != nil {
			return err
		}
		*p = n > 0
		return nil
	case '{':
		*p = true
		return dec.SkipValue()
	}
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	switch tok.Kind() {
	case 't', '0':
		*p = true
	case '"':
		*p = tok.String() != ""
	default:
		*p = false
	}
	return nil
}

// timeLayouts are the timestamp spellings seen in scanner output.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05",
	"2006-01-02",
}

// ParseTime parses the timestamp spellings scanners write and returns the
// zero time for anything else (including ""). Results are in UTC.
func ParseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			if t.Year() <= 1 {
				return time.Time{}
			}
			return t.UTC()
		}
	}
	return time.Time{}
}

// First keeps the first string of an array of strings (or a lone string)
// and skips the rest without allocating them.
type First string

// UnmarshalJSONFrom implements json.UnmarshalerFrom.
func (f *First) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	*f = ""
	if dec.PeekKind() != '[' {
		var t Text
		err := t.UnmarshalJSONFrom(dec)
		*f = First(t)
		return err
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	for first := true; dec.PeekKind() != ']'; first = false {
		if first && dec.PeekKind() == '"' {
			tok, err := dec.ReadToken()
			if err != nil {
				return err
			}
			*f = First(tok.String())
			continue
		}
		if err := dec.SkipValue(); err != nil {
			return err
		}
	}
	_, err := dec.ReadToken()
	return err
}
