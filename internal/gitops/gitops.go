// Package gitops is the GitOps loop: it maps what GitHub and Argo CD report
// onto patches, and carries out what people decide.
//
//   - Webhook deliveries (pull requests, reviews, checks, deployments,
//     pushes, alerts, advisories; Argo CD notifications) become evidence on
//     the patches they are about, and the patch is moved forward as far as
//     the event is about when every gate agrees (HandleGitHub,
//     HandleArgoCD). Each delivery is recorded with its outcome in the
//     transaction of its effects.
//   - A reconcile timer re-reads in-flight patches' pull requests, reviews
//     and check runs and the mapped Argo CD applications, so that a lost
//     webhook does not leave a patch stuck.
//   - Rollback decisions (service.Rollback writes rollback.requested to the
//     outbox) are picked up by a timer and carried out once: an Argo CD
//     rollback to the history entry of the previous stable version, or a
//     revert pull request on the deployment repository.
//   - People open a patch's branch and draft pull request (OpenBranch),
//     link Terraform plans and states (ImportPlan, ImportState) and record
//     Helm release history as stable versions (ImportHelmHistory).
//
// Every change goes through internal/service, as system:github or
// system:argocd for automation and as the person for what people ask, so it
// is authorised, gated and audited like any other: automation records
// evidence and attempts transitions; it never skips a gate, never signs
// off, never decides a rollback.
//
// docs/GITOPS.md describes the matching rules (pull request to patch, CI
// run to environment, Argo CD sync to patch) and the setup.
package gitops

import (
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/config"
	"github.com/patchctl/patchctl/internal/integration/argocd"
	"github.com/patchctl/patchctl/internal/integration/github"
	"github.com/patchctl/patchctl/internal/service"
)

// Sources of deliveries and evidence.
const (
	SourceGitHub    = "github"
	SourceArgoCD    = "argocd"
	SourceTerraform = "terraform"
	SourceHelm      = "helm"
)

// The actors automation acts as.
var (
	actorGitHub = patchctl.SystemActor(SourceGitHub)
	actorArgoCD = patchctl.SystemActor(SourceArgoCD)
)

// Options tune a Loop beyond the configuration.
type Options struct {
	Logger *slog.Logger
	// Getenv reads the environment variables the configuration names for
	// secrets; nil means os.Getenv.
	Getenv func(string) string
	// Findings receives GitHub vulnerability alerts (serve passes the
	// intake). While it is nil, alert deliveries are recorded as unmatched.
	Findings FindingSink
	// GitHubHTTPClient and ArgoCDHTTPClient replace the clients' default
	// transports (tests, custom CA pools).
	GitHubHTTPClient *http.Client
	ArgoCDHTTPClient *http.Client
	// CloneURL returns the git URL to clone a repository (owner/name) from
	// for revert pull requests. nil derives it from the GitHub API URL:
	// https://github.com/owner/name.git with the token as credentials.
	CloneURL func(repo string) string
	// OutboxPoll is how often rollback requests are looked for (default 5s).
	OutboxPoll time.Duration
	// RollbackMaxAge is how old a rollback request may be and still be
	// carried out automatically (default 1h); an older one is recorded as
	// refused and on-call is paged to redeploy by hand.
	RollbackMaxAge time.Duration
	// Wake, when set, is called after work was scheduled, so that the
	// scheduler looks for due timers at once.
	Wake func()
}

// Loop is the GitOps loop. It is safe for concurrent use.
type Loop struct {
	svc  *service.Service
	log  *slog.Logger
	opts Options

	mu   sync.Mutex
	gh   *github.Client
	ghAt string // the settings gh was built with
	ar   *argocd.Client
	arAt string
}

// New returns the loop over the service. Clients are built on first use
// from the configuration in force, so that a missing token fails only the
// operations that need it, with a message naming the variable.
func New(svc *service.Service, opts Options) *Loop {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.OutboxPoll <= 0 {
		opts.OutboxPoll = 5 * time.Second
	}
	if opts.RollbackMaxAge <= 0 {
		opts.RollbackMaxAge = time.Hour
	}
	return &Loop{svc: svc, log: opts.Logger.With("component", "gitops"), opts: opts}
}

func (l *Loop) cfg() *config.Config { return l.svc.Config() }

// secret reads the environment variable env names, trimmed.
func (l *Loop) secret(env string) string {
	if env == "" {
		return ""
	}
	return strings.TrimSpace(l.opts.Getenv(env))
}

// GitHubWebhookSecret returns the GitHub webhook secret and the name of the
// environment variable it comes from.
func (l *Loop) GitHubWebhookSecret() (secret []byte, env string) {
	env = l.cfg().Integrations.GitHub.WebhookSecretEnv
	return []byte(l.secret(env)), env
}

// ArgoCDWebhookToken returns the shared secret Argo CD notifications carry
// and the name of the environment variable it comes from.
func (l *Loop) ArgoCDWebhookToken() (token, env string) {
	env = l.cfg().Integrations.ArgoCD.WebhookTokenEnv
	return l.secret(env), env
}

