// Package argocd talks to Argo CD: it reads the notifications Argo CD sends
// through the webhook service patchctl ships (deploy/argocd), and it calls
// the Argo CD REST API to read an Application's status and deployment
// history, roll an Application back to a history entry, and turn automated
// sync off when an operator has confirmed it.
//
// It uses its own small structs over net/http; the Argo CD Go modules are
// not importable as a library at a reasonable cost (see
// shared/DEPENDENCIES.md). It imports neither the store nor any other
// integration. Errors a caller can see are *patchctl.Error.
//
// The notification payload is patchctl's own: Argo CD renders it from the
// templates in deploy/argocd/argocd-notifications-cm.yaml, one per trigger,
// and sends it with a shared-secret header (TokenHeader) that VerifyToken
// checks in constant time.
package argocd

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/jsonerr"
	"github.com/patchctl/patchctl/internal/textutil"
)

// TokenHeader carries the shared secret Argo CD sends with each
// notification ($patchctl-token from argocd-notifications-secret).
const TokenHeader = "X-Patchctl-Token"

// Schema identifies the payload version the shipped templates render.
const Schema = "patchctl.argocd.v1"

// MaxNotificationBytes bounds a notification body. The payload is a few
// hundred bytes; anything near this limit is not from patchctl's template.
const MaxNotificationBytes = 64 << 10

// Trigger names an Argo CD notification trigger, as the body names it
// (the catalog's trigger name; the ConfigMap's trigger keys add a patchctl-
// prefix so that they do not replace the catalog's).
type Trigger string

// Triggers the shipped configuration subscribes to.
const (
	TriggerSyncRunning    Trigger = "on-sync-running"
	TriggerSyncSucceeded  Trigger = "on-sync-succeeded"
	TriggerSyncFailed     Trigger = "on-sync-failed"
	TriggerDeployed       Trigger = "on-deployed"
	TriggerHealthDegraded Trigger = "on-health-degraded"
)

// Triggers lists the triggers ParseNotification accepts.
var Triggers = []Trigger{TriggerSyncRunning, TriggerSyncSucceeded, TriggerSyncFailed, TriggerDeployed, TriggerHealthDegraded}

func (t Trigger) valid() bool {
	for _, k := range Triggers {
		if t == k {
			return true
		}
	}
	return false
}

// Notification is one parsed notification.
type Notification struct {
	Trigger Trigger
	// App is the Application's name, AppNamespace the namespace the
	// Application object lives in (where Argo CD runs, or another namespace
	// with apps-in-any-namespace).
	App          string
	AppNamespace string
	Project      string
	// Destination of the Application.
	DestinationServer    string
	DestinationName      string
	DestinationNamespace string
	// Source of the Application (the first source of a multi-source one).
	RepoURL        string
	Path           string
	Chart          string
	TargetRevision string
	SyncStatus     string // Synced, OutOfSync, Unknown
	HealthStatus   string // Healthy, Progressing, Degraded, Suspended, Missing, Unknown
	// Revision is the revision the notification is about: the revision of
	// the last sync operation, else the revision Argo CD compared against.
	Revision          string
	SyncRevision      string
	SyncRevisions     []string // multi-source applications
	OperationPhase    string   // Running, Succeeded, Failed, Error, Terminating; "" without an operation
	OperationMessage  string
	OperationRevision string
	// OperationRevisions holds the revisions of a multi-source sync.
	OperationRevisions []string
	StartedAt          time.Time
	FinishedAt         time.Time
	// HistoryID is the id of the Application's latest deployment history
	// entry and HistoryRevision its revision; HasHistory is false when the
	// Application has no history yet. During a running sync the latest entry
	// is the previous deployment.
	HistoryID         int64
	HasHistory        bool
	HistoryRevision   string
	HistoryDeployedAt time.Time
	AutoSync          bool
	ArgoCDURL         string
}

type wireNotification struct {
	Schema               *string  `json:"schema"`
	Trigger              string   `json:"trigger"`
	App                  string   `json:"app"`
	AppNamespace         string   `json:"app_namespace"`
	Project              string   `json:"project"`
	DestinationServer    string   `json:"destination_server"`
	DestinationName      string   `json:"destination_name"`
	DestinationNamespace string   `json:"destination_namespace"`
	RepoURL              string   `json:"repo_url"`
	Path                 string   `json:"path"`
	Chart                string   `json:"chart"`
	TargetRevision       string   `json:"target_revision"`
	SyncStatus           string   `json:"sync_status"`
	SyncRevision         string   `json:"sync_revision"`
	SyncRevisions        []string `json:"sync_revisions"`
	HealthStatus         string   `json:"health_status"`
	OperationPhase       string   `json:"operation_phase"`
	OperationMessage     string   `json:"operation_message"`
	OperationRevision    string   `json:"operation_revision"`
	OperationRevisions   []string `json:"operation_revisions"`
	StartedAt            string   `json:"started_at"`
	FinishedAt           string   `json:"finished_at"`
	HistoryID            *int64   `json:"history_id"`
	HistoryRevision      string   `json:"history_revision"`
	HistoryDeployedAt    string   `json:"history_deployed_at"`
	AutoSync             bool     `json:"auto_sync"`
	ArgoCDURL            string   `json:"argocd_url"`
}

