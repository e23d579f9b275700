// Package jsonstream is the streaming layer shared by the importer's parsers:
// it wraps the input in a jsontext decoder (github.com/go-json-experiment/json),
// transparently decompresses gzip, keeps the line count needed to report the
// byte offset and line of bad input, checks the context periodically, walks
// objects and arrays one member or element at a time, and turns decoder
// errors into *patchctl.Error values with code invalid.
//
// A Stream never holds the whole input: the decoder reads ahead a few
// kilobytes, and the line counter keeps the bytes since the last element
// boundary.
package jsonstream

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/patchctl/patchctl"
)

// HeadSize is how many leading bytes are available to format detection.
const HeadSize = 64 << 10

// tickEvery is how many elements pass between two context checks.
const tickEvery = 64

// decoderOptions trade strictness the importer does not need for speed and
// tolerance: scanners do not repeat names, and a stray invalid UTF-8 byte in a
// description must not reject a whole report (it becomes U+FFFD).
var decoderOptions = []jsontext.Options{
	jsontext.AllowDuplicateNames(true),
	jsontext.AllowInvalidUTF8(true),
}

// Stream is one pass over a JSON (or CSV) input.
type Stream struct {
	// Dec is the decoder positioned in the input. Callers may use it
	// directly; errors it returns go through Err.
	Dec *jsontext.Decoder
	// What names the input in error messages ("Trivy report").
	What string

	ctx      context.Context
	src      io.Reader
	seeker   io.Seeker
	start    int64
	seekable bool
	gzipped  bool
	raw      *bufio.Reader // over src
	inner    *bufio.Reader // over the gzip reader, when gzipped
	zr       *gzip.Reader
	lines    *lineReader
	head     []byte
	ticks    uint
}

// readers recycles the HeadSize buffered readers: allocating and clearing
// 64 KiB per parse dominates the cost of small reports.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, HeadSize) }}

func getReader(r io.Reader) *bufio.Reader {
	br := readers.Get().(*bufio.Reader)
	br.Reset(r)
	return br
}

// Close releases the stream's buffers. The stream must not be used after.
func (s *Stream) Close() {
	for _, br := range []*bufio.Reader{s.raw, s.inner} {
		if br != nil {
			br.Reset(nil)
			readers.Put(br)
		}
	}
	s.raw, s.inner, s.head, s.Dec = nil, nil, nil, nil
}

// Open starts a stream over r. what names the input in error messages.
// Gzip-compressed input is decompressed. If r is an io.Seeker positioned
// where the input starts, Rewind can restart the stream. Close releases the
// stream's buffers.
func Open(ctx context.Context, r io.Reader, what string) (*Stream, error) {
	s := &Stream{ctx: ctx, src: r, What: what}
	if sk, ok := r.(io.Seeker); ok {
		if pos, err := sk.Seek(0, io.SeekCurrent); err == nil {
			s.seeker, s.start, s.seekable = sk, pos, true
		}
	}
	if err := s.open(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Stream) open() error {
	if s.raw == nil {
		s.raw = getReader(s.src)
	} else {
		s.raw.Reset(s.src)
	}
	br := s.raw
	s.gzipped = false
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		var err error
		if s.zr == nil {
			s.zr, err = gzip.NewReader(br)
		} else {
			err = s.zr.Reset(br)
		}
		if err != nil {
			if isGzipError(err) || errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
				return &patchctl.Error{Code: patchctl.CodeInvalid, Message: s.What + ": corrupt or truncated gzip data", Err: err}
			}
			return fmt.Errorf("%s: reading input: %w", s.What, err)
		}
		s.gzipped = true
		if s.inner == nil {
			s.inner = getReader(s.zr)
		} else {
			s.inner.Reset(s.zr)
		}
		br = s.inner
	}
	head, err := br.Peek(HeadSize)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		if s.gzipped && (isGzipError(err) || errors.Is(err, io.ErrUnexpectedEOF)) {
			return &patchctl.Error{Code: patchctl.CodeInvalid, Message: s.What + ": corrupt or truncated gzip data", Err: err}
		}
		return fmt.Errorf("%s: reading input: %w", s.What, err)
	}
	s.head = head
	if s.lines == nil {
		s.lines = &lineReader{}
	}
	buf := s.lines.buf[:0]
	*s.lines = lineReader{r: br, buf: buf}
	if s.Dec == nil {
		s.Dec = jsontext.NewDecoder(s.lines, decoderOptions...)
	} else {
		s.Dec.Reset(s.lines, decoderOptions...)
	}
	return nil
}

// Reader returns the (decompressed) input for parsers that do not read
// JSON; bytes read through it are counted for line numbers.
func (s *Stream) Reader() io.Reader { return s.lines }

