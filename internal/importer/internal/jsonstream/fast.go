package jsonstream

import (
	"bytes"
	"io"
	"reflect"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/patchctl/patchctl/internal/importer"
)

// The functions below decode hot objects (one vulnerability of a report)
// by hand: a switch on each member name instead of json.UnmarshalDecode's
// reflection and name lookups, which cost about as much as tokenising. They
// report kind mismatches as *json.SemanticError, which Err turns into
// positioned messages like any decoder error.

var (
	stringType = reflect.TypeFor[string]()
	objectType = reflect.TypeFor[struct{}]()
	arrayType  = reflect.TypeFor[[]any]()
)

// mismatch reports the next value's kind as wrong for want.
func mismatch(dec *jsontext.Decoder, want reflect.Type) error {
	k := dec.PeekKind()
	if k == 0 {
		_, err := dec.ReadToken() // the syntax error or EOF
		return err
	}
	return &json.SemanticError{
		ByteOffset:  dec.InputOffset() + leadingSpace(dec.UnreadBuffer()),
		JSONPointer: nextPointer(dec),
		JSONKind:    k,
		GoType:      want,
	}
}

// nextPointer is the JSON pointer of the value about to be read.
// StackPointer names the last value read: after a member name that is the
// member; in an array it is the previous element (or the array itself).
func nextPointer(dec *jsontext.Decoder) jsontext.Pointer {
	ptr := string(dec.StackPointer())
	if k, n := dec.StackIndex(dec.StackDepth()); k == '[' {
		if n > 0 {
			ptr = ptr[:strings.LastIndexByte(ptr, '/')]
		}
		ptr += "/" + strconv.FormatInt(n, 10)
	}
	return jsontext.Pointer(ptr)
}

// BeginObject reads the '{' of an object. It returns false, having read a
// null, when the value is null.
func BeginObject(dec *jsontext.Decoder) (bool, error) {
	switch dec.PeekKind() {
	case '{':
		_, err := dec.ReadToken()
		return err == nil, err
	case 'n':
		_, err := dec.ReadToken()
		return false, err
	}
	return false, mismatch(dec, objectType)
}

// BeginArray reads the '[' of an array. It returns false, having read a
// null, when the value is null.
func BeginArray(dec *jsontext.Decoder) (bool, error) {
	switch dec.PeekKind() {
	case '[':
		_, err := dec.ReadToken()
		return err == nil, err
	case 'n':
		_, err := dec.ReadToken()
		return false, err
	}
	return false, mismatch(dec, arrayType)
}

// More reports whether the object or array being read has another member
// or element; at the end it reads the closing '}' or ']'.
func More(dec *jsontext.Decoder) (bool, error) {
	switch dec.PeekKind() {
	case '}', ']':
		_, err := dec.ReadToken()
		return false, err
	case 0:
		_, err := dec.ReadToken()
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return false, err
	}
	return true, nil
}

// Name reads an object member name. The result is only valid until the
// next read; use it in a switch, which does not allocate.
func Name(dec *jsontext.Decoder, scratch *[]byte) ([]byte, error) {
	v, err := dec.ReadValue()
	if err != nil {
		return nil, err
	}
	raw := []byte(v)
	if len(raw) < 2 {
		return raw, nil
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner, nil
	}
	out, err := jsontext.AppendUnquote((*scratch)[:0], raw)
	*scratch = out
	return out, err
}

// ReadString reads a string; null reads as "", numbers and booleans as
// their JSON text. An object or array is an error.
func ReadString(dec *jsontext.Decoder) (string, error) {
	switch dec.PeekKind() {
	case '{', '[':
		return "", mismatch(dec, stringType)
	}
	tok, err := dec.ReadToken()
	if err != nil {
		return "", err
	}
	if tok.Kind() == 'n' {
		return "", nil
	}
	return tok.String(), nil
}

// ReadInterned reads a string like ReadString, returning one of known
// without allocating when the value is one of them (severity spellings).
func ReadInterned(dec *jsontext.Decoder, known []string) (string, error) {
	if dec.PeekKind() != '"' {
		return ReadString(dec)
	}
	v, err := dec.ReadValue()
	if err != nil {
		return "", err
	}
	if len(v) >= 2 {
		inner := v[1 : len(v)-1]
		for _, k := range known {
			if string(inner) == k {
				return k, nil
			}
		}
	}
	out, err := jsontext.AppendUnquote(nil, v)
	return string(out), err
}

// Fields reads an object, calling fn with each member name (valid until
// the next read); fn must consume the member's value. A null is an empty
// object.
func Fields(dec *jsontext.Decoder, scratch *[]byte, fn func(name []byte) error) error {
	ok, err := BeginObject(dec)
	if !ok || err != nil {
		return err
	}
	for {
		more, err := More(dec)
		if !more || err != nil {
			return err
		}
		name, err := Name(dec, scratch)
		if err != nil {
			return err
		}
		if err := fn(name); err != nil {
			return err
		}
	}
}

// Elements reads an array, calling fn before each element; fn must consume
// it. A null is an empty array.
func Elements(dec *jsontext.Decoder, fn func() error) error {
	ok, err := BeginArray(dec)
	if !ok || err != nil {
		return err
	}
	for {
		more, err := More(dec)
		if !more || err != nil {
			return err
		}
		if err := fn(); err != nil {
			return err
		}
	}
}

// HoldBudget bounds the memory (estimated) a parser spends holding records
// while it waits for context that comes later in the report (Grype's
// source, SARIF's rules and run properties). Within it, a parser reads the
// input once; beyond it, a seekable input is read again in a second pass
// instead, and a pipe keeps holding (there is no other way). It is a
// variable so that tests can lower it.
var HoldBudget = 64 << 20

// RecordSize estimates the memory a record holds.
func RecordSize(r *importer.Record) int {
	n := 320 // the struct and its headers
	n += len(r.VulnID) + len(r.Package) + len(r.Ecosystem) + len(r.PURL) + len(r.InstalledVersion) +
		len(r.FixedVersion) + len(r.Location) + len(r.SeverityRaw) + len(r.CVSSVector) + len(r.Title) +
		len(r.URL) + len(r.VEXState) + len(r.Justification) + len(r.Asset.Name) + len(r.Asset.Digest)
	for _, a := range r.Aliases {
		n += 16 + len(a)
	}
	return n
}
