package jsonstream

import (
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
