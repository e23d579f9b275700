package tfplan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/jsonerr"
	"github.com/patchctl/patchctl/internal/textutil"
)

// readAll reads r up to limit bytes.
func readAll(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, &patchctl.Error{Code: patchctl.CodeInvalid, Message: "reading terraform JSON failed", Err: err}
	}
	if int64(len(data)) > limit {
		return nil, patchctl.Errorf(patchctl.CodeTooLarge, "terraform JSON is larger than %d bytes", limit)
	}
	return data, nil
}

type docKind int

const (
	kindPlan docKind = iota
	kindState
)

func (k docKind) String() string {
	if k == kindState {
		return "state"
	}
	return "plan"
}

// present records whether a key occurs with a non-null value, without
// keeping the value.
type present bool

func (p *present) UnmarshalJSON(b []byte) error {
	*p = present(string(b) != "null")
	return nil
}

// head is the part of a document read before the full decode: enough to
// refuse the wrong kind of document or an unsupported format version with a
// clear message, and to report syntax errors with positions in the input.
type head struct {
	FormatVersion   json.RawMessage `json:"format_version"`
	PlannedValues   present         `json:"planned_values"`
	ResourceChanges present         `json:"resource_changes"`
	Values          present         `json:"values"`
}

// sniff checks syntax, document kind and format version.
func sniff(data []byte, want docKind) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return patchctl.Errorf(patchctl.CodeInvalid, "terraform %s JSON is empty", want)
	}
	var h head
	if err := json.Unmarshal(data, &h); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field == "" {
			return patchctl.Errorf(patchctl.CodeInvalid,
				"terraform %s must be a JSON object (the output of terraform show -json), found a JSON %s", want, te.Value)
		}
		return decodeError(data, want.String(), err)
	}
	switch {
	case want == kindPlan && bool(h.Values) && !bool(h.PlannedValues) && !bool(h.ResourceChanges):
		return patchctl.Errorf(patchctl.CodeInvalid,
			"this is terraform state (it has values but no planned_values or resource_changes): read it with ParseState")
	case want == kindState && (bool(h.PlannedValues) || bool(h.ResourceChanges)):
		return patchctl.Errorf(patchctl.CodeInvalid,
			"this is a terraform plan (it has planned_values or resource_changes): read it with Parse")
	}
	if len(h.FormatVersion) == 0 || string(h.FormatVersion) == "null" {
		return patchctl.FieldError("format_version",
			"missing: this is not the output of terraform show -json")
	}
	var v string
	if err := json.Unmarshal(h.FormatVersion, &v); err != nil {
		return patchctl.FieldError("format_version", "must be a string such as \"1.2\", found %s", textutil.Clip(string(h.FormatVersion), 40))
	}
	major, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(major)
	if err != nil || n < 0 {
		return patchctl.FieldError("format_version", "%q is not a version number", textutil.Clip(v, 40))
	}
	if n > 1 {
		return patchctl.FieldError("format_version",
			"unsupported %s format version %q: patchctl reads format versions 0.x and 1.x (terraform-json accepts >= 0.1, < 2.0); upgrade patchctl to read plans of this Terraform",
			want, textutil.Clip(v, 40))
	}
	return nil
}

// decodeError turns a decoding error into a *patchctl.Error naming where
// the input is bad. The decoder's own description goes into Message: it
// describes the input, not the server.
func decodeError(data []byte, what string, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line, col := jsonerr.Position(data, se.Offset)
		return &patchctl.Error{
			Code: patchctl.CodeInvalid,
			Message: fmt.Sprintf("malformed terraform %s JSON at line %d, column %d (byte offset %d): %s",
				what, line, col, se.Offset, se.Error()),
		}
	case errors.As(err, &te):
		// Offsets of type errors raised inside terraform-json's own
		// UnmarshalJSON methods are relative to the nested value, so the
		// JSON path is what identifies the place.
		field := te.Field
		if field == "" {
			field = "(document)"
		}
		return &patchctl.Error{
			Code:    patchctl.CodeInvalid,
			Field:   field,
			Message: fmt.Sprintf("terraform %s: found a JSON %s where a JSON %s was expected", what, te.Value, jsonerr.Kind(te.Type)),
		}
	case errors.Is(err, io.ErrUnexpectedEOF):
		line, col := jsonerr.Position(data, int64(len(data)))
		return &patchctl.Error{
			Code:    patchctl.CodeInvalid,
			Message: fmt.Sprintf("terraform %s JSON is truncated at line %d, column %d (byte offset %d)", what, line, col, len(data)),
		}
	}
	// terraform-json's own messages (format version, cty types) describe
	// the input, not the server, so they are safe to show.
	return &patchctl.Error{
		Code:    patchctl.CodeInvalid,
		Message: fmt.Sprintf("terraform %s rejected: %s", what, textutil.Clip(err.Error(), 300)),
	}
}
