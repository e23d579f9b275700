package tfplan

import (
	"encoding/json"
	"strconv"
)

// step is one element of a path into decoded JSON: a string key or an int
// index.
type step = any

// lookup walks v along path. It reports false when a step is missing or
// the value at that point has the wrong shape.
func lookup(v any, path ...step) (any, bool) {
	for _, s := range path {
		switch k := s.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[k]; !ok {
				return nil, false
			}
		case int:
			l, ok := v.([]any)
			if !ok || k < 0 || k >= len(l) {
				return nil, false
			}
			v = l[k]
		default:
			return nil, false
		}
	}
	return v, true
}

// unknownAt reports whether Terraform marked the value at path unknown in
// an after_unknown structure: true at the path or at any prefix of it.
func unknownAt(au any, path ...step) bool {
	v := au
	for i := 0; ; i++ {
		if b, ok := v.(bool); ok {
			return b
		}
		if i == len(path) {
			return false
		}
		var ok bool
		if v, ok = lookup(v, path[i]); !ok {
			return false
		}
	}
}

// str renders a scalar attribute value as text; null and missing are "".
func str(v any, ok bool) string {
	if !ok || v == nil {
		return ""
	}
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		return x.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// attr returns the text of the attribute at path in obj.
func attr(obj any, path ...step) string {
	return str(lookup(obj, path...))
}

// firstAttr returns the first non-empty of several top-level attributes.
func firstAttr(obj any, names ...string) string {
	for _, n := range names {
		if s := attr(obj, n); s != "" {
			return s
		}
	}
	return ""
}

// list returns the list at key, or nil.
func list(obj any, key string) []any {
	v, _ := lookup(obj, key)
	l, _ := v.([]any)
	return l
}
