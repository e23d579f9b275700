package jsonstream

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/patchctl/patchctl"
)

func TestLineReader(t *testing.T) {
	text := "a\nbb\n\nccc\nd"
	l := &lineReader{r: iotest.OneByteReader(strings.NewReader(text))}
	if _, err := io.ReadAll(l); err != nil {
		t.Fatal(err)
	}
	wantLine := func(off int64) int {
		return strings.Count(text[:off], "\n") + 1
	}
	for off := int64(0); off <= int64(len(text)); off++ {
		if got, ok := l.line(off); !ok || got != wantLine(off) {
			t.Errorf("line(%d) = %d, %v; want %d", off, got, ok, wantLine(off))
		}
	}
	l.mark(5)
	if _, ok := l.line(4); ok {
		t.Error("line before the mark is still known")
	}
	for off := int64(5); off <= int64(len(text)); off++ {
		if got, _ := l.line(off); got != wantLine(off) {
			t.Errorf("after mark: line(%d) = %d, want %d", off, got, wantLine(off))
		}
	}
}

// TestLineReaderWindow checks that the window stays bounded without marks
// and that lines stay exact inside it.
func TestLineReaderWindow(t *testing.T) {
	line := strings.Repeat("x", 1023) + "\n"
	n := (maxWindow + 4*keepWindow) / len(line)
	l := &lineReader{r: strings.NewReader(strings.Repeat(line, n))}
	buf := make([]byte, 64<<10)
	for {
		if _, err := l.Read(buf); err == io.EOF {
			break
		}
		if len(l.buf)-l.start > maxWindow {
			t.Fatalf("window grew to %d bytes", len(l.buf)-l.start)
		}
	}
	last := l.total - 1
	if got, ok := l.line(last); !ok || got != n {
		t.Errorf("line of the last byte = %d, %v; want %d", got, ok, n)
	}
}

func open(t *testing.T, input []byte) *Stream {
	t.Helper()
	s, err := Open(context.Background(), bytes.NewReader(input), "test input")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func walk(s *Stream) error {
	var value func() error
	value = func() error {
		switch s.Dec.PeekKind() {
		case '{':
			return s.Object(func(string) error { return value() })
		case '[':
			return s.Array(value)
		}
		_, err := s.String()
		return err
	}
	if err := value(); err != nil {
		return err
	}
	return s.End()
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name, input, msg string
	}{
		{"syntax", "{\"a\": [1,\n 2,\n 3 4]}", "test input: invalid JSON at offset 17 (line 3) in /a: invalid character '4' after array element (expecting ',' or ']')"},
		{"truncated", "{\"a\": [1,\n 2", "test input: unexpected end of input at offset 12 (line 2)"},
		{"truncated in string", "{\"a\": \"abc", "test input: unexpected end of input at offset 10 (line 1)"},
		{"trailing", "{}\n{}", "test input: invalid content at offset 3 (line 2): unexpected data after the end of the top-level value"},
		{"garbage", "{} x", "test input: invalid JSON at offset 3 (line 1): invalid character 'x' at start of value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := walk(open(t, []byte(tt.input)))
			var perr *patchctl.Error
			if !errors.As(err, &perr) || perr.Code != patchctl.CodeInvalid {
				t.Fatalf("err = %v, want an invalid *patchctl.Error", err)
			}
			if perr.Message != tt.msg {
				t.Errorf("message\n got %q\nwant %q", perr.Message, tt.msg)
			}
		})
	}
}

func TestSemanticError(t *testing.T) {
	s := open(t, []byte("{\"a\":\n {\"n\": \"x\"}}"))
	err := s.Object(func(string) error {
		var v struct {
			N int `json:"n"`
		}
		return s.Decode(&v)
	})
	var perr *patchctl.Error
	if !errors.As(err, &perr) || perr.Message != "test input: unexpected JSON string at offset 13 (line 2) in /a/n: expected a number" {
		t.Errorf("err = %v", err)
	}
}

