package gitops

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/config"
	"github.com/patchctl/patchctl/internal/lifecycle"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
)

// outcome collects what a delivery (or a reconcile pass) did, for the
// delivery record and the logs.
type outcome struct {
	lines   []string
	skipped []string
	keys    []string
	acted   bool
}

// did notes an effect on a patch.
func (o *outcome) did(key, format string, args ...any) {
	o.acted = true
	if !slices.Contains(o.keys, key) {
		o.keys = append(o.keys, key)
	}
	o.lines = append(o.lines, key+": "+fmt.Sprintf(format, args...))
}

// skip notes why a candidate patch was left alone.
func (o *outcome) skip(format string, args ...any) {
	o.skipped = append(o.skipped, fmt.Sprintf(format, args...))
}

// advanced notes the result of an attempted transition.
func (o *outcome) advanced(p *patchctl.Patch, adv *service.Advance) {
	switch {
	case adv == nil:
	case len(adv.Steps) > 0 && adv.Refused != nil:
		o.did(p.Key, "%s → %s; stays %s: %s", adv.From, adv.To, adv.To, adv.Missing())
	case len(adv.Steps) > 0:
		o.did(p.Key, "%s → %s", adv.From, adv.To)
	case adv.Refused != nil:
		o.did(p.Key, "stays %s (%s refused by %s)", adv.From, adv.Refused.To, adv.Missing())
	}
}

// finish writes the outcome into the delivery: processed when a patch was
// touched, else unmatched with why.
func (o *outcome) finish(d *store.Delivery, unmatched string) {
	d.PatchKeys = o.keys
	parts := o.lines
	if !o.acted {
		d.Status = store.DeliveryUnmatched
		parts = append([]string{unmatched}, o.skipped...)
	} else {
		d.Status = store.DeliveryProcessed
		if len(o.skipped) > 0 {
			parts = append(parts, "skipped: "+strings.Join(o.skipped, "; "))
		}
	}
	d.Summary = strings.Join(parts, "\n")
}

// openPatches loads the patches named by keys that may take evidence from
// repo: they exist, are open, and name no other repository
// (target.repository, when set, must be repo).
func openPatches(ctx context.Context, au *service.Automation, keys []string, repo string, o *outcome) ([]*patchctl.Patch, error) {
	var out []*patchctl.Patch
	for _, key := range keys {
		p, err := au.Patch(ctx, key)
		switch {
		case patchctl.ErrorCode(err) == patchctl.CodeNotFound:
			o.skip("%s does not exist", key)
			continue
		case err != nil:
			return nil, err
		}
		if keep(p, repo, o) {
			out = append(out, p)
		}
	}
	return out, nil
}

// keep reports whether a candidate patch may take evidence from repo.
func keep(p *patchctl.Patch, repo string, o *outcome) bool {
	if p.State.Terminal() {
		o.skip("%s is %s", p.Key, p.State)
		return false
	}
	if repo != "" && p.Target.Repository != "" && !strings.EqualFold(p.Target.Repository, repo) {
		o.skip("%s is about repository %s, not %s", p.Key, p.Target.Repository, repo)
		return false
	}
	return true
}

// union appends the patches of more that are not in ps (by id).
func union(ps []*patchctl.Patch, more ...*patchctl.Patch) []*patchctl.Patch {
	for _, p := range more {
		if !slices.ContainsFunc(ps, func(q *patchctl.Patch) bool { return q.ID == p.ID }) {
			ps = append(ps, p)
		}
	}
	return ps
}

// repoAllowed reports whether deliveries from repo are accepted: any
// repository when integrations.github.repositories is empty, else only the
// listed ones and the deployment repository
// (integrations.argocd.deploy_repository), ignoring case as GitHub does.
func repoAllowed(cfg *config.Config, repo string) bool {
	list := cfg.Integrations.GitHub.Repositories
	if len(list) == 0 || strings.EqualFold(repo, cfg.Integrations.ArgoCD.DeployRepository) {
		return true
	}
	return slices.ContainsFunc(list, func(r string) bool { return strings.EqualFold(r, repo) })
}

