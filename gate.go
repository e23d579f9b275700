package patchctl

// GateResult is the verdict of one gate on one transition.
type GateResult struct {
	// Gate is the stable name of the gate, e.g. "review_by_other".
	Gate string `json:"gate"`
	// Rule quotes the SOP-005 rule the gate enforces.
	Rule string `json:"rule"`
	OK   bool   `json:"ok"`
	// Missing says what evidence or condition would satisfy the gate.
	Missing string `json:"missing,omitempty"`
	// Detail explains why a satisfied gate is satisfied (which evidence).
	Detail string `json:"detail,omitempty"`
}

// Refusing returns the gates that did not pass.
func Refusing(results []GateResult) []GateResult {
	var out []GateResult
	for _, r := range results {
		if !r.OK {
			out = append(out, r)
		}
	}
	return out
}