// MaxWebhookBytes is the configured bound of a webhook body.
func (l *Loop) MaxWebhookBytes() int64 {
	if n := l.cfg().Server.MaxWebhookBytes; n > 0 {
		return n
	}
	return github.MaxPayloadBytes
}

// githubConfigured reports whether the REST API can be used.
func (l *Loop) githubConfigured() bool {
	return l.secret(l.cfg().Integrations.GitHub.TokenEnv) != ""
}

// argoConfigured reports whether the Argo CD API can be used.
func (l *Loop) argoConfigured() bool {
	a := l.cfg().Integrations.ArgoCD
	return a.URL != "" && l.secret(a.TokenEnv) != ""
}

// GitHub returns the REST client, or CodeUnavailable naming what is not
// configured.
func (l *Loop) GitHub() (*github.Client, error) {
	g := l.cfg().Integrations.GitHub
	token := l.secret(g.TokenEnv)
	if token == "" {
		return nil, patchctl.Errorf(patchctl.CodeUnavailable,
			"GitHub access is not configured: set the environment variable %s (integrations.github.token_env) to a token", orName(g.TokenEnv, "named by integrations.github.token_env"))
	}
	key := g.APIURL + "\x00" + token
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gh != nil && l.ghAt == key {
		return l.gh, nil
	}
	c, err := github.NewClient(github.Config{BaseURL: g.APIURL, Token: token, HTTPClient: l.opts.GitHubHTTPClient,
		UserAgent: "patchctl/" + patchctl.Version, Logger: l.log})
	if err != nil {
		return nil, err
	}
	l.gh, l.ghAt = c, key
	return c, nil
}

// ArgoCD returns the Argo CD client, or CodeUnavailable naming what is not
// configured.
func (l *Loop) ArgoCD() (*argocd.Client, error) {
	a := l.cfg().Integrations.ArgoCD
	if a.URL == "" {
		return nil, patchctl.Errorf(patchctl.CodeUnavailable, "Argo CD access is not configured: set integrations.argocd.url")
	}
	token := l.secret(a.TokenEnv)
	if token == "" {
		return nil, patchctl.Errorf(patchctl.CodeUnavailable,
			"Argo CD access is not configured: set the environment variable %s (integrations.argocd.token_env) to an API token", orName(a.TokenEnv, "named by integrations.argocd.token_env"))
	}
	key := a.URL + "\x00" + token
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ar != nil && l.arAt == key {
		return l.ar, nil
	}
	c, err := argocd.NewClient(argocd.Config{BaseURL: a.URL, Token: token, InsecureSkipVerify: a.InsecureSkipVerify && l.opts.ArgoCDHTTPClient == nil,
		HTTPClient: l.opts.ArgoCDHTTPClient})
	if err != nil {
		return nil, err
	}
	l.ar, l.arAt = c, key
	return c, nil
}

func orName(env, fallback string) string {
	if env == "" {
		return "(" + fallback + ")"
	}
	return env
}

// cloneURL is the git URL revert pull requests clone the deployment
// repository from.
func (l *Loop) cloneURL(repo string) (string, error) {
	if l.opts.CloneURL != nil {
		return l.opts.CloneURL(repo), nil
	}
	g := l.cfg().Integrations.GitHub
	token := l.secret(g.TokenEnv)
	if token == "" {
		return "", patchctl.Errorf(patchctl.CodeUnavailable, "cloning %s needs a GitHub token: set %s", repo, orName(g.TokenEnv, "integrations.github.token_env"))
	}
	web, err := webBase(g.APIURL)
	if err != nil {
		return "", err
	}
	web.User = url.UserPassword("x-access-token", token)
	web.Path = strings.TrimSuffix(web.Path, "/") + "/" + repo + ".git"
	return web.String(), nil
}

// webBase derives the web (and git) root from the REST API root:
// api.github.com serves github.com; GitHub Enterprise Server serves its API
// under /api/v3 of its own host.
func webBase(apiURL string) (*url.URL, error) {
	if apiURL == "" {
		apiURL = github.DefaultBaseURL
	}
	u, err := url.Parse(apiURL)
	if err != nil || u.Host == "" {
		return nil, patchctl.FieldError("integrations.github.api_url", "%q is not a URL", apiURL)
	}
	out := &url.URL{Scheme: u.Scheme, Host: u.Host}
	switch {
	case strings.EqualFold(u.Host, "api.github.com"):
		out.Host = "github.com"
	default:
		out.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/api/v3")
	}
	return out, nil
}

// wake tells the scheduler that work was scheduled.
func (l *Loop) wake() {
	if l.opts.Wake != nil {
		l.opts.Wake()
	}
}

// short abbreviates a commit for summaries.
func short(sha string) string {
	if len(sha) > 12 && isHex(sha) {
		return sha[:12]
	}
	return sha
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
