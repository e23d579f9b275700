package patchctl

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Kind is what a patch changes; each kind has its own lifecycle.
type Kind string

// Patch kinds.
const (
	KindApplication    Kind = "application"
	KindKubernetes     Kind = "kubernetes"
	KindInfrastructure Kind = "infrastructure"
)

// Kinds lists every kind in display order.
var Kinds = []Kind{KindApplication, KindKubernetes, KindInfrastructure}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	switch k {
	case KindApplication, KindKubernetes, KindInfrastructure:
		return true
	}
	return false
}

// Priority is the SOP-005 patch classification.
type Priority string

// Priorities, most urgent first.
const (
	PriorityEmergency Priority = "emergency"
	PriorityHigh      Priority = "high"
	PriorityRoutine   Priority = "routine"
)

// Priorities lists every priority, most urgent first.
var Priorities = []Priority{PriorityEmergency, PriorityHigh, PriorityRoutine}

// Valid reports whether p is a known priority.
func (p Priority) Valid() bool { return p.Rank() > 0 }

// Rank orders priorities: emergency 3, high 2, routine 1, unknown 0.
func (p Priority) Rank() int {
	switch p {
	case PriorityEmergency:
		return 3
	case PriorityHigh:
		return 2
	case PriorityRoutine:
		return 1
	}
	return 0
}

// State is a lifecycle state. The states a patch may be in depend on its kind;
// internal/lifecycle holds the graphs.
type State string

// States shared by several kinds.
const (
	StateDraft      State = "draft"
	StateInProgress State = "in_progress"
	StateDone       State = "done"
	StateCancelled  State = "cancelled"
	StateRolledBack State = "rolled_back"
)

// Application lifecycle (also the non-production-first path of infrastructure).
const (
	StateInReview   State = "in_review"
	StateMerged     State = "merged"
	StateStaging    State = "staging"
	StateValidated  State = "validated"
	StateProduction State = "production"
)

// Kubernetes (GKE) lifecycle.
const (
	StatePlanned             State = "planned"
	StateUpgradingManagement State = "upgrading_management"
	StateSoaking             State = "soaking"
	StateUpgradingMain       State = "upgrading_main"
	StateAborted             State = "aborted"
)

// Infrastructure-with-downtime lifecycle, after non-production validation.
const (
	StateScheduled State = "scheduled" // maintenance window booked
	StateAnnounced State = "announced"
	StateBackedUp  State = "backed_up"
	StateUpgrading State = "upgrading"
	StateVerified  State = "verified"
	StateResumed   State = "resumed"
)

// Terminal reports whether no transition leaves s.
func (s State) Terminal() bool {
	return s == StateDone || s == StateCancelled || s == StateAborted
}

// Target says what a patch changes. Which fields apply depends on the kind:
// application (Application, Environments), kubernetes (Clusters, Upgrade,
// Version), infrastructure (System, Environments, Downtime).
type Target struct {
	Application  string   `json:"application,omitempty"`
	Environments []string `json:"environments,omitempty"`
	// Repository is the GitHub repository (owner/name) holding the code.
	Repository string `json:"repository,omitempty"`

	Clusters []string `json:"clusters,omitempty"`
	// Upgrade is "node" (node pools only) or "version" (control plane, then
	// its node pools) for kubernetes patches.
	Upgrade string `json:"upgrade,omitempty"`
	// Version is the GKE version a kubernetes patch rolls out.
	Version string `json:"version,omitempty"`

	System   string `json:"system,omitempty"`
	Downtime bool   `json:"downtime,omitempty"`
}

// Kubernetes upgrade types.
const (
	UpgradeNode    = "node"
	UpgradeVersion = "version"
)

