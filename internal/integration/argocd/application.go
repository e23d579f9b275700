package argocd

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/patchctl/patchctl"
)

// Sync statuses, health statuses and operation phases as Argo CD names
// them.
const (
	SyncSynced    = "Synced"
	SyncOutOfSync = "OutOfSync"
	SyncUnknown   = "Unknown"

	HealthHealthy     = "Healthy"
	HealthProgressing = "Progressing"
	HealthDegraded    = "Degraded"
	HealthSuspended   = "Suspended"
	HealthMissing     = "Missing"
	HealthUnknown     = "Unknown"

	PhaseRunning     = "Running"
	PhaseTerminating = "Terminating"
	PhaseFailed      = "Failed"
	PhaseError       = "Error"
	PhaseSucceeded   = "Succeeded"
)

// Source is where an Application's manifests come from: a path in a git
// repository, or a chart (Chart set) in a Helm repository.
type Source struct {
	RepoURL        string
	Path           string
	Chart          string
	TargetRevision string
}

// Destination is where an Application deploys to.
type Destination struct {
	Server    string
	Name      string
	Namespace string
}

// Operation is the state of the Application's last (or running) sync
// operation, status.operationState.
type Operation struct {
	Phase      string
	Message    string
	StartedAt  time.Time
	FinishedAt time.Time // zero while running
	// Revision is syncResult.revision, or while running the revision the
	// operation was asked to sync. Revisions is the multi-source form.
	Revision  string
	Revisions []string
}

// HistoryEntry is one deployment in status.history. Argo CD appends an
// entry for every successful sync; a rollback adds a new entry with the
// old revision.
type HistoryEntry struct {
	ID              int64
	Revision        string
	Revisions       []string // multi-source applications
	DeployedAt      time.Time
	DeployStartedAt time.Time
	Source          Source
	Sources         []Source
}

// Application is what patchctl reads of an Argo CD Application.
type Application struct {
	Name      string
	Namespace string // namespace of the Application object
	Project   string
	// Source is spec.source, or the first of spec.sources.
	Source      Source
	Sources     []Source
	Destination Destination
	// AutoSync is set when spec.syncPolicy.automated is present and not
	// disabled (automated.enabled: false). Argo CD refuses a rollback while
	// it is set.
	AutoSync bool
	Prune    bool // automated.prune
	SelfHeal bool // automated.selfHeal
	// ManagedBy names the controller that owns the Application object
	// ("ApplicationSet/velero"), "" if none. Such an owner may put back a
	// sync policy patchctl changed.
	ManagedBy     string
	SyncStatus    string
	SyncRevision  string
	SyncRevisions []string
	HealthStatus  string
	HealthMessage string
	// Operation is the last or current sync operation, nil if none ran.
	Operation *Operation
	// OperationPending is set while an operation is requested or running
	// (the Application's operation field); Argo CD accepts no other until
	// it finishes.
	OperationPending bool
	// History is sorted by ID.
	History      []HistoryEntry
	ReconciledAt time.Time
	Images       []string
	Deleting     bool
}

type wireSource struct {
	RepoURL        string `json:"repoURL"`
	Path           string `json:"path"`
	Chart          string `json:"chart"`
	TargetRevision string `json:"targetRevision"`
}

func (s *wireSource) source() Source {
	if s == nil {
		return Source{}
	}
	return Source{RepoURL: s.RepoURL, Path: s.Path, Chart: s.Chart, TargetRevision: s.TargetRevision}
}

func sources(ws []wireSource) []Source {
	var out []Source
	for i := range ws {
		out = append(out, ws[i].source())
	}
	return out
}

