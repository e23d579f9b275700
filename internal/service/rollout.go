package service

import (
	"context"
	"strings"
	"time"

	"github.com/patchctl/patchctl"
	"github.com/patchctl/patchctl/internal/lifecycle"
	"github.com/patchctl/patchctl/internal/store"
)

// WaveInput asks to start, complete or fail one wave of a kubernetes rollout.
type WaveInput struct {
	Op       string         `json:"op"` // start, complete, fail
	Reason   string         `json:"reason,omitempty"`
	Revision int64          `json:"revision,omitempty"`
	Override *OverrideInput `json:"override,omitempty"`
}

// WaveResult says what happened to a wave.
type WaveResult struct {
	Patch      *patchctl.Patch       `json:"patch"`
	Wave       patchctl.Wave         `json:"wave"`
	Gates      []patchctl.GateResult `json:"gates"`
	Overridden []string              `json:"overridden,omitempty"`
}

// Wave starts, completes or fails one wave. Starting checks that management
// comes before main, the control plane before its node pools, and that main
// node pools go one at a time; completing needs evidence that the upgrade
// landed; a failure halts the rollout.
func (s *Service) Wave(ctx context.Context, a patchctl.Actor, key string, seq int, in WaveInput) (*WaveResult, error) {
	if err := authorize(a, patchctl.PermWrite, "driving a rollout"); err != nil {
		return nil, err
	}
	justification, err := overrideJustification(a, in.Override)
	if err != nil {
		return nil, err
	}
	id, err := resolve(key)
	if err != nil {
		return nil, err
	}
	var res *WaveResult
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		p, err := tx.Patch(ctx, id)
		if err != nil {
			return err
		}
		if p.Kind != patchctl.KindKubernetes {
			return patchctl.Errorf(patchctl.CodeConflict, "%s is an %s patch; only kubernetes patches have waves", p.Key, p.Kind)
		}
		if in.Revision != 0 && in.Revision != p.Revision {
			return staleRevision(p, in.Revision)
		}
		f, err := s.facts(ctx, tx, p)
		if err != nil {
			return err
		}
		w, results, err := lifecycle.EvaluateWave(f, seq, in.Op)
		if err != nil {
			return err
		}
		res = &WaveResult{Gates: results}
		if refusing := patchctl.Refusing(results); len(refusing) > 0 {
			if in.Override == nil {
				return lifecycle.WaveRefusal(p, seq, in.Op, refusing)
			}
			for _, r := range refusing {
				res.Overridden = append(res.Overridden, r.Gate)
			}
		}
		now := s.Now()
		rev := p.Revision
		switch in.Op {
		case lifecycle.WaveStart:
			w.State, w.StartedAt, w.StartedBy, w.CompletedAt = patchctl.WaveInProgress, &now, a.Name, nil
		case lifecycle.WaveComplete:
			w.State, w.CompletedAt = patchctl.WaveCompleted, &now
		case lifecycle.WaveFail:
			w.State = patchctl.WaveFailed
			reason := strings.TrimSpace(in.Reason)
			if reason == "" {
				reason = "failed"
			}
			p.Halt = &patchctl.Halt{Reason: "wave " + itoa(seq) + " " + w.Subject() + ": " + reason, By: a.Name, At: now, Wave: seq}
		}
		if err := tx.UpdateWave(ctx, p.ID, w); err != nil {
			return err
		}
		p.UpdatedAt = now
		if err := tx.UpdatePatch(ctx, p, rev); err != nil {
			return err
		}
		data := map[string]any{"wave": seq, "op": in.Op, "subject": w.Subject(), "version": w.Version, "state": w.State}
		if in.Reason != "" {
			data["reason"] = in.Reason
		}
		if len(res.Overridden) > 0 {
			o := &patchctl.Override{From: p.State, To: p.State, Action: "wave." + in.Op, Gates: res.Overridden,
				Justification: justification, Actor: a.Name, Role: a.Role, At: now}
			if err := tx.AddOverride(ctx, p.ID, o); err != nil {
				return err
			}
			data["override"] = map[string]any{"gates": res.Overridden, "justification": justification}
		}
		if err := s.audit(ctx, tx, a, "patch.wave", p.Key, now, data); err != nil {
			return err
		}
		if in.Op == lifecycle.WaveFail {
			if err := s.halted(ctx, tx, a, p, now); err != nil {
				return err
			}
		}
		res.Patch, res.Wave = p, w
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// halted records a halt in the audit log and pages on-call.
func (s *Service) halted(ctx context.Context, tx *store.Tx, a patchctl.Actor, p *patchctl.Patch, now time.Time) error {
	if err := s.audit(ctx, tx, a, "patch.halt", p.Key, now, p.Halt); err != nil {
		return err
	}
	payload := map[string]any{"patch": p.Key, "title": p.Title, "state": p.State, "reason": p.Halt.Reason, "wave": p.Halt.Wave,
		"summary": "Rollout of " + p.Key + " halted: " + p.Halt.Reason}
	if _, err := tx.Enqueue(ctx, TopicHalted, p.Key, payload, now); err != nil {
		return err
	}
	_, err := tx.Enqueue(ctx, TopicPageOncall, p.Key, payload, now)
	return err
}

// Halt decisions.
const (
	DecisionResume = "resume"
	DecisionRetry  = "retry"
	DecisionAbort  = "abort"
)

// DecisionInput is a person's decision on a halted rollout.
type DecisionInput struct {
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
	Revision int64  `json:"revision,omitempty"`
}

// Decide resolves a halted rollout: resume (continue as is; the gates still
// apply), retry (the failed wave returns to pending, or a failed soak starts
// over), or abort (the rollout stops for good). Only a person may decide.
func (s *Service) Decide(ctx context.Context, a patchctl.Actor, key string, in DecisionInput) (*patchctl.Patch, error) {
	if err := authorize(a, patchctl.PermWrite, "deciding on a halted rollout"); err != nil {
		return nil, err
	}
	if err := person(a, "resuming, retrying or aborting a rollout"); err != nil {
		return nil, err
	}
	if strings.TrimSpace(in.Reason) == "" {
		return nil, patchctl.FieldError("reason", "is required")
	}
	id, err := resolve(key)
	if err != nil {
		return nil, err
	}
	var p *patchctl.Patch
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if p, err = tx.Patch(ctx, id); err != nil {
			return err
		}
		if in.Revision != 0 && in.Revision != p.Revision {
			return staleRevision(p, in.Revision)
		}
		now := s.Now()
		if in.Decision == DecisionAbort {
			edge, err := lifecycle.Find(p, patchctl.StateAborted)
			if err != nil {
				edge, err = lifecycle.Find(p, patchctl.StateCancelled)
				if err != nil {
					return err
				}
			}
			f, err := s.facts(ctx, tx, p)
			if err != nil {
				return err
			}
			return s.apply(ctx, tx, a, p, f, edge, "abort: "+in.Reason, nil, "")
		}
		if p.Halt == nil {
			return patchctl.Errorf(patchctl.CodeConflict, "%s is not halted", p.Key)
		}
		rev := p.Revision
		halt := p.Halt
		switch in.Decision {
		case DecisionResume:
		case DecisionRetry:
			if halt.Wave > 0 {
				waves, err := tx.Waves(ctx, p.ID)
				if err != nil {
					return err
				}
				for _, w := range waves {
					if w.Seq == halt.Wave && w.State == patchctl.WaveFailed {
						w.State, w.StartedAt, w.CompletedAt, w.StartedBy = patchctl.WavePending, nil, nil, ""
						if err := tx.UpdateWave(ctx, p.ID, w); err != nil {
							return err
						}
					}
				}
			}
			if p.State == patchctl.StateSoaking {
				p.SoakStartedAt = &now
			}
		default:
			return patchctl.FieldError("decision", "%q is not a decision (want resume, retry or abort)", in.Decision)
		}
		p.Halt = nil
		p.UpdatedAt = now
		if err := tx.UpdatePatch(ctx, p, rev); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, "patch."+in.Decision, p.Key, now, map[string]any{"decision": in.Decision, "reason": in.Reason, "halt": halt})
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// BookingInput books a maintenance window for a patch.
type BookingInput struct {
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Revision int64     `json:"revision,omitempty"`
}

// BookWindow books (or rebooks) the maintenance window of an infrastructure
// patch with downtime. Rebooking after the announcement or the backup sends
// the patch back to scheduled: both must be redone for the new window.
func (s *Service) BookWindow(ctx context.Context, a patchctl.Actor, key string, in BookingInput) (*patchctl.Patch, error) {
	if err := authorize(a, patchctl.PermWrite, "booking a maintenance window"); err != nil {
		return nil, err
	}
	id, err := resolve(key)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	if in.Start.IsZero() || in.End.IsZero() {
		return nil, patchctl.FieldError("start", "start and end are required")
	}
	if !in.End.After(in.Start) {
		return nil, patchctl.FieldError("end", "must be after start")
	}
	if !in.End.After(now) {
		return nil, patchctl.FieldError("end", "the window is already over")
	}
	if in.End.Sub(in.Start) > 7*24*time.Hour {
		return nil, patchctl.FieldError("end", "a maintenance window longer than 7 days is not a window")
	}
	var p *patchctl.Patch
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if p, err = tx.Patch(ctx, id); err != nil {
			return err
		}
		if p.Kind != patchctl.KindInfrastructure || !p.Target.Downtime {
			return patchctl.Errorf(patchctl.CodeConflict, "%s does not need downtime; only infrastructure patches with downtime book windows", p.Key)
		}
		if in.Revision != 0 && in.Revision != p.Revision {
			return staleRevision(p, in.Revision)
		}
		switch p.State {
		case patchctl.StateUpgrading, patchctl.StateVerified, patchctl.StateResumed:
			return patchctl.Errorf(patchctl.CodeConflict, "%s is %s: the window is in use", p.Key, p.State)
		}
		if p.State.Terminal() {
			return patchctl.Errorf(patchctl.CodeConflict, "%s is %s", p.Key, p.State)
		}
		old := p.Window
		p.Window = &patchctl.Booking{Start: store.Micro(in.Start), End: store.Micro(in.End), BookedBy: a.Name, BookedAt: now}
		p.UpdatedAt = now
		data := map[string]any{"start": p.Window.Start, "end": p.Window.End}
		if old != nil {
			data["previous"] = map[string]any{"start": old.Start, "end": old.End}
		}
		if occ, ok := s.Policy().InWindow(p.Kind, p.Target, p.Window.Start); ok && !p.Window.End.After(occ.End) {
			data["policy_window"] = occ.Window
		}
		if err := tx.UpdatePatch(ctx, p, p.Revision); err != nil {
			return err
		}
		ev := &patchctl.Evidence{Kind: patchctl.EvidenceWindowBooking, Ref: p.Window.Start.Format(time.RFC3339) + "/" + p.Window.End.Format(time.RFC3339),
			Source: "manual", Details: map[string]string{"start": p.Window.Start.Format(time.RFC3339), "end": p.Window.End.Format(time.RFC3339)}}
		if err := s.addEvidence(ctx, tx, a, p, ev); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, a, "patch.window", p.Key, now, data); err != nil {
			return err
		}
		if p.State == patchctl.StateAnnounced || p.State == patchctl.StateBackedUp {
			edge, err := lifecycle.Find(p, patchctl.StateScheduled)
			if err != nil {
				return err
			}
			f, err := s.facts(ctx, tx, p)
			if err != nil {
				return err
			}
			return s.apply(ctx, tx, a, p, f, edge, "window rebooked: announce and back up again", nil, "")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Announce records that a patch's booked window was announced to the team
// and puts the announcement in the outbox for delivery.
func (s *Service) Announce(ctx context.Context, a patchctl.Actor, key, channel, message string) (*patchctl.Evidence, error) {
	if err := authorize(a, patchctl.PermWrite, "announcing a window"); err != nil {
		return nil, err
	}
	id, err := resolve(key)
	if err != nil {
		return nil, err
	}
	if channel == "" {
		channel = "team"
	}
	var ev *patchctl.Evidence
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		p, err := tx.Patch(ctx, id)
		if err != nil {
			return err
		}
		if p.Window == nil {
			return patchctl.Errorf(patchctl.CodeConflict, "%s has no booked window to announce", p.Key)
		}
		now := s.Now()
		if message == "" {
			message = "Maintenance for " + p.Key + " (" + p.Title + ") on " + p.Target.System + " from " +
				p.Window.Start.Format(time.RFC1123) + " to " + p.Window.End.Format(time.RFC1123) + "; expect downtime."
		}
		msgID, err := tx.Enqueue(ctx, TopicAnnouncement, p.Key, map[string]any{
			"patch": p.Key, "title": p.Title, "system": p.Target.System, "start": p.Window.Start, "end": p.Window.End,
			"channel": channel, "message": message,
		}, now)
		if err != nil {
			return err
		}
		ev = &patchctl.Evidence{Kind: patchctl.EvidenceAnnouncement, Ref: "outbox:" + itoa(int(msgID)), Subject: channel,
			Source: "patchctl", Details: map[string]string{"channel": channel, "message": message}}
		return s.addEvidence(ctx, tx, a, p, ev)
	})
	return ev, err
}
