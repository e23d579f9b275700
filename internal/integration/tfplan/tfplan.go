// Package tfplan reads Terraform's machine-readable plan and state, the
// output of `terraform show -json PLANFILE` and `terraform show -json`, and
// finds GKE version changes in them.
//
// Decoding is done by github.com/hashicorp/terraform-json; this package adds
// what patchctl needs on top: actions normalised to one word per resource,
// counts by action, a "does this plan change infrastructure" answer, the
// version changes of google_container_cluster and google_container_node_pool
// resources (GKEChanges) and the versions recorded in a state (GKEVersions).
//
// Every error a caller can see is a *patchctl.Error with CodeInvalid (or
// CodeTooLarge): malformed JSON names its line, column and byte offset, a
// value of the wrong type names its JSON path, and a format_version whose
// major version terraform-json does not read is refused by name.
//
// The package does no I/O of its own and imports neither the store nor any
// other integration.
package tfplan

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/patchctl/patchctl"
)

// MaxInputBytes bounds what Parse and ParseState read. Plans of large
// estates reach tens of megabytes; anything above this is refused with
// CodeTooLarge rather than held in memory.
const MaxInputBytes = 256 << 20

// Action is the normalised action of one resource change.
type Action string

// Actions as Terraform plans them. A replacement (delete then create, or
// create then delete) is one ActionReplace.
const (
	ActionCreate  Action = "create"
	ActionUpdate  Action = "update"
	ActionDelete  Action = "delete"
	ActionReplace Action = "replace"
	ActionNoOp    Action = "no-op"
	ActionRead    Action = "read"
	// ActionForget removes an object from state without destroying it
	// (a `removed` block with `destroy = false`, Terraform 1.7+).
	ActionForget Action = "forget"
)

// Changes reports whether a reaches infrastructure or state: everything
// except no-op and the reading of a data source.
func (a Action) Changes() bool {
	return a != ActionNoOp && a != ActionRead
}

// ResourceChange is one entry of the plan's resource_changes.
type ResourceChange struct {
	Address string
	// PreviousAddress is set when a moved block renamed the resource.
	PreviousAddress string
	// ModuleAddress is "" for the root module, else e.g. "module.gke".
	ModuleAddress string
	Mode          string // managed or data
	Type          string
	Name          string
	// Index is the count (float64) or for_each (string) key, nil if none.
	Index    any
	Provider string
	// Action is the normalised action. Combinations Terraform may add in the
	// future are kept verbatim, joined with "+", and count as changes.
	Action Action
	// Actions is the list as the plan wrote it.
	Actions []string
	// ActionReason is Terraform's optional reason (replace_because_tainted, ...).
	ActionReason string
	// Deposed is the deposed object key when the change targets one.
	Deposed string
	// Before and After are the object values (decoded JSON); AfterUnknown
	// mirrors After with true at every value known only after apply.
	Before       any
	After        any
	AfterUnknown any
}

// Plan is a parsed plan.
type Plan struct {
	FormatVersion    string
	TerraformVersion string
	// Timestamp is when Terraform made the plan (RFC 3339, Terraform 1.5+),
	// as written; "" for older plans.
	Timestamp       string
	ResourceChanges []ResourceChange
	// Counts counts ResourceChanges by action, data sources included.
	Counts map[Action]int
	// OutputChanges counts root module outputs that change.
	OutputChanges int
	// Raw is the decoded document, for anything this package does not
	// surface.
	Raw *tfjson.Plan
}

// HasChanges reports whether applying the plan changes any resource: a
// resource change other than no-op or a data source read. Output-only
// changes do not count (see OutputChanges).
func (p *Plan) HasChanges() bool {
	for a, n := range p.Counts {
		if n > 0 && a.Changes() {
			return true
		}
	}
	return false
}

// Parse reads `terraform show -json PLANFILE` output.
func Parse(r io.Reader) (*Plan, error) {
	data, err := readAll(r, MaxInputBytes)
	if err != nil {
		return nil, err
	}
	if err := sniff(data, kindPlan); err != nil {
		return nil, err
	}
	raw := &tfjson.Plan{}
	if err := json.Unmarshal(data, raw); err != nil {
		return nil, decodeError(data, "plan", err)
	}
	p := &Plan{
		FormatVersion:    raw.FormatVersion,
		TerraformVersion: raw.TerraformVersion,
		Timestamp:        raw.Timestamp,
		Counts:           map[Action]int{},
		Raw:              raw,
	}
	for i, rc := range raw.ResourceChanges {
		if rc == nil {
			return nil, patchctl.FieldError(fmt.Sprintf("resource_changes[%d]", i), "resource change is null")
		}
		c := ResourceChange{
			Address:         rc.Address,
			PreviousAddress: rc.PreviousAddress,
			ModuleAddress:   rc.ModuleAddress,
			Mode:            string(rc.Mode),
			Type:            rc.Type,
			Name:            rc.Name,
			Index:           rc.Index,
			Provider:        rc.ProviderName,
			ActionReason:    string(rc.ActionReason),
			Deposed:         rc.DeposedKey,
		}
		if rc.Change == nil {
			return nil, patchctl.FieldError(fmt.Sprintf("resource_changes[%d].change", i),
				"resource %s has no change object", rc.Address)
		}
		for _, a := range rc.Change.Actions {
			c.Actions = append(c.Actions, string(a))
		}
		c.Action, err = normalise(c.Actions)
		if err != nil {
			return nil, patchctl.FieldError(fmt.Sprintf("resource_changes[%d].change.actions", i),
				"resource %s: %s", rc.Address, err.Error())
		}
		c.Before, c.After, c.AfterUnknown = rc.Change.Before, rc.Change.After, rc.Change.AfterUnknown
		p.ResourceChanges = append(p.ResourceChanges, c)
		p.Counts[c.Action]++
	}
	for _, oc := range raw.OutputChanges {
		if oc == nil {
			continue
		}
		if a, err := normalise(actionStrings(oc.Actions)); err == nil && a.Changes() {
			p.OutputChanges++
		}
	}
	return p, nil
}

func actionStrings(as tfjson.Actions) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = string(a)
	}
	return out
}

// normalise maps Terraform's action list to one Action.
func normalise(actions []string) (Action, error) {
	switch len(actions) {
	case 0:
		return "", errors.New("no actions")
	case 1:
		switch a := Action(actions[0]); a {
		case ActionCreate, ActionUpdate, ActionDelete, ActionNoOp, ActionRead, ActionForget:
			return a, nil
		}
	case 2:
		if (actions[0] == "delete" && actions[1] == "create") || (actions[0] == "create" && actions[1] == "delete") {
			return ActionReplace, nil
		}
	}
	for _, a := range actions {
		if a == "" {
			return "", errors.New("empty action")
		}
	}
	return Action(strings.Join(actions, "+")), nil
}