// EnvironmentOf returns the configured environment a CI run's name
// names, or "" when none or several do. An environment is named when its
// name appears in the run's name as whole words, ignoring case: words are
// runs of letters and digits, so "Staging tests", "e2e-staging" and
// "deploy / staging" name staging, "prestaging" and "prod-smoke" name
// nothing (production is not prod). This is the rule that turns a
// workflow or check run into automated test evidence for an environment.
func EnvironmentOf(envs []config.Environment, name string) string {
	words := wordsOf(name)
	found := ""
	for _, e := range envs {
		if hasWords(words, wordsOf(e.Name)) {
			if found != "" && found != e.Name {
				return ""
			}
			found = e.Name
		}
	}
	return found
}

// hasWord reports whether name contains word as a whole word.
func hasWord(name, word string) bool { return hasWords(wordsOf(name), wordsOf(word)) }

func wordsOf(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// hasWords reports whether seq occurs in words as a contiguous run.
func hasWords(words, seq []string) bool {
	if len(seq) == 0 || len(seq) > len(words) {
		return false
	}
	for i := 0; i+len(seq) <= len(words); i++ {
		if slices.Equal(words[i:i+len(seq)], seq) {
			return true
		}
	}
	return false
}

// environment returns the configured environment called name (exactly,
// else ignoring case).
func environment(cfg *config.Config, name string) (config.Environment, bool) {
	if e, ok := cfg.Environment(name); ok {
		return e, true
	}
	for _, e := range cfg.Environments {
		if strings.EqualFold(e.Name, name) {
			return e, true
		}
	}
	return config.Environment{}, false
}

// targets reports whether p deploys to env.
func targets(p *patchctl.Patch, env string) bool {
	return len(p.Target.Environments) == 0 || slices.Contains(p.Target.Environments, env)
}

// ceilingFor is the state a deployment to env can bring a patch to:
// production for the production environment, staging for the others.
func ceilingFor(cfg *config.Config, env string) patchctl.State {
	if e, ok := cfg.Environment(env); ok && e.Production {
		return patchctl.StateProduction
	}
	return patchctl.StateStaging
}

// shipsVersion reports whether p ships version: its own version, or a
// version its merge evidence names.
func shipsVersion(p *patchctl.Patch, ev []patchctl.Evidence, version string) bool {
	if version == "" {
		return false
	}
	if p.Version == version {
		return true
	}
	return slices.ContainsFunc(ev, func(e patchctl.Evidence) bool { return e.Kind == patchctl.EvidenceMerge && e.Version == version })
}

// reached reports whether p is at or past state on its SOP path.
func reached(p *patchctl.Patch, state patchctl.State) bool {
	path := lifecycle.Path(p.Kind, p.Target.Downtime)
	i, at := slices.Index(path, state), slices.Index(path, p.State)
	return i >= 0 && at >= i
}

// hasKind reports whether ev holds evidence of kind.
func hasKind(ev []patchctl.Evidence, kind patchctl.EvidenceKind) bool {
	return slices.ContainsFunc(ev, func(e patchctl.Evidence) bool { return e.Kind == kind })
}

// argoApp returns the Argo CD application mapping called name.
func argoApp(cfg *config.Config, name string) (config.ArgoApp, bool) {
	for _, a := range cfg.Integrations.ArgoCD.Applications {
		if a.Name == name {
			return a, true
		}
	}
	return config.ArgoApp{}, false
}

// argoAppFor returns the Argo CD application that deploys application to
// env.
func argoAppFor(cfg *config.Config, application, env string) (config.ArgoApp, bool) {
	for _, a := range cfg.Integrations.ArgoCD.Applications {
		if a.Application == application && a.Environment == env {
			return a, true
		}
	}
	return config.ArgoApp{}, false
}
