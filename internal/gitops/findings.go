package gitops

import (
	"context"
	"fmt"
	"strings"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/integration/github"
	"github.com/patchctl/patchctl/internal/service"
	"github.com/patchctl/patchctl/internal/store"
)

// FindingSink takes the vulnerability data of GitHub alerts (dependabot_alert
// and repository_vulnerability_alert deliveries) to finding intake.
//
// RecordAlert runs inside the transaction that records the delivery, as the
// delivery's actor (system:github): the findings it creates, updates, closes
// or reopens commit together with the delivery record, or not at all.
// Returning an error fails the delivery (nothing is kept, and a redelivery
// is processed again). The Loop records the delivery as processed with the
// result's summary and patches, or as ignored when the result says so.
//
// While no sink is configured, alert deliveries are recorded as unmatched
// with the summary "no finding intake configured".
type FindingSink interface {
	RecordAlert(ctx context.Context, tx *store.Tx, actor patchctl.Actor, alert Alert) (*AlertResult, error)
}

// Alert is one GitHub vulnerability alert, normalised.
type Alert struct {
	// Delivery is the X-GitHub-Delivery id, Event the event name
	// (dependabot_alert or repository_vulnerability_alert).
	Delivery string
	Event    string
	// Repository is the repository (owner/name) the alert is about: the
	// asset of the finding.
	Repository string
	// Vulnerability is the alert as the github integration normalises it:
	// action (created, dismissed, fixed, reopened, ...), state, GHSA and
	// CVE ids, package, ecosystem, vulnerable range, first patched
	// version, manifest, severity, CVSS and dismissal.
	Vulnerability github.VulnerabilityAlert
}

// AlertResult is what intake did with an alert.
type AlertResult struct {
	// Summary says what changed, for the delivery record.
	Summary string
	// Patches are the patches whose findings changed.
	Patches []string
	// Ignored is set when the alert changed nothing (already known).
	Ignored bool
}

// onAlert hands a vulnerability alert to finding intake.
func (l *Loop) onAlert(ctx context.Context, au *service.Automation, ev *github.Event, d *store.Delivery) error {
	a := ev.Alert
	if l.opts.Findings == nil {
		d.Status = store.DeliveryUnmatched
		d.Summary = "no finding intake configured"
		if a != nil {
			d.Summary += fmt.Sprintf(": %s alert for %s %s (%s) not recorded as a finding", a.Action, firstOf(a.GHSAID, a.CVEID), a.Package, a.Severity)
		}
		return nil
	}
	alert := Alert{Delivery: ev.Delivery, Event: ev.Name, Repository: ev.Repo, Vulnerability: *a}
	res, err := l.opts.Findings.RecordAlert(ctx, au.Tx(), au.Actor(), alert)
	if err != nil {
		return err
	}
	d.Status, d.Summary, d.PatchKeys = store.DeliveryProcessed, res.Summary, res.Patches
	if res.Ignored {
		d.Status = store.DeliveryIgnored
	}
	if d.Summary == "" {
		d.Summary = "alert recorded: " + strings.TrimSpace(a.Action+" "+firstOf(a.GHSAID, a.CVEID)+" "+a.Package)
	}
	return nil
}
