// Package config loads patchctl's configuration: the policy that codifies the
// team's SOP (classification rules, SLAs, environments, clusters, maintenance
// windows, roles, the SOP's own metadata) and the server settings.
//
// Layers, lowest first: built-in defaults < patchctl.yaml < PATCHCTL_*
// environment < command-line flags. Load reports every problem at once, each
// with the file, line and field it concerns. Semantic checks that need other
// packages (CEL rules compile, RRULEs parse) are added by their owners through
// Problems, so that `patchctl config validate` lists everything together.
package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Config is the whole configuration.
type Config struct {
	// PolicyVersion is an optional label for this policy revision (e.g. a git
	// tag). The effective policy version is this label, if set, followed by a
	// content hash; every patch records the version that classified it.
	PolicyVersion string `yaml:"policy_version" json:"policy_version,omitempty"`

	SOP            SOP            `yaml:"sop" json:"sop"`
	Server         Server         `yaml:"server" json:"-"`
	Classification Classification `yaml:"classification" json:"classification"`
	SLA            SLA            `yaml:"sla" json:"sla"`
	Environments   []Environment  `yaml:"environments" json:"environments"`
	Clusters       []Cluster      `yaml:"clusters" json:"clusters"`
	Soak           Duration       `yaml:"soak" json:"soak"`
	Windows        []Window       `yaml:"windows" json:"windows"`
	// AnnounceLeadTime is how long before a maintenance window the team must
	// have been told.
	AnnounceLeadTime Duration `yaml:"announce_lead_time" json:"announce_lead_time"`
	// Roles assigns roles to people by name; the local CLI acts with the role
	// assigned to the OS user (or --as).
	Roles map[string]string `yaml:"roles" json:"roles,omitempty"`
	// Grouping decides how findings become patches (see internal/intake).
	Grouping Grouping `yaml:"grouping" json:"grouping"`
	// Assets maps asset name patterns to groups and patch targets.
	Assets []AssetRule `yaml:"assets" json:"assets,omitempty"`
	// Feeds configures scheduled enrichment downloads.
	Feeds Feeds `yaml:"feeds" json:"feeds"`
	// Integrations configures GitHub, Argo CD and the like.
	Integrations Integrations `yaml:"integrations" json:"-"`

	// source locates fields in the file for error messages.
	source *source
}

// SOP is the process document's own metadata.
type SOP struct {
	DocumentID string `yaml:"document_id" json:"document_id"`
	Title      string `yaml:"title" json:"title"`
	Owner      string `yaml:"owner" json:"owner"`
	// ReviewCycle is "semi-annual", "annual", "quarterly" or a duration.
	ReviewCycle string `yaml:"review_cycle" json:"review_cycle"`
	LastReview  Date   `yaml:"last_review" json:"last_review"`
	Effective   Date   `yaml:"effective" json:"effective"`
}

// Server holds the settings of `patchctl serve` and of the local CLI.
type Server struct {
	Listen   string `yaml:"listen"`
	Database string `yaml:"database"`
	// BaseURL is the externally visible URL (links in notifications, PR bodies).
	BaseURL string `yaml:"base_url"`
	// LogFormat is auto (text on a terminal, JSON otherwise), text or json.
	LogFormat string `yaml:"log_format"`
	LogLevel  string `yaml:"log_level"`
	// MaxUploadBytes bounds scanner report uploads.
	MaxUploadBytes int64 `yaml:"max_upload_bytes"`
	// MaxWebhookBytes bounds webhook bodies.
	MaxWebhookBytes int64 `yaml:"max_webhook_bytes"`
	// TLS, when both are set, serves HTTPS (session cookies become Secure).
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
}

// Classification lists the rules that set a patch's priority.
type Classification struct {
	Rules []Rule `yaml:"rules" json:"rules"`
	// Default is the priority when no rule matches.
	Default string `yaml:"default" json:"default"`
}

// Rule is one classification rule: a CEL expression over a trigger's
// attributes. Rules are tried most urgent priority first; the first that
// matches sets the priority and is recorded with the patch.
type Rule struct {
	Name     string `yaml:"name" json:"name"`
	Priority string `yaml:"priority" json:"priority"`
	When     string `yaml:"when" json:"when"`
}