func TestGzip(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte("{\"a\": [1,\n 2 3]}"))
	zw.Close()
	err := walk(open(t, buf.Bytes()))
	var perr *patchctl.Error
	if !errors.As(err, &perr) || !strings.Contains(perr.Message, "invalid JSON at offset 13 of the decompressed input (line 2)") {
		t.Errorf("err = %v", err)
	}
	truncated := buf.Bytes()[:buf.Len()-12]
	s, err := Open(context.Background(), bytes.NewReader(truncated), "test input")
	if err == nil {
		err = walk(s)
	}
	if !errors.As(err, &perr) || perr.Code != patchctl.CodeInvalid || !strings.Contains(perr.Message, "gzip") && !strings.Contains(perr.Message, "unexpected end of input") {
		t.Errorf("truncated gzip: err = %v", err)
	}
}

type failingReader struct{ err error }

func (f failingReader) Read([]byte) (int, error) { return 0, f.err }

func TestReadErrorPassesThrough(t *testing.T) {
	cause := errors.New("connection reset")
	r := io.MultiReader(strings.NewReader(`{"a": [`+strings.Repeat(`1,`, 50000)), failingReader{cause})
	s, err := Open(context.Background(), r, "test input")
	if err == nil {
		err = walk(s)
	}
	if !errors.Is(err, cause) {
		t.Fatalf("err = %v, want the read error", err)
	}
	if patchctl.ErrorCode(err) == patchctl.CodeInvalid {
		t.Errorf("a read error is reported as invalid input: %v", err)
	}
}

func TestRewind(t *testing.T) {
	s := open(t, []byte(`{"a": 1}`))
	if err := walk(s); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Rewind(); !ok || err != nil {
		t.Fatalf("Rewind = %v, %v", ok, err)
	}
	if err := walk(s); err != nil {
		t.Fatalf("second pass: %v", err)
	}
	plain, err := Open(context.Background(), io.MultiReader(strings.NewReader(`{}`)), "x")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := plain.Rewind(); ok || plain.Seekable() {
		t.Error("a plain reader rewound")
	}
}

// TestSkipCancels checks that skipping a large value notices cancellation.
func TestSkipCancels(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, err := Open(ctx, strings.NewReader("["+strings.Repeat(`{"a": 1},`, 10000)+"1]"), "x")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Skip(); !errors.Is(err, context.Canceled) {
		t.Errorf("Skip = %v, want context.Canceled", err)
	}
}

func TestTypes(t *testing.T) {
	var v struct {
		T1, T2, T3, T4 Text
		N1, N2, N3, N4 Number
		P1, P2, P3, P4 Present
		F1, F2, F3     First
	}
	in := `{"T1": "s", "T2": 7, "T3": null, "T4": {"x": 1},
	 "N1": 7.5, "N2": "8.1", "N3": "high", "N4": [1],
	 "P1": [], "P2": [{}], "P3": true, "P4": "",
	 "F1": ["a", "b"], "F2": "c", "F3": [1, "d"]}`
	s := open(t, []byte(in))
	if err := s.Decode(&v); err != nil {
		t.Fatal(err)
	}
	if v.T1 != "s" || v.T2 != "7" || v.T3 != "" || v.T4 != "" {
		t.Errorf("Text: %q %q %q %q", v.T1, v.T2, v.T3, v.T4)
	}
	if v.N1 != (Number{7.5, true}) || v.N2 != (Number{8.1, true}) || v.N3.Valid || v.N4.Valid {
		t.Errorf("Number: %v %v %v %v", v.N1, v.N2, v.N3, v.N4)
	}
	if v.P1 || !v.P2 || !v.P3 || v.P4 {
		t.Errorf("Present: %v %v %v %v", v.P1, v.P2, v.P3, v.P4)
	}
	if v.F1 != "a" || v.F2 != "c" || v.F3 != "" {
		t.Errorf("First: %q %q %q", v.F1, v.F2, v.F3)
	}
}

func TestParseTime(t *testing.T) {
	tests := map[string]time.Time{
		"2021-08-25T12:20:30.000000005Z":   time.Date(2021, 8, 25, 12, 20, 30, 5, time.UTC),
		"2023-05-17T21:00:56.783213-04:00": time.Date(2023, 5, 18, 1, 0, 56, 783213000, time.UTC),
		"2023-07-05T00:00:00+0000":         time.Date(2023, 7, 5, 0, 0, 0, 0, time.UTC),
		"2025-08-25":                       time.Date(2025, 8, 25, 0, 0, 0, 0, time.UTC),
		"0001-01-01T00:00:00Z":             {},
		"":                                 {},
		"yesterday":                        {},
	}
	for in, want := range tests {
		if got := ParseTime(in); !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, want %v", in, got, want)
		}
	}
}