// Patch is one change that fixes something, from its trigger to its closure.
type Patch struct {
	ID          int64    `json:"-"`
	Key         string   `json:"id"` // PATCH-n
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Kind        Kind     `json:"kind"`
	Target      Target   `json:"target"`
	Owner       string   `json:"owner,omitempty"`
	State       State    `json:"state"`
	Labels      []string `json:"labels,omitempty"`

	Priority      Priority `json:"priority"`
	PriorityRule  string   `json:"priority_rule"`
	PolicyVersion string   `json:"policy_version"`
	// DetectedAt is the earliest detection among the triggers: the SLA clock
	// starts there.
	DetectedAt time.Time  `json:"detected_at"`
	DueAt      *time.Time `json:"due_at,omitempty"`
	// PriorityPinned is set when a person fixed the priority by hand; the
	// classifier then leaves it alone.
	PriorityPinned bool `json:"priority_pinned,omitempty"`

	// Version is the version this patch ships (a merge commit, an image tag,
	// a chart or package version), set when the change is merged.
	Version string `json:"version,omitempty"`
	// Branch is the dedicated branch of the patch.
	Branch string `json:"branch,omitempty"`
	// Window is the booked maintenance window (infrastructure with downtime).
	Window *Booking `json:"window,omitempty"`
	// SoakStartedAt is when the current soak of a kubernetes rollout began:
	// when the last management wave completed, or when a person retried it.
	SoakStartedAt *time.Time `json:"soak_started_at,omitempty"`
	// Halt is set while a rollout is halted; it blocks every forward step
	// until a person resumes, retries or aborts.
	Halt *Halt `json:"halt,omitempty"`

	// Revision is the optimistic-concurrency counter: every change increments
	// it, and a write naming an older revision is refused with a conflict.
	Revision int64 `json:"revision"`

	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	ClosedAt  *time.Time `json:"closed_at,omitempty"`
}

// Overdue reports whether the patch is open and past its due time at now.
func (p *Patch) Overdue(now time.Time) bool {
	return p.DueAt != nil && !p.State.Terminal() && now.After(*p.DueAt)
}

// TimeRange is a half-open interval [Start, End).
type TimeRange struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Contains reports whether t lies in [Start, End).
func (r TimeRange) Contains(t time.Time) bool {
	return !t.Before(r.Start) && t.Before(r.End)
}

// Booking is a maintenance window booked for one patch.
type Booking struct {
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	BookedBy string    `json:"booked_by"`
	BookedAt time.Time `json:"booked_at"`
}

// Range returns the booked interval.
func (b Booking) Range() TimeRange { return TimeRange{Start: b.Start, End: b.End} }

// Halt records why a rollout stopped.
type Halt struct {
	Reason string    `json:"reason"`
	By     string    `json:"by"`
	At     time.Time `json:"at"`
	Wave   int       `json:"wave,omitempty"`
}

// PatchKey formats a numeric id as PATCH-n.
func PatchKey(id int64) string { return "PATCH-" + strconv.FormatInt(id, 10) }

// ParsePatchKey accepts "PATCH-42", "patch-42" or "42".
func ParsePatchKey(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if len(t) > 6 && strings.EqualFold(t[:6], "PATCH-") {
		t = t[6:]
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return 0, FieldError("id", "%q is not a patch id (want PATCH-n)", s)
	}
	return n, nil
}

// BranchPrefix is the prefix of every dedicated patch branch.
const BranchPrefix = "patch/"

// BranchName returns the canonical dedicated branch for a patch:
// patch/PATCH-42-short-slug-of-title.
func BranchName(key, title string) string {
	slug := Slug(title, 40)
	if slug == "" {
		return BranchPrefix + key
	}
	return BranchPrefix + key + "-" + slug
}

// BranchBelongsTo reports whether branch is a dedicated branch of the patch
// key: patch/PATCH-42 or patch/PATCH-42-anything (but not patch/PATCH-421).
func BranchBelongsTo(branch, key string) bool {
	rest, ok := strings.CutPrefix(branch, BranchPrefix+key)
	return ok && (rest == "" || rest[0] == '-')
}

// Slug lowercases s and keeps letters and digits, joining words with '-', cut
// to at most max bytes on a word boundary where possible.
func Slug(s string, max int) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
		default:
			dash = true
		}
		if b.Len() >= max {
			break
		}
	}
	out := b.String()
	if len(out) > max {
		out = out[:max]
		if i := strings.LastIndexByte(out, '-'); i > max/2 {
			out = out[:i]
		}
	}
	return strings.Trim(out, "-.")
}

// PriorityChange is one entry of a patch's priority history.
type PriorityChange struct {
	At            time.Time  `json:"at"`
	From          Priority   `json:"from,omitempty"`
	To            Priority   `json:"to"`
	Rule          string     `json:"rule"`
	Reason        string     `json:"reason"`
	PolicyVersion string     `json:"policy_version"`
	DueAt         *time.Time `json:"due_at,omitempty"`
	Actor         string     `json:"actor"`
}

