package helm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/jsonerr"
	"github.com/patchctl/patchctl/internal/textutil"
)

// MaxInputBytes bounds what the parsers accept. `helm status -o json`
// carries the rendered manifest and can reach a few megabytes; history,
// metadata and list outputs are far smaller.
const MaxInputBytes = 32 << 20

// decode reads helm output in JSON or YAML into v. Helm writes JSON with
// -o json (a document starting with { or [) and YAML with -o yaml.
func decode(data []byte, what string, v any) error {
	if len(data) > MaxInputBytes {
		return patchctl.Errorf(patchctl.CodeTooLarge, "%s is larger than %d bytes", what, MaxInputBytes)
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(bytes.TrimSpace(trimmed)) == 0 {
		return patchctl.Errorf(patchctl.CodeInvalid, "%s is empty", what)
	}
	if trimmed[0] == '{' || trimmed[0] == '[' {
		if err := json.Unmarshal(trimmed, v); err != nil {
			return jsonError(trimmed, len(data)-len(trimmed), what, err)
		}
		return nil
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		return &patchctl.Error{
			Code:    patchctl.CodeInvalid,
			Message: fmt.Sprintf("malformed %s YAML: %s", what, textutil.Clip(err.Error(), 300)),
		}
	}
	return nil
}

// jsonError names where JSON input is bad. skipped is the number of leading
// bytes removed before decoding, added back to offsets.
func jsonError(data []byte, skipped int, what string, err error) error {
	if pe, ok := jsonerr.Describe(data, skipped, what, err); ok {
		return pe
	}
	var fe *fieldError
	if errors.As(err, &fe) {
		return &patchctl.Error{Code: patchctl.CodeInvalid, Message: what + ": " + fe.msg}
	}
	return patchctl.Errorf(patchctl.CodeInvalid, "%s: %s", what, textutil.Clip(err.Error(), 300))
}

// fieldError is returned by the custom unmarshalers below; encoding/json
// passes it through unchanged.
type fieldError struct{ msg string }

func (e *fieldError) Error() string { return e.msg }

// text is a scalar read as the text it was written as. Hand-written YAML
// such as Chart.yaml has `appVersion: 1.10`, which a float would turn into
// 1.1; JSON writers may emit a number where Helm writes a string.
type text string

func (t *text) UnmarshalJSON(b []byte) error {
	switch {
	case string(b) == "null":
		*t = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = text(s)
	case len(b) > 0 && (b[0] == '-' || (b[0] >= '0' && b[0] <= '9')), string(b) == "true", string(b) == "false":
		*t = text(b)
	default:
		return &fieldError{fmt.Sprintf("expected a string, found %s", textutil.Clip(string(b), 40))}
	}
	return nil
}

func (t *text) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a scalar, found a %s", n.Line, kindName(n.Kind))
	}
	if n.Tag == "!!null" {
		*t = ""
		return nil
	}
	*t = text(n.Value)
	return nil
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "sequence"
	case yaml.DocumentNode:
		return "document"
	}
	return "node"
}

func (t text) String() string { return string(t) }

// textMap is a map of scalars (labels, annotations) read as text.
type textMap map[string]text

func (m textMap) strings() map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

// Time layouts Helm writes: RFC 3339 in JSON and YAML output (history,
// status, metadata), Go's time.String form in `helm list` (whose updated
// field is preformatted text), and time.ANSIC in the table output.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999 -0700 MST",
	"2006-01-02 15:04:05.999999999 -0700 -0700",
	time.ANSIC,
}

// ParseTime reads a timestamp in any format Helm prints and returns it in
// UTC. The empty string is the zero time (Helm prints "" for a release
// that was never deployed).
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	// time.String appends the monotonic clock reading (" m=+0.0001") to
	// times taken from time.Now; it is meaningless outside the process.
	if i := strings.Index(s, " m="); i > 0 {
		s = s[:i]
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time Helm prints (RFC 3339, Go time.String or ANSI C)", textutil.Clip(s, 60))
}