// SLA holds the due-time policy per priority.
type SLA struct {
	Emergency Duration `yaml:"emergency" json:"emergency"`
	High      Duration `yaml:"high" json:"high"`
	// RoutineFallback applies to routine patches whose target no maintenance
	// window covers.
	RoutineFallback Duration `yaml:"routine_fallback" json:"routine_fallback"`
	// WarnBefore is how long before the due time an SLA counts as approaching.
	WarnBefore Duration `yaml:"warn_before" json:"warn_before"`
}

// Environment is one deployment environment, in promotion order.
type Environment struct {
	Name       string `yaml:"name" json:"name"`
	Production bool   `yaml:"production" json:"production"`
}

// Cluster is a Kubernetes cluster with its role in the rollout order.
type Cluster struct {
	Name string `yaml:"name" json:"name"`
	// Role is "management" (upgraded first, then soaked) or "main".
	Role      string   `yaml:"role" json:"role"`
	Project   string   `yaml:"project" json:"project,omitempty"`
	Location  string   `yaml:"location" json:"location,omitempty"`
	NodePools []string `yaml:"node_pools" json:"node_pools"`
}

// Cluster roles.
const (
	ClusterManagement = "management"
	ClusterMain       = "main"
)

// Window is a recurring maintenance window in a simple RRULE form.
type Window struct {
	Name string `yaml:"name" json:"name"`
	// RRule is an RFC 5545 recurrence rule without DTSTART, e.g.
	// "FREQ=WEEKLY;BYDAY=TU;BYHOUR=22;BYMINUTE=0".
	RRule string `yaml:"rrule" json:"rrule"`
	// Start anchors the recurrence (DTSTART) in Timezone; default 2026-01-01T00:00.
	Start    string   `yaml:"start" json:"start,omitempty"`
	Timezone string   `yaml:"timezone" json:"timezone"`
	Duration Duration `yaml:"duration" json:"duration"`
	// Scope limits the window to some targets; empty covers everything.
	Scope WindowScope `yaml:"scope" json:"scope"`
}

// WindowScope says which targets a window covers. Each non-empty list must
// match; empty lists match anything.
type WindowScope struct {
	Kinds        []string `yaml:"kinds" json:"kinds,omitempty"`
	Applications []string `yaml:"applications" json:"applications,omitempty"`
	Systems      []string `yaml:"systems" json:"systems,omitempty"`
	Clusters     []string `yaml:"clusters" json:"clusters,omitempty"`
}

// Grouping is the rule that turns findings into patches.
type Grouping struct {
	// By is "asset_group_package_fix" (default): one patch per asset group,
	// package and fixed version.
	By string `yaml:"by" json:"by"`
	// Kind of the patches created (default application).
	Kind string `yaml:"kind" json:"kind"`
}

// AssetRule maps assets whose name matches Match (a path.Match glob) to a
// group and the patch target used for patches created from their findings.
type AssetRule struct {
	Match       string `yaml:"match" json:"match"`
	Group       string `yaml:"group" json:"group"`
	Application string `yaml:"application" json:"application,omitempty"`
	System      string `yaml:"system" json:"system,omitempty"`
	Repository  string `yaml:"repository" json:"repository,omitempty"`
	Owner       string `yaml:"owner" json:"owner,omitempty"`
}

// Feeds configures scheduled enrichment downloads.
type Feeds struct {
	KEVURL   string   `yaml:"kev_url" json:"kev_url,omitempty"`
	EPSSURL  string   `yaml:"epss_url" json:"epss_url,omitempty"`
	Interval Duration `yaml:"interval" json:"interval"`
}

// Integrations configures the external systems patchctl talks to.
type Integrations struct {
	GitHub GitHub `yaml:"github"`
	ArgoCD ArgoCD `yaml:"argocd"`
}

// GitHub integration settings. Secrets are read from the environment
// variables named here, never stored in the file.
type GitHub struct {
	APIURL           string   `yaml:"api_url"`
	TokenEnv         string   `yaml:"token_env"`
	WebhookSecretEnv string   `yaml:"webhook_secret_env"`
	Repositories     []string `yaml:"repositories"`
	// ReconcileInterval is how often open PRs are re-read to catch lost
	// webhooks.
	ReconcileInterval Duration `yaml:"reconcile_interval"`
}

