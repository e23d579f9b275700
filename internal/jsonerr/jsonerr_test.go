package jsonerr

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDescribe(t *testing.T) {
	var v struct {
		Name  string `json:"name"`
		Items []int  `json:"items"`
	}
	doc := "{\n  \"name\": \"x\",\n  \"items\": {}\n}"
	err := json.Unmarshal([]byte(doc), &v)
	pe, ok := Describe([]byte(doc), 0, "test document", err)
	if !ok || pe.Field != "items" || !strings.Contains(pe.Message, "found a JSON object where a JSON array was expected, line 3") {
		t.Errorf("type error: %v %+v", ok, pe)
	}
	bad := "{\n  \"name\": \"x\",,\n}"
	err = json.Unmarshal([]byte(bad), &v)
	pe, ok = Describe([]byte(bad), 3, "test document", err)
	if !ok || !strings.Contains(pe.Message, "malformed test document JSON at line 2, column 15 (byte offset 20)") {
		t.Errorf("syntax error: %v %+v", ok, pe)
	}
	if _, ok := Describe(nil, 0, "x", json.Unmarshal([]byte(`"a"`), new(json.Number))); ok {
		t.Errorf("an error of another kind was described")
	}
}

func TestPosition(t *testing.T) {
	data := []byte("ab\ncd\nef")
	for _, tc := range []struct {
		off       int64
		line, col int
	}{{0, 1, 1}, {1, 1, 1}, {5, 2, 2}, {8, 3, 2}, {100, 3, 2}, {-4, 1, 1}} {
		if l, c := Position(data, tc.off); l != tc.line || c != tc.col {
			t.Errorf("Position(%d) = %d:%d, want %d:%d", tc.off, l, c, tc.line, tc.col)
		}
	}
}