type wireApplication struct {
	Metadata struct {
		Name              string  `json:"name"`
		Namespace         string  `json:"namespace"`
		DeletionTimestamp *string `json:"deletionTimestamp"`
		OwnerReferences   []struct {
			Kind       string `json:"kind"`
			Name       string `json:"name"`
			Controller *bool  `json:"controller"`
		} `json:"ownerReferences"`
	} `json:"metadata"`
	Spec struct {
		Project     string       `json:"project"`
		Source      *wireSource  `json:"source"`
		Sources     []wireSource `json:"sources"`
		Destination struct {
			Server    string `json:"server"`
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"destination"`
		SyncPolicy *struct {
			Automated *struct {
				Prune    bool  `json:"prune"`
				SelfHeal bool  `json:"selfHeal"`
				Enabled  *bool `json:"enabled"`
			} `json:"automated"`
		} `json:"syncPolicy"`
	} `json:"spec"`
	Operation json.RawMessage `json:"operation"`
	Status    struct {
		Sync struct {
			Status    string   `json:"status"`
			Revision  string   `json:"revision"`
			Revisions []string `json:"revisions"`
		} `json:"sync"`
		Health struct {
			Status  string `json:"status"`
			Message string `json:"message"`
		} `json:"health"`
		OperationState *struct {
			Phase      string `json:"phase"`
			Message    string `json:"message"`
			StartedAt  string `json:"startedAt"`
			FinishedAt string `json:"finishedAt"`
			Operation  struct {
				Sync *struct {
					Revision  string   `json:"revision"`
					Revisions []string `json:"revisions"`
				} `json:"sync"`
			} `json:"operation"`
			SyncResult *struct {
				Revision  string   `json:"revision"`
				Revisions []string `json:"revisions"`
			} `json:"syncResult"`
		} `json:"operationState"`
		History []struct {
			ID              int64        `json:"id"`
			Revision        string       `json:"revision"`
			Revisions       []string     `json:"revisions"`
			DeployedAt      string       `json:"deployedAt"`
			DeployStartedAt string       `json:"deployStartedAt"`
			Source          *wireSource  `json:"source"`
			Sources         []wireSource `json:"sources"`
		} `json:"history"`
		ReconciledAt string `json:"reconciledAt"`
		Summary      struct {
			Images []string `json:"images"`
		} `json:"summary"`
	} `json:"status"`
}

// ParseApplication reads an Application as the Argo CD API returns it
// (GET /api/v1/applications/{name}) or as `kubectl get application -o
// json` prints it.
func ParseApplication(data []byte) (*Application, error) {
	var w wireApplication
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, jsonError(data, "argocd application", err)
	}
	if w.Metadata.Name == "" {
		return nil, patchctl.FieldError("metadata.name", "missing application name")
	}
	a := &Application{
		Name:          w.Metadata.Name,
		Namespace:     w.Metadata.Namespace,
		Project:       w.Spec.Project,
		Sources:       sources(w.Spec.Sources),
		Destination:   Destination{Server: w.Spec.Destination.Server, Name: w.Spec.Destination.Name, Namespace: w.Spec.Destination.Namespace},
		SyncStatus:    w.Status.Sync.Status,
		SyncRevision:  w.Status.Sync.Revision,
		SyncRevisions: nonEmpty(w.Status.Sync.Revisions),
		HealthStatus:  w.Status.Health.Status,
		HealthMessage: w.Status.Health.Message,
		Images:        nonEmpty(w.Status.Summary.Images),
		Deleting:      w.Metadata.DeletionTimestamp != nil,
		// Argo CD omits operation when none is pending; null means the same.
		OperationPending: len(w.Operation) > 0 && string(w.Operation) != "null",
	}
	switch {
	case w.Spec.Source != nil:
		a.Source = w.Spec.Source.source()
	case len(a.Sources) > 0:
		a.Source = a.Sources[0]
	}
	if p := w.Spec.SyncPolicy; p != nil && p.Automated != nil {
		a.AutoSync = p.Automated.Enabled == nil || *p.Automated.Enabled
		a.Prune, a.SelfHeal = p.Automated.Prune, p.Automated.SelfHeal
	}
	for _, o := range w.Metadata.OwnerReferences {
		if o.Controller != nil && *o.Controller {
			a.ManagedBy = o.Kind + "/" + o.Name
		}
	}
	var err error
	if a.ReconciledAt, err = parseTime(w.Status.ReconciledAt); err != nil {
		return nil, patchctl.FieldError("status.reconciledAt", "%q is not an RFC 3339 time", clip(w.Status.ReconciledAt))
	}
	if st := w.Status.OperationState; st != nil {
		op := &Operation{Phase: st.Phase, Message: st.Message}
		if op.StartedAt, err = parseTime(st.StartedAt); err != nil {
			return nil, patchctl.FieldError("status.operationState.startedAt", "%q is not an RFC 3339 time", clip(st.StartedAt))
		}
		if op.FinishedAt, err = parseTime(st.FinishedAt); err != nil {
			return nil, patchctl.FieldError("status.operationState.finishedAt", "%q is not an RFC 3339 time", clip(st.FinishedAt))
		}
		switch {
		case st.SyncResult != nil && (st.SyncResult.Revision != "" || len(st.SyncResult.Revisions) > 0):
			op.Revision, op.Revisions = st.SyncResult.Revision, nonEmpty(st.SyncResult.Revisions)
		case st.Operation.Sync != nil:
			op.Revision, op.Revisions = st.Operation.Sync.Revision, nonEmpty(st.Operation.Sync.Revisions)
		}
		a.Operation = op
	}
	seen := map[int64]bool{}
	for i, h := range w.Status.History {
		field := func(name string) string { return fmt.Sprintf("status.history[%d].%s", i, name) }
		if seen[h.ID] {
			return nil, patchctl.FieldError(field("id"), "history id %d appears twice", h.ID)
		}
		seen[h.ID] = true
		e := HistoryEntry{ID: h.ID, Revision: h.Revision, Revisions: nonEmpty(h.Revisions),
			Source: h.Source.source(), Sources: sources(h.Sources)}
		if e.DeployedAt, err = parseTime(h.DeployedAt); err != nil {
			return nil, patchctl.FieldError(field("deployedAt"), "%q is not an RFC 3339 time", clip(h.DeployedAt))
		}
		if e.DeployStartedAt, err = parseTime(h.DeployStartedAt); err != nil {
			return nil, patchctl.FieldError(field("deployStartedAt"), "%q is not an RFC 3339 time", clip(h.DeployStartedAt))
		}
		a.History = append(a.History, e)
	}
	sort.Slice(a.History, func(i, j int) bool { return a.History[i].ID < a.History[j].ID })
	return a, nil
}

// HistoryEntry returns the history entry with the given id.
func (a *Application) HistoryEntry(id int64) (HistoryEntry, bool) {
	for _, h := range a.History {
		if h.ID == id {
			return h, true
		}
	}
	return HistoryEntry{}, false
}

// matches reports whether the entry deployed revision. A git commit may be
// given abbreviated (7 or more hex digits); anything else must match
// exactly. For multi-source entries any of the revisions may match.
func (h HistoryEntry) matches(revision string) bool {
	if revisionMatches(h.Revision, revision) {
		return true
	}
	for _, r := range h.Revisions {
		if revisionMatches(r, revision) {
			return true
		}
	}
	return false
}

func revisionMatches(full, want string) bool {
	if want == "" || full == "" {
		return false
	}
	if full == want {
		return true
	}
	return len(want) >= 7 && (len(full) == 40 || len(full) == 64) && isHex(want) && strings.HasPrefix(full, strings.ToLower(want))
}

func isHex(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// sameDeployment reports whether two entries deployed the same revisions.
func sameDeployment(a, b HistoryEntry) bool {
	if a.Revision != b.Revision || len(a.Revisions) != len(b.Revisions) {
		return false
	}
	for i := range a.Revisions {
		if a.Revisions[i] != b.Revisions[i] {
			return false
		}
	}
	return true
}

// HistoryIDForRevision returns the id of the latest history entry that
// deployed revision (a git commit, possibly abbreviated, or a chart
// version for Helm repository sources). The same revision is often
// deployed several times (re-syncs); the latest wins.
func HistoryIDForRevision(app *Application, revision string) (int64, error) {
	if app == nil {
		return 0, patchctl.Errorf(patchctl.CodeInvalid, "no application")
	}
	if revision == "" {
		return 0, patchctl.FieldError("revision", "missing")
	}
	for i := len(app.History) - 1; i >= 0; i-- {
		if app.History[i].matches(revision) {
			return app.History[i].ID, nil
		}
	}
	return 0, patchctl.Errorf(patchctl.CodeNotFound,
		"argocd application %s has no deployment history entry for revision %s", app.Name, clip(revision))
}

// PreviousStable returns the deployment a rollback from currentRevision
// goes back to: the latest history entry before the latest deployment of
// currentRevision that deployed something else. Argo CD records only
// successful syncs in history, so every entry ran to completion. With an
// empty currentRevision the latest entry is taken as current.
func PreviousStable(app *Application, currentRevision string) (HistoryEntry, error) {
	if app == nil {
		return HistoryEntry{}, patchctl.Errorf(patchctl.CodeInvalid, "no application")
	}
	if len(app.History) == 0 {
		return HistoryEntry{}, patchctl.Errorf(patchctl.CodeNotFound, "argocd application %s has no deployment history", app.Name)
	}
	cur := len(app.History) - 1
	if currentRevision != "" {
		for cur >= 0 && !app.History[cur].matches(currentRevision) {
			cur--
		}
		if cur < 0 {
			return HistoryEntry{}, patchctl.Errorf(patchctl.CodeNotFound,
				"argocd application %s has no deployment history entry for revision %s", app.Name, clip(currentRevision))
		}
	}
	for i := cur - 1; i >= 0; i-- {
		if !sameDeployment(app.History[i], app.History[cur]) {
			return app.History[i], nil
		}
	}
	return HistoryEntry{}, patchctl.Errorf(patchctl.CodeNotFound,
		"argocd application %s has no deployment of another revision before %s", app.Name, clip(app.History[cur].Revision))
}