// ArgoCD integration settings.
type ArgoCD struct {
	URL             string `yaml:"url"`
	TokenEnv        string `yaml:"token_env"`
	WebhookTokenEnv string `yaml:"webhook_token_env"`
	// RollbackMode is "argocd" (roll back to the history id) or "revert_pr"
	// (a revert pull request on the deployment repository).
	RollbackMode string `yaml:"rollback_mode"`
	// DisableAutoSyncOnRollback allows patchctl to turn automated sync off
	// before an Argo CD rollback, which Argo CD otherwise refuses.
	DisableAutoSyncOnRollback bool `yaml:"disable_auto_sync_on_rollback"`
	InsecureSkipVerify        bool `yaml:"insecure_skip_verify"`
	// Applications maps Argo CD application names to an application and
	// environment of patchctl.
	Applications []ArgoApp `yaml:"applications"`
	// DeployRepository is the GitOps repository for revert pull requests.
	DeployRepository string `yaml:"deploy_repository"`
}

// ArgoApp maps one Argo CD application.
type ArgoApp struct {
	Name        string `yaml:"name"`
	Application string `yaml:"application"`
	Environment string `yaml:"environment"`
	// HelmRelease names the Helm release deployed by the app, for history.
	HelmRelease string `yaml:"helm_release"`
}

// PolicyHash returns a short content hash of the policy part of the config
// (everything that can change a classification, an SLA or a gate).
func (c *Config) PolicyHash() string {
	b, _ := json.Marshal(struct {
		Classification Classification `json:"c"`
		SLA            SLA            `json:"s"`
		Environments   []Environment  `json:"e"`
		Clusters       []Cluster      `json:"k"`
		Soak           Duration       `json:"o"`
		Windows        []Window       `json:"w"`
		Announce       Duration       `json:"a"`
		Grouping       Grouping       `json:"g"`
	}{c.Classification, c.SLA, c.Environments, c.Clusters, c.Soak, c.Windows, c.AnnounceLeadTime, c.Grouping})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:12]
}

// EffectivePolicyVersion is the label (if any) and the content hash.
func (c *Config) EffectivePolicyVersion() string {
	if c.PolicyVersion != "" {
		return c.PolicyVersion + "+" + c.PolicyHash()
	}
	return c.PolicyHash()
}

// Environment returns the environment named name.
func (c *Config) Environment(name string) (Environment, bool) {
	for _, e := range c.Environments {
		if e.Name == name {
			return e, true
		}
	}
	return Environment{}, false
}

// ProductionEnvironment returns the name of the production environment,
// or "production" when none is marked (which Validate refuses).
func (c *Config) ProductionEnvironment() string {
	for _, e := range c.Environments {
		if e.Production {
			return e.Name
		}
	}
	return "production"
}

// Cluster returns the cluster named name.
func (c *Config) Cluster(name string) (Cluster, bool) {
	for _, k := range c.Clusters {
		if k.Name == name {
			return k, true
		}
	}
	return Cluster{}, false
}

// ReviewDue returns when the SOP's next review is due, or false if the
// metadata does not say.
func (c *Config) ReviewDue() (time.Time, bool) {
	if c.SOP.LastReview.IsZero() {
		return time.Time{}, false
	}
	cycle, ok := ReviewCycleDuration(c.SOP.ReviewCycle)
	if !ok {
		return time.Time{}, false
	}
	return cycle(c.SOP.LastReview.Time), true
}

// ReviewCycleDuration maps a review cycle to a function adding one cycle.
func ReviewCycleDuration(s string) (func(time.Time) time.Time, bool) {
	switch s {
	case "semi-annual", "semiannual", "semi-annually", "6 months":
		return func(t time.Time) time.Time { return t.AddDate(0, 6, 0) }, true
	case "annual", "yearly", "12 months":
		return func(t time.Time) time.Time { return t.AddDate(1, 0, 0) }, true
	case "quarterly", "3 months":
		return func(t time.Time) time.Time { return t.AddDate(0, 3, 0) }, true
	case "monthly":
		return func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }, true
	}
	if d, err := ParseDuration(s); err == nil && d > 0 {
		return func(t time.Time) time.Time { return t.Add(d) }, true
	}
	return nil, false
}

// Warnings returns non-fatal observations about the config at now, such as an
// overdue SOP review.
func (c *Config) Warnings(now time.Time) []string {
	var w []string
	if due, ok := c.ReviewDue(); ok && now.After(due) {
		w = append(w, "SOP "+c.SOP.DocumentID+" review is overdue: last reviewed "+
			c.SOP.LastReview.Format("2006-01-02")+", "+c.SOP.ReviewCycle+" review was due "+due.Format("2006-01-02"))
	}
	return w
}
