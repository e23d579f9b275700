package gitops

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/integration/argocd"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
	"github.com/patchctl/patchctl/internal/textutil"
)

// observation is what an Argo CD notification or a read of the
// Application says about one application at one revision.
type observation struct {
	App       string
	Trigger   string // the notification trigger; "reconcile" for a read
	Revision  string
	Phase     string // operation phase
	Health    string
	Sync      string
	Message   string
	HistoryID int64
	HasHist   bool
	At        time.Time
	ArgoURL   string
	Via       string
}

func observe(n *argocd.Notification, via string) observation {
	at := n.FinishedAt
	if at.IsZero() {
		at = n.HistoryDeployedAt
	}
	return observation{App: n.App, Trigger: string(n.Trigger), Revision: n.Revision, Phase: n.OperationPhase, Health: n.HealthStatus,
		Sync: n.SyncStatus, Message: n.OperationMessage, HistoryID: n.HistoryID, HasHist: n.HasHistory, At: at, ArgoURL: n.ArgoCDURL, Via: via}
}

// DeliveryID is the id of an Argo CD notification, which carries none: the
// SHA-256 of its body. The body names the application, trigger, revision,
// operation times and history entry, so a replay has the same id and a new
// event a new one.
func DeliveryID(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// HandleArgoCD applies a verified, parsed Argo CD notification (body is the
// raw body, its id): deployment evidence for the mapped application and
// environment on the patches shipping the revision, the transitions it
// allows, a health alert to on-call, and the delivery record, in one
// transaction as system:argocd.
func (l *Loop) HandleArgoCD(ctx context.Context, n *argocd.Notification, body []byte) (*service.DeliveryResult, error) {
	id := DeliveryID(body)
	d := store.Delivery{Source: SourceArgoCD, DeliveryID: id, Event: "argocd", Action: string(n.Trigger), Repository: n.RepoURL}
	res, err := l.svc.Deliver(ctx, actorArgoCD, d, func(ctx context.Context, au *service.Automation, d *store.Delivery) error {
		o := &outcome{}
		unmatched, err := l.applyArgo(ctx, au, observe(n, "notification "+id[:12]), o, d)
		if err != nil || d.Status == store.DeliveryIgnored {
			return err
		}
		o.finish(d, unmatched)
		return nil
	})
	if err == nil && !res.Duplicate {
		l.log.Info("argocd notification", "delivery", id, "app", n.App, "trigger", n.Trigger, "revision", n.Revision,
			"status", res.Delivery.Status, "patches", strings.Join(res.Delivery.PatchKeys, " "))
	}
	return res, err
}

// applyArgo maps an observation onto patches. The application maps to an
// application and environment of patchctl (integrations.argocd.applications);
// the patches are the open application patches of that application,
// deploying to that environment, that ship the synced revision: their
// version is the revision, or a merge recorded on them is (a merged pull
// request of the deployment repository that refers to the patch). The
// deployment evidence carries the patch's version, so that the gates see
// the version that was validated being deployed.
func (l *Loop) applyArgo(ctx context.Context, au *service.Automation, obs observation, o *outcome, d *store.Delivery) (string, error) {
	cfg := au.Config()
	m, ok := argoApp(cfg, obs.App)
	if !ok {
		return "Argo CD application " + obs.App + " is not mapped to an application and environment (integrations.argocd.applications)", nil
	}
	degraded := obs.Health == argocd.HealthDegraded || obs.Trigger == string(argocd.TriggerHealthDegraded)
	var result string
	switch {
	case degraded:
	case obs.Trigger == string(argocd.TriggerSyncSucceeded):
		// Right after a sync, resources still rolling out may report the
		// old Healthy status: the deployment counts at on-deployed, whose
		// condition waits for health after the sync.
		if d != nil {
			d.Status = store.DeliveryIgnored
			d.Summary = fmt.Sprintf("%s: sync of %s succeeded; the deployment counts when on-deployed reports it healthy", obs.App, short(obs.Revision))
		}
		return "", nil
	case obs.Phase == argocd.PhaseSucceeded && obs.Health == argocd.HealthHealthy:
		result = patchctl.ResultPassed
	case obs.Phase == argocd.PhaseFailed || obs.Phase == argocd.PhaseError:
		result = patchctl.ResultFailed
	default:
		if d != nil {
			d.Status = store.DeliveryIgnored
			d.Summary = fmt.Sprintf("%s: %s at %s is %s/%s; a deployment counts once the sync succeeded and the application is Healthy",
				obs.App, obs.Trigger, short(obs.Revision), orDash(obs.Phase), orDash(obs.Health))
		}
		return "", nil
	}
	if obs.Revision == "" {
		return obs.App + ": the notification names no revision", nil
	}
	candidates, err := au.PatchesByVersion(ctx, obs.Revision)
	if err != nil {
		return "", err
	}
	var patches []*patchctl.Patch
	for _, p := range candidates {
		switch {
		case p.Kind != patchctl.KindApplication || p.Target.Application != m.Application:
			continue
		case !targets(p, m.Environment):
			o.skip("%s does not deploy to %s", p.Key, m.Environment)
		default:
			patches = append(patches, p)
		}
	}
	for _, p := range patches {
		var err error
		if degraded {
			err = l.degraded(ctx, au, p, m.Environment, obs, o)
		} else {
			err = l.deployed(ctx, au, p, m.Environment, result, obs, o)
		}
		if err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("no open %s patch deploying to %s ships revision %s", m.Application, m.Environment, short(obs.Revision)), nil
}

func (obs observation) ref() string {
	if obs.HasHist {
		return "argocd:" + obs.App + "#" + strconv.FormatInt(obs.HistoryID, 10)
	}
	return "argocd:" + obs.App + "@" + obs.Revision
}

func (obs observation) details() map[string]string {
	d := map[string]string{"app": obs.App, "revision": obs.Revision, "trigger": obs.Trigger, "phase": obs.Phase,
		"health": obs.Health, "sync": obs.Sync, "via": obs.Via}
	if obs.HasHist {
		d["history_id"] = strconv.FormatInt(obs.HistoryID, 10)
	}
	if obs.ArgoURL != "" {
		d["url"] = strings.TrimSuffix(obs.ArgoURL, "/") + "/applications/" + obs.App
	}
	if obs.Message != "" {
		d["message"] = textutil.Clip(obs.Message, 500)
	}
	return d
}

// deployed records a deployment of p to env and moves it to staging or
// production when it succeeded.
func (l *Loop) deployed(ctx context.Context, au *service.Automation, p *patchctl.Patch, env, result string, obs observation, o *outcome) error {
	version := p.Version
	if version == "" {
		version = obs.Revision
	}
	e := patchctl.Evidence{Kind: patchctl.EvidenceDeployment, Ref: obs.ref(), Environment: env, Version: version, Result: result,
		Subject: obs.App, Source: SourceArgoCD, At: obs.At, Details: obs.details()}
	if _, added, err := au.Record(ctx, p, e); err != nil {
		return err
	} else if added {
		o.did(p.Key, "deployment of %s to %s %s (%s at %s)", short(version), env, result, obs.App, short(obs.Revision))
	}
	if result != patchctl.ResultPassed || p.Version == "" {
		return nil
	}
	adv, err := au.Advance(ctx, p, ceilingFor(au.Config(), env), "argocd: "+obs.App+" synced and healthy at "+short(obs.Revision)+" ("+obs.Via+")")
	if err != nil {
		return err
	}
	o.advanced(p, adv)
	return nil
}

// degraded records a failed health check of p in env. In production it
// alerts on-call with the rollback proposal (deployment.degraded); before
// production the failed health check halts the rollout, as any failed
// health check does.
func (l *Loop) degraded(ctx context.Context, au *service.Automation, p *patchctl.Patch, env string, obs observation, o *outcome) error {
	e := patchctl.Evidence{Kind: patchctl.EvidenceHealthCheck, Ref: obs.ref(), Environment: env, Version: p.Version,
		Result: patchctl.ResultFailed, Subject: obs.App, Source: SourceArgoCD, At: obs.At, Details: obs.details()}
	added := false
	if _, ok, err := au.Record(ctx, p, e); err != nil {
		return err
	} else if ok {
		added = true
		o.did(p.Key, "%s is %s in %s at %s", obs.App, obs.Health, env, short(obs.Revision))
	}
	if !added || ceilingFor(au.Config(), env) != patchctl.StateProduction {
		return nil
	}
	rp, err := au.RollbackPreview(ctx, p, env)
	if err != nil {
		return err
	}
	proposal := map[string]any{"action": "rollback", "environment": env, "from_version": rp.FromVersion, "to_version": rp.ToVersion,
		"known": rp.Known, "previous_patch": rp.Patch}
	summary := fmt.Sprintf("%s degraded in %s after %s deployed %s", obs.App, env, p.Key, short(p.Version))
	if rp.Known {
		summary += fmt.Sprintf(": proposed rollback to the previous stable version %s (patchctl patch rollback %s --env %s)", rp.ToVersion, p.Key, env)
	} else {
		summary += ": no previous stable version is known; record one before rolling back"
	}
	if _, err := au.Enqueue(ctx, service.TopicDegraded, p.Key, map[string]any{
		"patch": p.Key, "title": p.Title, "application": p.Target.Application, "environment": env, "app": obs.App,
		"revision": obs.Revision, "health": obs.Health, "message": obs.Message, "recipient": "oncall",
		"proposal": proposal, "summary": summary,
	}); err != nil {
		return err
	}
	o.did(p.Key, "on-call alerted (%s)", service.TopicDegraded)
	return nil
}
