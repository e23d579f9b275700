package argocdtest

import "time"

// AutoSyncEnabled reports whether spec.syncPolicy.automated is present and
// not disabled with enabled: false, the condition on which Argo CD refuses
// a rollback.
func AutoSyncEnabled(a App) bool {
	auto, ok := dig(a, "spec", "syncPolicy", "automated").(map[string]any)
	if !ok {
		return false
	}
	enabled, set := auto["enabled"].(bool)
	return !set || enabled
}

// SetAutoSync turns automated sync (with prune and self-heal) on, or
// removes it, keeping the rest of the sync policy.
func SetAutoSync(a App, on bool) {
	policy := ensure(ensure(a, "spec"), "syncPolicy")
	if on {
		policy["automated"] = map[string]any{"prune": true, "selfHeal": true}
		return
	}
	delete(policy, "automated")
}

// Source is an application source (a git path or a Helm chart).
type Source struct {
	RepoURL        string
	Path           string
	Chart          string
	TargetRevision string
}

func (s Source) doc() map[string]any {
	m := map[string]any{"repoURL": s.RepoURL}
	if s.Path != "" {
		m["path"] = s.Path
	}
	if s.Chart != "" {
		m["chart"] = s.Chart
	}
	if s.TargetRevision != "" {
		m["targetRevision"] = s.TargetRevision
	}
	return m
}

// SetSource replaces spec.source (and removes spec.sources).
func SetSource(a App, s Source) {
	spec := ensure(a, "spec")
	delete(spec, "sources")
	spec["source"] = s.doc()
}

// History is one deployment history entry.
type History struct {
	ID         int64
	Revision   string
	DeployedAt time.Time
	Source     Source
}

// SetHistory replaces status.history.
func SetHistory(a App, entries ...History) {
	var hist []any
	for _, h := range entries {
		at := h.DeployedAt.UTC().Format(time.RFC3339)
		hist = append(hist, map[string]any{
			"id": h.ID, "revision": h.Revision, "source": h.Source.doc(),
			"deployStartedAt": at, "deployedAt": at,
		})
	}
	ensure(a, "status")["history"] = hist
}

// SetSync sets status.sync.
func SetSync(a App, status, revision string) {
	sync := ensure(ensure(a, "status"), "sync")
	sync["status"], sync["revision"] = status, revision
}

// SetHealth sets status.health.
func SetHealth(a App, status string) {
	ensure(ensure(a, "status"), "health")["status"] = status
}

// SetOperationState sets status.operationState of a sync operation of
// revision in the given phase; finished is zero while it runs.
func SetOperationState(a App, phase, revision string, started, finished time.Time) {
	state := map[string]any{
		"phase":     phase,
		"startedAt": started.UTC().Format(time.RFC3339),
		"operation": map[string]any{"sync": map[string]any{"revision": revision}},
	}
	if !finished.IsZero() {
		state["finishedAt"] = finished.UTC().Format(time.RFC3339)
		state["syncResult"] = map[string]any{"revision": revision}
	}
	ensure(a, "status")["operationState"] = state
}
