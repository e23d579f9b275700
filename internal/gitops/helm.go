package gitops

import (
	"context"
	"strconv"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/integration/helm"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
)

// HelmImport says what ImportHelmHistory recorded.
type HelmImport struct {
	Application string `json:"application"`
	Environment string `json:"environment"`
	Release     string `json:"release,omitempty"`
	// Recorded are the stable versions recorded now; Known counts those
	// recorded by an earlier import.
	Recorded []store.StableVersion `json:"recorded"`
	Known    int                   `json:"known"`
	// Current is the deployed revision and PreviousStable the one a
	// rollback from it returns to (Helm's view).
	Current        *helm.Revision `json:"current,omitempty"`
	PreviousStable *helm.Revision `json:"previous_stable,omitempty"`
}

// HelmVersion is the version patchctl records for a Helm revision: the
// chart's appVersion, else the chart version.
func HelmVersion(r helm.Revision) string {
	if r.AppVersion != "" {
		return r.AppVersion
	}
	return r.ChartVersion
}

// ImportHelmHistory records the stable revisions (deployed or superseded)
// of `helm history RELEASE -o json|yaml` output as stable versions of
// application in env, each at the time Helm deployed it, as a: a rollback
// then returns to the last of them before the patch deployed, and the patch
// shows it as its previous stable version. Failed and pending revisions
// are skipped; importing the same history again records nothing new.
func (l *Loop) ImportHelmHistory(ctx context.Context, a patchctl.Actor, application, env, release string, data []byte) (*HelmImport, error) {
	if application == "" {
		return nil, patchctl.FieldError("application", "is required (the application the release deploys)")
	}
	if release == "" {
		if m, ok := argoAppFor(l.cfg(), application, env); ok {
			release = m.HelmRelease
		}
	}
	hist, err := helm.ParseHistory(data)
	if err != nil {
		return nil, err
	}
	res := &HelmImport{Application: application, Environment: env, Release: release, Recorded: []store.StableVersion{}}
	if cur, err := helm.Current(hist); err == nil {
		res.Current = &cur
		if prev, err := helm.PreviousStable(hist, cur.Revision); err == nil {
			res.PreviousStable = &prev
		}
	}
	source := "helm"
	if release != "" {
		source += ":" + release
	}
	err = l.svc.Automate(ctx, a, func(au *service.Automation) error {
		known, err := au.StableVersions(ctx, application)
		if err != nil {
			return err
		}
		for _, r := range hist {
			if !r.Status.Stable() || HelmVersion(r) == "" {
				continue
			}
			sv := store.StableVersion{Subject: application, Environment: env, Version: HelmVersion(r), RecordedAt: r.Updated,
				Source: source + " revision " + strconv.Itoa(r.Revision) + " (" + r.Chart + ")"}
			got, added, err := au.RecordStable(ctx, sv, known)
			if err != nil {
				return err
			}
			if added {
				res.Recorded = append(res.Recorded, *got)
				known = append(known, *got)
			} else {
				res.Known++
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}
