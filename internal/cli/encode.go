package cli

import (
	"encoding/json"
	"io"
)

// newLineEncoder writes one JSON document per line.
func newLineEncoder(w io.Writer) func(any) error {
	enc := json.NewEncoder(w)
	return enc.Encode
}