// ParseNotification reads a body rendered by the shipped templates. It
// refuses bodies of another schema, unknown triggers and bodies without an
// application name (CodeInvalid), and bodies over MaxNotificationBytes
// (CodeTooLarge). Verify the token (VerifyToken) before parsing.
func ParseNotification(body []byte) (*Notification, error) {
	if len(body) > MaxNotificationBytes {
		return nil, patchctl.Errorf(patchctl.CodeTooLarge, "argocd notification is larger than %d bytes", MaxNotificationBytes)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, patchctl.Errorf(patchctl.CodeInvalid, "argocd notification body is empty")
	}
	var w wireNotification
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, jsonError(body, "argocd notification", err)
	}
	switch {
	case w.Schema == nil:
		return nil, patchctl.FieldError("schema", "missing: this body was not rendered by patchctl's notification template (deploy/argocd)")
	case *w.Schema != Schema:
		return nil, patchctl.FieldError("schema", "%q is not %q: update the templates from deploy/argocd or patchctl", clip(*w.Schema), Schema)
	case !Trigger(w.Trigger).valid():
		return nil, patchctl.FieldError("trigger", "%q is not a trigger patchctl subscribes to", clip(w.Trigger))
	case w.App == "":
		return nil, patchctl.FieldError("app", "missing application name")
	case w.HistoryID != nil && *w.HistoryID < 0:
		return nil, patchctl.FieldError("history_id", "must not be negative, found %d", *w.HistoryID)
	}
	n := &Notification{
		Trigger:              Trigger(w.Trigger),
		App:                  w.App,
		AppNamespace:         w.AppNamespace,
		Project:              w.Project,
		DestinationServer:    w.DestinationServer,
		DestinationName:      w.DestinationName,
		DestinationNamespace: w.DestinationNamespace,
		RepoURL:              w.RepoURL,
		Path:                 w.Path,
		Chart:                w.Chart,
		TargetRevision:       w.TargetRevision,
		SyncStatus:           w.SyncStatus,
		HealthStatus:         w.HealthStatus,
		SyncRevision:         w.SyncRevision,
		SyncRevisions:        nonEmpty(w.SyncRevisions),
		OperationPhase:       w.OperationPhase,
		OperationMessage:     w.OperationMessage,
		OperationRevision:    w.OperationRevision,
		OperationRevisions:   nonEmpty(w.OperationRevisions),
		HistoryRevision:      w.HistoryRevision,
		AutoSync:             w.AutoSync,
		ArgoCDURL:            w.ArgoCDURL,
	}
	if w.HistoryID != nil {
		n.HistoryID, n.HasHistory = *w.HistoryID, true
	}
	n.Revision = n.OperationRevision
	if n.Revision == "" {
		n.Revision = n.SyncRevision
	}
	for _, f := range []struct {
		field string
		in    string
		out   *time.Time
	}{
		{"started_at", w.StartedAt, &n.StartedAt},
		{"finished_at", w.FinishedAt, &n.FinishedAt},
		{"history_deployed_at", w.HistoryDeployedAt, &n.HistoryDeployedAt},
	} {
		t, err := parseTime(f.in)
		if err != nil {
			return nil, patchctl.FieldError(f.field, "%q is not an RFC 3339 time", clip(f.in))
		}
		*f.out = t
	}
	return n, nil
}

// VerifyToken checks the TokenHeader value against the configured secret
// in constant time. A missing or wrong token is CodeUnauthorized, and so is
// every request while no secret is configured: an empty secret would let
// anyone in.
func VerifyToken(header, expected string) error {
	if expected == "" {
		return &patchctl.Error{
			Code:    patchctl.CodeUnauthorized,
			Message: "argocd webhook refused: no shared secret is configured",
			Err:     errors.New("argocd webhook secret is empty; set it before accepting notifications"),
		}
	}
	// Comparing digests keeps the time independent of the lengths too.
	got, want := sha256.Sum256([]byte(header)), sha256.Sum256([]byte(expected))
	if header == "" || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return patchctl.Errorf(patchctl.CodeUnauthorized, "argocd webhook refused: missing or wrong %s", TokenHeader)
	}
	return nil
}

// parseTime reads Kubernetes' RFC 3339 times; "" is the zero time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

func nonEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// clip shortens a value quoted in a message.
func clip(s string) string { return textutil.Clip(s, 80) }

// jsonError names where JSON input is bad.
func jsonError(data []byte, what string, err error) error {
	if pe, ok := jsonerr.Describe(data, 0, what, err); ok {
		return pe
	}
	return patchctl.Errorf(patchctl.CodeInvalid, "%s: %s", what, clip(err.Error()))
}
