package jsonstream

import (
	"bytes"
	"io"
)

// Window bounds for lineReader: once more than maxWindow bytes are retained
// without a mark, the oldest bytes are folded into the line count until
// keepWindow remain. An error offset older than that (only possible inside a
// single token of more than 16 MiB) is reported without a line number.
const (
	maxWindow  = 64 << 20
	keepWindow = 16 << 20
)

// lineReader counts lines while the decoder reads. It keeps the bytes read
// since the last mark so that the line of any later offset can be computed
// exactly; mark folds the bytes before an offset into a running count. The
// parser marks at element boundaries, so the window holds about one element
// plus the decoder's read-ahead.
type lineReader struct {
	r       io.Reader
	buf     []byte // buf[start:] is the window
	start   int
	winOff  int64 // stream offset of buf[start]
	winLine int   // newlines before winOff
	total   int64 // bytes read so far
}

func (l *lineReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if n > 0 {
		l.buf = append(l.buf, p[:n]...)
		l.total += int64(n)
		if len(l.buf)-l.start > maxWindow {
			l.mark(l.total - keepWindow)
		}
	}
	return n, err
}

// mark declares that no error will be reported before offset off.
func (l *lineReader) mark(off int64) {
	if off <= l.winOff {
		return
	}
	k := int(min(off-l.winOff, int64(len(l.buf)-l.start)))
	l.winLine += bytes.Count(l.buf[l.start:l.start+k], []byte{'\n'})
	l.start += k
	l.winOff += int64(k)
	// Compact once the dead prefix dominates, so appends reuse the array.
	if l.start > len(l.buf)/2 {
		n := copy(l.buf, l.buf[l.start:])
		l.buf = l.buf[:n]
		l.start = 0
	}
}

// line returns the 1-based line of offset off, and false when off lies
// before the retained window.
func (l *lineReader) line(off int64) (int, bool) {
	if off < l.winOff {
		return 0, false
	}
	k := int(min(off-l.winOff, int64(len(l.buf)-l.start)))
	return l.winLine + bytes.Count(l.buf[l.start:l.start+k], []byte{'\n'}) + 1, true
}