// Rewind restarts the stream at the beginning of the input. It reports false
// (and leaves the stream as it is) when the input is not seekable.
func (s *Stream) Rewind() (bool, error) {
	if !s.seekable {
		return false, nil
	}
	if _, err := s.seeker.Seek(s.start, io.SeekStart); err != nil {
		s.seekable = false
		return false, nil
	}
	return true, s.open()
}

// Seekable reports whether Rewind can restart the stream.
func (s *Stream) Seekable() bool { return s.seekable }

// Tick checks the context every few calls; parsers call it once per element.
func (s *Stream) Tick() error {
	s.ticks++
	if s.ticks%tickEvery == 0 {
		if err := s.ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// mark tells the line counter that errors cannot occur before the current
// position any more.
func (s *Stream) mark() { s.lines.mark(s.Dec.InputOffset()) }

// Object reads a JSON object member by member. fn receives each name with
// the decoder positioned before the value and must consume the value. A
// JSON null is an empty object.
func (s *Stream) Object(fn func(name string) error) error {
	switch k := s.Dec.PeekKind(); k {
	case 'n':
		return s.Skip()
	case '{':
	default:
		return s.expected("an object")
	}
	if _, err := s.Dec.ReadToken(); err != nil {
		return s.Err(err)
	}
	for {
		tok, err := s.Dec.ReadToken()
		if err != nil {
			return s.Err(err)
		}
		if tok.Kind() == '}' {
			return nil
		}
		s.mark()
		if err := fn(tok.String()); err != nil {
			return err
		}
	}
}

// Array reads a JSON array element by element. fn is called with the
// decoder positioned before each element and must consume it. A JSON null is
// an empty array. The context is checked periodically.
func (s *Stream) Array(fn func() error) error {
	switch k := s.Dec.PeekKind(); k {
	case 'n':
		return s.Skip()
	case '[':
	default:
		return s.expected("an array")
	}
	if _, err := s.Dec.ReadToken(); err != nil {
		return s.Err(err)
	}
	for {
		switch s.Dec.PeekKind() {
		case ']':
			if _, err := s.Dec.ReadToken(); err != nil {
				return s.Err(err)
			}
			return nil
		case 0:
			// Invalid or truncated input: let ReadToken describe it.
			_, err := s.Dec.ReadToken()
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return s.Err(err)
		}
		if err := s.Tick(); err != nil {
			return err
		}
		s.mark()
		if err := fn(); err != nil {
			return err
		}
	}
}

// Count skips an array and returns its number of elements (0 for null).
func (s *Stream) Count() (int, error) {
	n := 0
	err := s.Array(func() error {
		n++
		return s.Skip()
	})
	return n, err
}

// Decode unmarshals the next value into v.
func (s *Stream) Decode(v any) error {
	return s.Err(json.UnmarshalDecode(s.Dec, v))
}

// Skip skips the next value. Objects and arrays are skipped token by token,
// moving the line counter's mark and checking the context as it goes, so
// that skipping a large value holds no memory.
func (s *Stream) Skip() error {
	switch s.Dec.PeekKind() {
	case '{', '[':
	default:
		return s.Err(s.Dec.SkipValue())
	}
	depth := s.Dec.StackDepth()
	for n := 1; ; n++ {
		if _, err := s.Dec.ReadToken(); err != nil {
			return s.Err(err)
		}
		if s.Dec.StackDepth() <= depth {
			return nil
		}
		if n%4096 == 0 {
			s.mark()
			if err := s.ctx.Err(); err != nil {
				return err
			}
		}
	}
}

// String reads a string value; null reads as "", and numbers and booleans
// as their JSON text.
func (s *Stream) String() (string, error) {
	switch s.Dec.PeekKind() {
	case '"', '0', 't', 'f', 'n':
		tok, err := s.Dec.ReadToken()
		if err != nil {
			return "", s.Err(err)
		}
		if tok.Kind() == 'n' {
			return "", nil
		}
		return tok.String(), nil
	case '{', '[':
		return "", s.expected("a string")
	}
	_, err := s.Dec.ReadToken()
	return "", s.Err(err)
}

// End checks that nothing but whitespace follows the top-level value.
func (s *Stream) End() error {
	switch s.Dec.PeekKind() {
	case '{', '[', '"', '0', 't', 'f', 'n':
	default: // end of input, or not JSON: ReadToken says which
		_, err := s.Dec.ReadToken()
		if err == io.EOF {
			return nil
		}
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return s.Err(err)
	}
	// Another JSON value follows.
	off := s.Dec.InputOffset() + leadingSpace(s.Dec.UnreadBuffer())
	return s.invalid(off, "", "invalid content", "unexpected data after the end of the top-level value", nil)
}

// expected reports a value of the wrong kind at the current position.
func (s *Stream) expected(want string) error {
	k := s.Dec.PeekKind()
	if k == 0 {
		_, err := s.Dec.ReadToken()
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return s.Err(err)
	}
	// Another JSON value follows.
	off := s.Dec.InputOffset() + leadingSpace(s.Dec.UnreadBuffer())
	return s.invalid(off, string(nextPointer(s.Dec)), "unexpected JSON "+kindName(k), "expected "+want, nil)
}

// Invalidf reports invalid content at the current position.
func (s *Stream) Invalidf(format string, args ...any) error {
	return s.invalid(s.Dec.InputOffset(), string(s.Dec.StackPointer()), "invalid content", fmt.Sprintf(format, args...), nil)
}

// Err converts an error from the decoder into a *patchctl.Error with code
// invalid naming the offset and line. Errors that are not about the input
// (context cancellation, errors from emit, read errors) pass through; read
// errors are wrapped with the input's name so that a caller can still find
// their cause (an *http.MaxBytesError, for instance).
func (s *Stream) Err(err error) error {
	if err == nil {
		return nil
	}
	var perr *patchctl.Error
	if errors.As(err, &perr) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if s.gzipped && isGzipError(err) {
		return &patchctl.Error{Code: patchctl.CodeInvalid, Message: s.What + ": corrupt or truncated gzip data", Err: err}
	}
	var sem *json.SemanticError
	var syn *jsontext.SyntacticError
	if errors.As(err, &sem) && !errors.As(sem.Err, &syn) {
		switch {
		case isReadError(sem.Err):
			return fmt.Errorf("%s: reading input: %w", s.What, sem.Err)
		case errors.Is(sem.Err, io.ErrUnexpectedEOF):
			return s.truncated(sem.ByteOffset, err)
		}
		what := "unexpected value"
		if sem.JSONKind != 0 {
			what = "unexpected JSON " + kindName(sem.JSONKind)
		}
		reason := ""
		if sem.GoType != nil {
			reason = "expected " + goKindName(sem.GoType)
		}
		if sem.Err != nil {
			reason = strings.TrimPrefix(strings.TrimPrefix(sem.Err.Error(), "json: "), "jsontext: ")
		}
		return s.invalid(sem.ByteOffset, string(sem.JSONPointer), what, reason, err)
	}
	if errors.As(err, &syn) {
		if errors.Is(syn.Err, io.ErrUnexpectedEOF) {
			return s.truncated(syn.ByteOffset, err)
		}
		reason := "syntax error"
		if syn.Err != nil {
			reason = strings.TrimPrefix(syn.Err.Error(), "jsontext: ")
		}
		return s.invalid(syn.ByteOffset, string(syn.JSONPointer), "invalid JSON", reason, err)
	}
	if isReadError(err) {
		return fmt.Errorf("%s: reading input: %w", s.What, err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
		return s.truncated(s.lines.total, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("%s: reading input: %w", s.What, err)
}

// isReadError reports whether err came from the underlying reader rather
// than from the JSON content (jsontext wraps those as "read error").
func isReadError(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "jsontext: read error")
}

func isGzipError(err error) bool {
	var corrupt flate.CorruptInputError
	return errors.Is(err, gzip.ErrHeader) || errors.Is(err, gzip.ErrChecksum) ||
		errors.As(err, &corrupt) || (isReadError(err) && errors.Is(err, io.ErrUnexpectedEOF))
}

func (s *Stream) truncated(off int64, err error) error {
	return &patchctl.Error{
		Code:    patchctl.CodeInvalid,
		Message: fmt.Sprintf("%s: unexpected end of input at %s", s.What, s.Position(off)),
		Err:     err,
	}
}

func (s *Stream) invalid(off int64, ptr, what, reason string, err error) error {
	msg := fmt.Sprintf("%s: %s at %s", s.What, what, s.Position(off))
	if ptr != "" {
		msg += " in " + ptr
	}
	if reason != "" {
		msg += ": " + reason
	}
	return &patchctl.Error{Code: patchctl.CodeInvalid, Message: msg, Err: err}
}

// Position formats a byte offset with its line: "offset 120 (line 7)".
func (s *Stream) Position(off int64) string {
	where := fmt.Sprintf("offset %d", off)
	if s.gzipped {
		where += " of the decompressed input"
	}
	if line, ok := s.lines.line(off); ok {
		return fmt.Sprintf("%s (line %d)", where, line)
	}
	return where + " (line unknown)"
}

func leadingSpace(b []byte) int64 {
	n := 0
	for n < len(b) && (b[n] == ' ' || b[n] == '\t' || b[n] == '\n' || b[n] == '\r' || b[n] == ',' || b[n] == ':') {
		n++
	}
	return int64(n)
}

func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 't', 'f':
		return "boolean"
	case '"':
		return "string"
	case '0':
		return "number"
	case '{', '}':
		return "object"
	case '[', ']':
		return "array"
	}
	return "value"
}

func goKindName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "another kind of value"
}