// Override records a transition that went through despite refusing gates.
type Override struct {
	ID            int64     `json:"id"`
	PatchKey      string    `json:"patch,omitempty"`
	From          State     `json:"from"`
	To            State     `json:"to"`
	Action        string    `json:"action"`
	Gates         []string  `json:"gates"`
	Justification string    `json:"justification"`
	Actor         string    `json:"actor"`
	Role          Role      `json:"role"`
	At            time.Time `json:"at"`
}

// Transition is one recorded change of state.
type Transition struct {
	ID       int64     `json:"id"`
	From     State     `json:"from"`
	To       State     `json:"to"`
	Action   string    `json:"action"`
	Actor    string    `json:"actor"`
	Note     string    `json:"note,omitempty"`
	Override bool      `json:"override,omitempty"`
	At       time.Time `json:"at"`
}

// Validate checks the fields a caller controls when creating or editing a
// patch; it returns the first problem as a field error.
func (p *Patch) Validate() error {
	if strings.TrimSpace(p.Title) == "" {
		return FieldError("title", "is required")
	}
	if len(p.Title) > 300 {
		return FieldError("title", "is longer than 300 characters")
	}
	if !p.Kind.Valid() {
		return FieldError("kind", "%q is not a kind (want application, kubernetes or infrastructure)", p.Kind)
	}
	if p.Priority != "" && !p.Priority.Valid() {
		return FieldError("priority", "%q is not a priority (want emergency, high or routine)", p.Priority)
	}
	t := p.Target
	switch p.Kind {
	case KindApplication:
		if t.Application == "" {
			return FieldError("target.application", "is required for an application patch")
		}
		if len(t.Clusters) > 0 || t.System != "" {
			return FieldError("target", "an application patch names an application, not clusters or a system")
		}
	case KindKubernetes:
		if len(t.Clusters) == 0 {
			return FieldError("target.clusters", "is required for a kubernetes patch")
		}
		if t.Upgrade != UpgradeNode && t.Upgrade != UpgradeVersion {
			return FieldError("target.upgrade", "%q is not an upgrade type (want node or version)", t.Upgrade)
		}
		if t.Application != "" || t.System != "" {
			return FieldError("target", "a kubernetes patch names clusters, not an application or a system")
		}
	case KindInfrastructure:
		if t.System == "" {
			return FieldError("target.system", "is required for an infrastructure patch")
		}
		if t.Application != "" || len(t.Clusters) > 0 {
			return FieldError("target", "an infrastructure patch names a system, not an application or clusters")
		}
	}
	for i, l := range p.Labels {
		if !validLabel(l) {
			return FieldError(fmt.Sprintf("labels[%d]", i), "%q is not a label (lowercase letters, digits, '-', '_', '.', '/' and ':')", l)
		}
	}
	return nil
}

func validLabel(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:", r)) {
			return false
		}
	}
	return true
}

// WaveState is the state of one rollout wave.
type WaveState string

// Wave states.
const (
	WavePending    WaveState = "pending"
	WaveInProgress WaveState = "in_progress"
	WaveCompleted  WaveState = "completed"
	WaveFailed     WaveState = "failed"
)

// Wave phases.
const (
	PhaseManagement = "management"
	PhaseMain       = "main"
)

// ControlPlane is the NodePool value of a control-plane wave.
const ControlPlane = "control-plane"

// Wave is one step of a kubernetes rollout: a control plane or one node pool
// of one cluster.
type Wave struct {
	Seq         int        `json:"seq"`
	Phase       string     `json:"phase"` // management or main
	Cluster     string     `json:"cluster"`
	NodePool    string     `json:"node_pool"` // a pool name, or "control-plane"
	Version     string     `json:"version"`
	State       WaveState  `json:"state"`
	StartedAt   *time.Time `json:"started_at,omitempty"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
	StartedBy   string     `json:"started_by,omitempty"`
}

// Subject names the wave's target as evidence refers to it: cluster/pool.
func (w Wave) Subject() string { return w.Cluster + "/" + w.NodePool }
