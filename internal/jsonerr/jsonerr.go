// Package jsonerr turns encoding/json errors into messages that say where
// the input is bad: line, column and byte offset, and which field held a
// value of the wrong JSON type.
package jsonerr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/patchctl/patchctl"
)

// Describe turns a syntax or type error from decoding data into a
// *patchctl.Error naming the place; ok is false for any other error, which
// the caller describes. what names the document ("Helm release history");
// skipped is the number of leading bytes removed before decoding, added
// back to offsets.
func Describe(data []byte, skipped int, what string, err error) (_ *patchctl.Error, ok bool) {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line, col := Position(data, se.Offset)
		return &patchctl.Error{Code: patchctl.CodeInvalid, Message: fmt.Sprintf("malformed %s JSON at line %d, column %d (byte offset %d): %s",
			what, line, col, se.Offset+int64(skipped), se.Error())}, true
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "(document)"
		}
		line, col := Position(data, te.Offset)
		return &patchctl.Error{Code: patchctl.CodeInvalid, Field: field,
			Message: fmt.Sprintf("%s: found a JSON %s where a JSON %s was expected, line %d, column %d (byte offset %d)",
				what, te.Value, Kind(te.Type), line, col, te.Offset+int64(skipped))}, true
	}
	return nil, false
}

// Kind names the JSON type a Go type decodes from: object, array, string,
// number, boolean, or value.
func Kind(t reflect.Type) string {
	if t == nil {
		return "value"
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Pointer:
		return Kind(t.Elem())
	}
	return "value"
}

// Position returns the 1-based line and column of the byte before offset
// (encoding/json reports the offset just past the offending byte).
func Position(data []byte, offset int64) (line, col int) {
	off := int(min(max(offset, 0), int64(len(data))))
	if off > 0 {
		off--
	}
	prefix := data[:off]
	line = 1 + bytes.Count(prefix, []byte{'\n'})
	col = off - bytes.LastIndexByte(prefix, '\n')
	return line, col
}
