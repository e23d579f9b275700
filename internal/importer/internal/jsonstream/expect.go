package jsonstream

import (
	"context"
	"io"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/importer"
	"github.com/patchctl/patchctl/internal/importer/internal/sniff"
)

// Expect checks from the head of the input that it holds the format want,
// and otherwise returns an invalid error naming what was found instead.
func (s *Stream) Expect(want importer.Format) (sniff.Detection, error) {
	d, problem := sniff.Check(s.head, want)
	if problem != "" {
		return d, &patchctl.Error{Code: patchctl.CodeInvalid, Message: s.What + ": " + problem}
	}
	return d, nil
}

// OpenFormat opens r as Open does and checks it holds the format want, as
// Expect does; on failure the stream is already closed. The caller closes
// the stream it gets.
func OpenFormat(ctx context.Context, r io.Reader, what string, want importer.Format) (*Stream, sniff.Detection, error) {
	s, err := Open(ctx, r, what)
	if err != nil {
		return nil, sniff.Detection{}, err
	}
	d, err := s.Expect(want)
	if err != nil {
		s.Close()
		return nil, d, err
	}
	return s, d, nil
}
